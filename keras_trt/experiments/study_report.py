"""What a study writes from its runs' rows: statistics, the table, the CSVs and the figures.

```text
<output_dir>/table.txt              mean ± sample std per label; accuracy by t; paired
                                    differences TRT - TET and TRT - SDT (95% t-intervals);
                                    one block per sweep
             study.json             everything below, plus the settings and notes
             runs.csv               one row per run (label, method, seed, metrics)
             summary.csv            label, metric, mean, std, min, max, n
             sweep_<param>.csv      one row per value of a swept TRT hyperparameter
             learning_curves.png    test/train accuracy per epoch, mean ± std over seeds
             timestep_accuracy.png  accuracy from the first t timesteps' logits
```

A sweep (study.json `sweeps[param]`, one row of sweep_<param>.csv per cell) is
`keras_trt.analysis.sensitivity`'s result for that parameter plus its `base` value: one
cell per value (the plain `trt` runs are the base value's), each with `value`,
`labels`, `seeds`, `{metric: mean_interval}` for SWEEP_METRICS (mean, std, the 95%
Student t-interval `low`/`high` of the mean; NaN with one seed) and `vs_reference`, the
paired differences against TET on the seeds they share (when TET ran).

```python
from keras_trt.experiments import study_report

rows = [{"label": label, "seed": s, "final_test_accuracy": acc, "gap": 0.1,
         "test_accuracy_at_best_epoch": acc, "hyperparameters": {"lam": 5e-5}}
        for label, accs in (("trt", (0.8, 0.9)), ("trt[lam=0.001]", (0.7, 0.8)))
        for s, acc in enumerate(accs)]
sweeps = study_report.sweep_summaries(rows, ["trt", "trt[lam=0.001]"], {"lam": 5e-5},
                                      {"lam": [5e-5, 1e-3]})
print([round(c["final_test_accuracy"]["mean"], 2) for c in sweeps["lam"]["cells"]])   # [0.85, 0.75]
```
"""

import csv
import math
import os

from keras_trt.atomic_io import write_json_atomic

__all__ = ["METRICS", "DIFFERENCE_METRICS", "SWEEP_METRICS", "summarise", "sweep_summaries",
           "format_table", "write"]

METRICS = (  # key, label, how it is printed
    ("final_test_accuracy", "test acc (final)", "pct"),
    ("test_accuracy_at_best_epoch", "test acc (best val epoch)", "pct"),
    ("train_accuracy", "train acc", "pct"),
    ("gap", "train-test gap", "pct"),
    ("firing_rate", "mean firing rate", "rate"),
    ("ic", "Fisher IC", "ic"),
)
DIFFERENCE_METRICS = ("final_test_accuracy", "test_accuracy_at_best_epoch", "gap",
                      "accuracy_t1")
SWEEP_METRICS = ("final_test_accuracy", "test_accuracy_at_best_epoch", "gap")


def _by_label(rows, labels):
    return {label: sorted((r for r in rows if r["label"] == label), key=lambda r: r["seed"])
            for label in labels}


def _paired(a_runs, b_runs, keys):
    from keras_trt.analysis import paired_difference

    a = {r["seed"]: r for r in a_runs}
    b = {r["seed"]: r for r in b_runs}
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    return {"seeds": seeds, **{key: paired_difference([a[s][key] for s in seeds],
                                                      [b[s][key] for s in seeds])
                               for key in keys}}


def summarise(rows, labels):
    """Per label: mean/std of every metric and of accuracy by t; paired differences of
    every TRT label against TET and SDT."""
    from keras_trt.analysis import mean_std

    by = _by_label(rows, labels)
    summary = {}
    for label, runs in by.items():
        if not runs:
            continue
        s = {key: mean_std([r[key] for r in runs]) for key, _, _ in METRICS}
        per_t = list(zip(*[r["accuracy_by_timesteps"] for r in runs]))
        s["accuracy_by_timesteps"] = [mean_std(v) for v in per_t]
        s["seeds"] = [r["seed"] for r in runs]
        summary[label] = s
    differences = []
    for trt_label in [lb for lb in labels if lb.startswith("trt")]:
        for other in ("tet", "sdt"):
            if not by.get(other) or not by[trt_label]:
                continue
            paired = _paired(by[trt_label], by[other], DIFFERENCE_METRICS)
            if paired:
                differences.append({"a": trt_label, "b": other, **paired})
    return summary, differences


def sweep_summaries(rows, labels, base, sweeps):
    """`{param: {"base": value, **keras_trt.analysis.sensitivity(...)}}`: per swept value,
    the mean and interval of SWEEP_METRICS over seeds and the paired difference against
    TET (module docstring)."""
    from keras_trt.analysis import sensitivity

    reference = "tet" if "tet" in labels else None
    return {name: {"base": base[name],
                   **sensitivity(rows, name, base_value=base[name], reference=reference,
                                 metrics=SWEEP_METRICS)}
            for name in sweeps}


def _fmt(stat, kind):
    if kind == "pct":
        return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"
    if kind == "rate":
        return f"{stat['mean']:.4f} ± {stat['std']:.4f}"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def _ci(p):
    return ("n/a (one seed)" if math.isnan(p["half_width"])
            else f"[{100 * p['low']:+.2f}, {100 * p['high']:+.2f}]")


def format_table(summary, differences, n_seeds, sweeps=None):
    """The study's text table (table.txt)."""
    labels = list(summary)
    width = max([8] + [len(lb) + 2 for lb in labels])
    lines = [f"Mean ± sample std over {n_seeds} seed(s); accuracies in %.", ""]
    head = f"{'':<28}" + "".join(f"{lb.upper():>{max(width, 18)}}" for lb in labels)
    lines += [head, "-" * len(head)]
    for key, name, kind in METRICS:
        lines.append(f"{name:<28}" + "".join(
            f"{_fmt(summary[lb][key], kind):>{max(width, 18)}}" for lb in labels))
    T = len(next(iter(summary.values()))["accuracy_by_timesteps"]) if summary else 0
    lines += ["", "Test accuracy (%) from the running mean of the first t timesteps' logits:",
              f"{'t':<6}" + "".join(f"{lb.upper():>{max(width, 16)}}" for lb in labels)]
    for t in range(T):
        lines.append(f"{t + 1:<6}" + "".join(
            f"{_fmt(summary[lb]['accuracy_by_timesteps'][t], 'pct'):>{max(width, 16)}}"
            for lb in labels))
    if differences:
        lines += ["", "Paired differences over the same seeds (percentage points), mean "
                      "and 95% Student t-interval on the per-seed differences:"]
        for d in differences:
            lines.append(f"  {d['a'].upper()} - {d['b'].upper()} (seeds {d['seeds']}):")
            for key in DIFFERENCE_METRICS:
                p = d[key]
                per_seed = ", ".join(f"{100 * v:+.2f}" for v in p["differences"])
                lines.append(f"    {key:<28} {100 * p['mean']:+.2f}  95% CI {_ci(p)}  "
                             f"(per seed: {per_seed})")
    for name, sweep in (sweeps or {}).items():
        lines += ["", f"Sweep of TRT's {name} (base {sweep['base']:g}), mean and 95% "
                      "t-interval over seeds, percentage points:"]
        for cell in sweep["cells"]:
            acc, gap = cell["final_test_accuracy"], cell["gap"]
            text = (f"  {name}={cell['value']:<10g} test acc {100 * acc['mean']:.2f} "
                    f"{_ci(acc)}  gap {100 * gap['mean']:.2f} {_ci(gap)}")
            tet = cell["vs_reference"].get("final_test_accuracy")
            if tet:
                text += f"  vs TET {100 * tet['mean']:+.2f} {_ci(tet)}"
            lines.append(text)
    return "\n".join(lines)


def write_csvs(out, rows, summary, sweeps=None):
    """runs.csv, summary.csv and one sweep_<param>.csv per sweep."""
    scalar = [k for k, _, _ in METRICS] + ["accuracy_t1", "best_epoch", "best_test_accuracy",
                                           "training_time_s"]
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        T = len(rows[0]["accuracy_by_timesteps"]) if rows else 0
        w.writerow(["label", "method", "seed", *scalar,
                    *[f"accuracy_first_{t + 1}" for t in range(T)]])
        for r in rows:
            w.writerow([r["label"], r["method"], r["seed"], *[r[k] for k in scalar],
                        *r["accuracy_by_timesteps"]])
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["label", "metric", "mean", "std", "min", "max", "n"])
        for label, s in summary.items():
            for key, _, _ in METRICS:
                st = s[key]
                w.writerow([label, key, st["mean"], st["std"], st["min"], st["max"], st["n"]])
            for t, st in enumerate(s["accuracy_by_timesteps"]):
                w.writerow([label, f"accuracy_first_{t + 1}", st["mean"], st["std"],
                            st["min"], st["max"], st["n"]])
    for name, sweep in (sweeps or {}).items():
        head = ["parameter", "value", "labels", "n"]
        for m in SWEEP_METRICS:
            head += [f"{m}_mean", f"{m}_std", f"{m}_low", f"{m}_high"]
        for m in SWEEP_METRICS:
            head += [f"{m}_minus_tet_mean", f"{m}_minus_tet_low", f"{m}_minus_tet_high"]
        with open(os.path.join(out, f"sweep_{name}.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(head)
            for cell in sweep["cells"]:
                row = [name, cell["value"], " ".join(cell["labels"]), len(cell["seeds"])]
                for m in SWEEP_METRICS:
                    st = cell[m]
                    row += [st["mean"], st["std"], st["low"], st["high"]]
                for m in SWEEP_METRICS:
                    d = cell["vs_reference"].get(m)
                    row += [d["mean"], d["low"], d["high"]] if d else ["", "", ""]
                w.writerow(row)


def plot(out, rows, summary, labels):
    """learning_curves.png (mean line, band = ± std over seeds) and timestep_accuracy.png."""
    import numpy as np

    from keras_trt.analysis.plots import new_figure, save_figure
    from keras_trt.experiments.run_folder import read_log

    colors = [f"C{i % 10}" for i in range(len(labels))]
    fig = new_figure((11, 4))
    axes = fig.subplots(1, 2, sharey=True)
    for label, color in zip(labels, colors):
        logs = [read_log(os.path.join(out, r["folder"])) for r in rows if r["label"] == label]
        if not logs:
            continue
        for ax, column, name in ((axes[0], "test_accuracy", "test"),
                                 (axes[1], "accuracy", "train (running, training mode)")):
            n = min(len(lg[column]) for lg in logs)
            values = 100 * np.array([lg[column][:n] for lg in logs])
            mean = values.mean(0)
            std = values.std(0, ddof=1) if len(logs) > 1 else 0 * values[0]
            epochs = np.arange(1, n + 1)
            ax.plot(epochs, mean, color=color, label=label.upper())
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
            ax.set_title(f"{name} accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("accuracy (%), mean ± std over seeds")
    fig.tight_layout()
    save_figure(fig, os.path.join(out, "learning_curves.png"))

    fig = new_figure((6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for label, color in zip(labels, colors):
        if label not in summary:
            continue
        stats = summary[label]["accuracy_by_timesteps"]
        t = np.arange(1, len(stats) + 1)
        ax.errorbar(t, [100 * s["mean"] for s in stats], yerr=[100 * s["std"] for s in stats],
                    color=color, marker="o", ms=3, capsize=3, label=label.upper())
    ax.set(xlabel="t (first t timesteps' logits averaged)", ylabel="test accuracy (%)",
           title="accuracy from the first t timesteps (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, os.path.join(out, "timestep_accuracy.png"))


def write(out, rows, labels, seeds, base, sweeps, settings, wall_time_s, fisher_batches,
          record):
    """Writes every output of a study; returns study.json's content plus "table"."""
    from keras_trt.experiments import execution
    from keras_trt.experiments.training import BEST_ACCURACY_NOTE as selection_note

    summary, differences = summarise(rows, labels)
    sweep_summary = sweep_summaries(rows, labels, base, sweeps)
    table = format_table(summary, differences, len(seeds), sweep_summary)
    study = {
        **{k: record.get(k) for k in ("recipe", "dataset", "model")},
        "seeds": seeds, "labels": labels, "settings": settings,
        "backend": execution.backend_name(), "wall_time_s": wall_time_s,
        "notes": {
            "spread": "mean ± sample standard deviation (ddof=1) over seeds",
            "intervals": "paired differences over the same seeds; 95% Student "
                         "t-interval on the per-seed differences",
            "model_analysed": "final weights (last epoch)",
            "firing_rate": "unweighted mean over the LIF layers of their firing rates on "
                           "the test split",
            "ic": "information centroid of keras_trt.analysis.fisher_information on "
                  f"{fisher_batches} training-split batches (no shuffle, no "
                  "augmentation), default divisor",
            "accuracy_by_timesteps": "test accuracy of the running mean of the first t "
                                     "timesteps' logits, t = 1..T",
            "learning_curves_band": "mean ± sample std over seeds",
            "selection": selection_note,
            "sweeps": "one TRT hyperparameter varied at a time around the base values "
                      "(keras_trt.analysis.sensitivity); low/high: 95% Student t-interval "
                      "of the mean over seeds; vs_reference: paired differences against "
                      "TET",
        },
        "summary": summary, "differences": differences, "sweeps": sweep_summary,
        "runs": rows,
        **{k: v for k, v in record.items() if k not in ("recipe", "dataset", "model")},
    }
    write_json_atomic(os.path.join(out, "study.json"), study)
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(table + "\n")
    write_csvs(out, rows, summary, sweep_summary)
    plot(out, rows, summary, labels)
    return {**study, "table": table}
