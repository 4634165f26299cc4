#!/usr/bin/env python
"""Study: SDT, TET and TRT over several seeds, with means, spreads and paired confidence intervals.

    KERAS_BACKEND=torch python recipes/study.py --seeds 5 --output-dir runs/study

The quick start's data and model (`recipes/quickstart.py`: embedded digits_dvs, a small
VGG-style SNN; by default 20 epochs on a 300-sample training subset, a setting that
overfits), trained by the recipes' loop (`_common.train`) once per seed and method
(and, with `--grid lam=1e-5,5e-5`, per value of one TRT hyperparameter). The best epoch
is chosen on a validation split held out of the training data (`--select-on`). Every
run is analysed after training (final weights): train accuracy (inference mode, the
training split), test accuracy (final, and at the best validation epoch), the train-test
gap, the mean firing rate (`keras_trt.analysis.firing_rates`, test split, unweighted
mean over the LIF layers), the Fisher information centroid IC
(`keras_trt.analysis.fisher_information`, `--fisher-batches` batches of the training
split without shuffling or augmentation) and the test accuracy when only the first t
timesteps' logits are averaged (`keras_trt.analysis.timestep_accuracy`, t = 1..T).

Writes into `--output-dir`: `table.txt` (mean +- sample std over seeds, and the paired
differences TRT - TET and TRT - SDT with their 95% Student t-intervals), `study.json`,
`runs.csv` (one row per run), `summary.csv`, `learning_curves.png` (test and train
accuracy per epoch: mean line, band = mean +- std over seeds) and
`timestep_accuracy.png`. Each run lives in `runs/<method>/seed<k>/`: a finished run
(its `study_run.json`) is skipped, an interrupted one resumed exactly (`--resume`), so the
same command continues an interrupted study.
"""

import argparse
import copy
import csv
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as common  # noqa: E402
import _run_folder  # noqa: E402
import quickstart  # noqa: E402

RECIPE = quickstart.RECIPE
GRID_PARAMETERS = ("eta", "lam", "decay", "epsilon")
# The embedded study setting (docs/results.md, "Study"): 300 training samples and 20
# epochs overfit (a train-test gap of about 15 points, against 8-10 with all 1,290
# training samples) within about 4 minutes per run on 2 CPU cores.
STUDY_DEFAULTS = {"epochs": 20, "train_samples": 300}
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


def _grid(text):
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or name not in GRID_PARAMETERS:
        raise argparse.ArgumentTypeError(
            f"expected PARAM=v1,v2,... with PARAM one of {', '.join(GRID_PARAMETERS)}, "
            f"got {text!r}")
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--grid values must be numbers, got {values!r}") \
            from None
    if not numbers or min(numbers) < 0:
        raise argparse.ArgumentTypeError(f"--grid needs non-negative values, got {values!r}")
    return name, numbers


def parse_args(argv=None):
    parser = common.build_parser(RECIPE, prog="study.py", several_methods=True)
    parser.description = __doc__.splitlines()[0]
    g = parser.add_argument_group("study")
    g.add_argument("--seeds", type=common._positive_int, default=5,
                   help="number of seeds (--seed, --seed + 1, ...)")
    g.add_argument("--grid", type=_grid, default=None, metavar="PARAM=V1,V2,...",
                   help="TRT variants: one run per value of this TRT hyperparameter "
                        f"({', '.join(GRID_PARAMETERS)}) in place of the single TRT")
    g.add_argument("--fisher-batches", type=common._positive_int, default=4,
                   help="training-split batches for the Fisher information centroid")
    parser.set_defaults(seed=0, **STUDY_DEFAULTS)
    args = parser.parse_args(argv)
    if args.tau < 1:
        parser.error(f"--tau must be >= 1 (leak factor 1/tau), got {args.tau}")
    if args.resume or args.overwrite:
        parser.error("study.py resumes by itself (finished runs are skipped, interrupted "
                     "ones resumed); --resume and --overwrite are not used")
    if args.output_dir is None:
        args.output_dir = os.path.join("runs", "study")
    common.resolve_validation(parser, args)
    return args


def plan(args):
    """[(label, method, overrides)] in table order; TRT variants with --grid."""
    out = []
    for method in args.methods:
        if method == "trt" and args.grid:
            name, values = args.grid
            out += [(f"trt[{name}={v:g}]", "trt", {name: v}) for v in values]
        else:
            out.append((method, method, {}))
    return out


def run_folder(args, label, seed):
    return os.path.join(args.output_dir, "runs", label.replace("[", "_").replace("]", "")
                        .replace("=", "-"), f"seed{seed}")


def analyse(rargs, model):
    """The per-run measurements on the final weights."""
    import numpy as np

    from keras_trt import analysis

    test = common.load_split(RECIPE, rargs, "test")
    train_plain = common.load_split(RECIPE, rargs, "train", shuffle=False, augment=False)
    if rargs.max_steps:
        test = test.take(rargs.max_steps)
    rates = analysis.firing_rates(model, test)
    fisher = analysis.fisher_information(model, train_plain, batches=rargs.fisher_batches)
    acc_t = analysis.timestep_accuracy(model, test)
    return {"firing_rate": float(np.mean(list(rates.values()))),
            "firing_rates": {k: float(v) for k, v in rates.items()},
            "ic": float(fisher["ic"]),
            "fisher": [float(v) for v in fisher["fisher"]],
            "accuracy_by_timesteps": [float(v) for v in acc_t["accuracy"]],
            "accuracy_t1": float(acc_t["accuracy"][0])}


def run_one(args, label, method, overrides, seed, callbacks=()):
    """Trains (or resumes) one run and analyses it; returns its row (also saved)."""
    out = run_folder(args, label, seed)
    done = os.path.join(out, "study_run.json")
    if os.path.isfile(done):
        with open(done) as f:
            return json.load(f), True
    rargs = copy.copy(args)
    rargs.method, rargs.seed, rargs.output_dir = method, seed, out
    for k, v in overrides.items():
        setattr(rargs, k, v)
    rargs.resume = os.path.isfile(os.path.join(out, _run_folder.BACKUP, "state.json"))
    rargs.overwrite = False
    res = common.train(RECIPE, rargs, callbacks=callbacks)
    model = res["model_object"]
    train_acc = quickstart.train_accuracy(rargs, model)
    row = {"label": label, "method": method, "seed": seed,
           "hyperparameters": common.method_hyperparameters(rargs),
           "final_test_accuracy": res["final_test_accuracy"],
           "test_accuracy_at_best_epoch": res["test_accuracy_at_best_epoch"],
           "best_epoch": res["best_epoch"], "selected_on": res["selected_on"],
           "best_test_accuracy": res["best_test_accuracy"],
           "train_accuracy": train_acc, "gap": train_acc - res["final_test_accuracy"],
           **analyse(rargs, model),
           "training_time_s": res["training_time_s"], "folder": os.path.relpath(
               out, args.output_dir)}
    common._atomic_write_json(done, row)
    return row, False


def summarise(rows, labels):
    """Per label: mean/std of every metric and of accuracy by t; paired differences."""
    from keras_trt.analysis import mean_std, paired_difference

    by = {label: sorted((r for r in rows if r["label"] == label), key=lambda r: r["seed"])
          for label in labels}
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
            if other not in by or not by[other] or not by[trt_label]:
                continue
            a = {r["seed"]: r for r in by[trt_label]}
            b = {r["seed"]: r for r in by[other]}
            seeds = sorted(set(a) & set(b))
            if not seeds:
                continue
            entry = {"a": trt_label, "b": other, "seeds": seeds}
            for key in DIFFERENCE_METRICS:
                entry[key] = paired_difference([a[s][key] for s in seeds],
                                               [b[s][key] for s in seeds])
            differences.append(entry)
    return summary, differences


def _fmt(stat, kind):
    if kind in ("pct",):
        return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"
    if kind == "rate":
        return f"{stat['mean']:.4f} ± {stat['std']:.4f}"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def format_table(summary, differences, n_seeds):
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
                ci = ("n/a (one seed)" if math.isnan(p["half_width"]) else
                      f"[{100 * p['low']:+.2f}, {100 * p['high']:+.2f}]")
                per_seed = ", ".join(f"{100 * v:+.2f}" for v in p["differences"])
                lines.append(f"    {key:<28} {100 * p['mean']:+.2f}  95% CI {ci}  "
                             f"(per seed: {per_seed})")
    return "\n".join(lines)


def write_csvs(out, rows, summary):
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


def plot(out, rows, summary, labels):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for (label, color) in zip(labels, colors):
        logs = [common.read_log(os.path.join(out, r["folder"])) for r in rows
                if r["label"] == label]
        if not logs:
            continue
        for ax, column, name in ((axes[0], "test_accuracy", "test"),
                                 (axes[1], "accuracy", "train (running, training mode)")):
            n = min(len(lg[column]) for lg in logs)
            values = 100 * np.array([lg[column][:n] for lg in logs])
            mean, std = values.mean(0), values.std(0, ddof=1) if len(logs) > 1 else 0 * values[0]
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
    fig.savefig(os.path.join(out, "learning_curves.png"), dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, color) in zip(labels, colors):
        if label not in summary:
            continue
        stats = summary[label]["accuracy_by_timesteps"]
        t = np.arange(1, len(stats) + 1)
        mean = np.array([100 * s["mean"] for s in stats])
        std = np.array([100 * s["std"] for s in stats])
        ax.errorbar(t, mean, yerr=std, color=color, marker="o", ms=3, capsize=3,
                    label=label.upper())
    ax.set(xlabel="t (first t timesteps' logits averaged)", ylabel="test accuracy (%)",
           title="accuracy from the first t timesteps (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "timestep_accuracy.png"), dpi=100)
    plt.close(fig)


def main(argv=None, callbacks=()):
    args = parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    runs = plan(args)
    labels = [label for label, _, _ in runs]
    seeds = list(range(args.seed, args.seed + args.seeds))
    todo = [(seed, *r) for seed in seeds for r in runs]
    rows, trained_times = [], []
    t0 = time.perf_counter()
    for i, (seed, label, method, overrides) in enumerate(todo, 1):
        left = len(todo) - i + 1
        eta = (f"; about {_duration(left * sum(trained_times) / len(trained_times))} left"
               if trained_times else "")
        print(f"[study] run {i}/{len(todo)}: {label.upper()} seed {seed} "
              f"({_duration(time.perf_counter() - t0)} elapsed{eta})", flush=True)
        start = time.perf_counter()
        row, skipped = run_one(args, label, method, overrides, seed, callbacks)
        if skipped:
            print(f"[study]   finished before: skipped ({row['folder']})", flush=True)
        else:
            trained_times.append(time.perf_counter() - start)
        rows.append(row)
    summary, differences = summarise(rows, labels)
    table = format_table(summary, differences, len(seeds))
    wall = time.perf_counter() - t0
    study = {
        "recipe": RECIPE.name, "dataset": RECIPE.dataset,
        "model": f"VGGSNN(widths={list(args.widths or quickstart.QUICK_WIDTHS)})",
        "seeds": seeds, "labels": labels,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
                     if isinstance(v, (int, float, str, tuple, list, type(None)))},
        "backend": common.backend_name(), "wall_time_s": round(wall, 1),
        "notes": {
            "spread": "mean ± sample standard deviation (ddof=1) over seeds",
            "intervals": "paired differences over the same seeds; 95% Student "
                         "t-interval on the per-seed differences",
            "model_analysed": "final weights (last epoch)",
            "firing_rate": "unweighted mean over the LIF layers of their firing rates on "
                           "the test split",
            "ic": "information centroid of keras_trt.analysis.fisher_information on "
                  f"{args.fisher_batches} training-split batches (no shuffle, no "
                  "augmentation), default divisor",
            "accuracy_by_timesteps": "test accuracy of the running mean of the first t "
                                     "timesteps' logits, t = 1..T",
            "learning_curves_band": "mean ± sample std over seeds",
            "selection": common.BEST_ACCURACY_NOTE,
        },
        "summary": summary, "differences": differences, "runs": rows,
    }
    common._atomic_write_json(os.path.join(args.output_dir, "study.json"), study)
    with open(os.path.join(args.output_dir, "table.txt"), "w") as f:
        f.write(table + "\n")
    write_csvs(args.output_dir, rows, summary)
    plot(args.output_dir, rows, summary, labels)
    print(f"\n{table}\n")
    print(f"{len(todo)} runs ({len(trained_times)} trained now) in {_duration(wall)} on "
          f"{common.backend_name()}. Wrote {args.output_dir}/table.txt, study.json, runs.csv, "
          "summary.csv, learning_curves.png, timestep_accuracy.png.")
    return study


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


if __name__ == "__main__":
    main()
