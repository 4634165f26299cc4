"""One hyperparameter against accuracy: a sweep's cells over seeds, paired against a reference.

A study (`recipes/study.py`) writes one row per run: its `label` (`"trt"` for the base
hyperparameters, `"trt[lam=0.0005]"` for a one-at-a-time variant, `"tet"`), its `seed`
and its metrics (`final_test_accuracy`, `gap`, ...); `runs/<label>/seed<k>/study_run.json`
holds it, `runs.csv` all of them. `sensitivity` groups the rows of one knob (the base
runs plus the runs that changed only that knob) by the knob's value and gives, per value,
the mean over seeds with its Student t-interval and the paired difference against a
reference method on the same seeds (TET by default), also with its t-interval
(`keras_trt.analysis.paired_difference`). `plot_sensitivity` draws each metric against
the knob (mean line, interval band, the reference as a horizontal line and band);
`format_sensitivity_table` writes the markdown table.

```python
import os, tempfile
from keras_trt.analysis import sensitivity, plot_sensitivity, format_sensitivity_table

rows = [{"label": label, "seed": seed, "final_test_accuracy": acc, "gap": 0.9 - acc}
        for label, accs in {"tet": [0.80, 0.82, 0.81], "trt": [0.81, 0.82, 0.83],
                            "trt[lam=0.005]": [0.70, 0.74, 0.72]}.items()
        for seed, acc in enumerate(accs)]
result = sensitivity(rows, "lam", base_value=5e-5)
cell = result["cells"][1]                       # lam = 0.005
print(cell["value"], round(cell["final_test_accuracy"]["mean"], 4))   # 0.005 0.72
print(round(cell["vs_reference"]["final_test_accuracy"]["mean"], 4))  # -0.09
print(format_sensitivity_table(result).splitlines()[0][:40])
plot_sensitivity(result, os.path.join(tempfile.mkdtemp(), "lam.png"))
```
"""

import csv
import glob
import json
import math
import os
import re

import numpy as np

from keras_trt.analysis.statistics import mean_interval, paired_difference

__all__ = ["read_study_runs", "parse_run_label", "sensitivity", "format_sensitivity_table",
           "plot_sensitivity", "DEFAULT_SENSITIVITY_METRICS"]

DEFAULT_SENSITIVITY_METRICS = ("final_test_accuracy", "gap")
_LABEL = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*(?:\[(.*)\])?\s*$")


def parse_run_label(label):
    """`"trt[lam=1e-05]"` -> `("trt", {"lam": 1e-05})`; `"tet"` -> `("tet", {})`.

    Several changed hyperparameters are separated by commas (`"trt[lam=1e-05,decay=0]"`).
    """
    match = _LABEL.match(str(label))
    if not match:
        raise ValueError(f"run label must look like 'trt' or 'trt[lam=1e-05]', got {label!r}.")
    method, inside = match.group(1), match.group(2)
    overrides = {}
    for part in (inside or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"run label {label!r}: expected NAME=NUMBER inside the "
                             f"brackets, got {part!r}.")
    return method, overrides


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def read_study_runs(folder):
    """The per-run rows of a study folder: every `runs/*/seed*/study_run.json` (finished
    runs only), else its `runs.csv`; sorted by label and seed."""
    paths = glob.glob(os.path.join(folder, "runs", "*", "seed*", "study_run.json"))
    rows = []
    for path in paths:
        with open(path) as f:
            rows.append(json.load(f))
    if not rows:
        table = os.path.join(folder, "runs.csv")
        if not os.path.isfile(table):
            raise FileNotFoundError(f"read_study_runs: {folder} holds neither finished "
                                    "runs (runs/*/seed*/study_run.json) nor runs.csv.")
        with open(table, newline="") as f:
            rows = [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]
    for r in rows:
        r["seed"] = int(r["seed"])
    return sorted(rows, key=lambda r: (str(r["label"]), r["seed"]))


def _knob_value(row, knob, overrides, base_value):
    if knob in overrides:
        return overrides[knob]
    if base_value is not None:
        return float(base_value)
    value = (row.get("hyperparameters") or {}).get(knob)
    if value is None:
        raise ValueError(f"sensitivity: the base run {row['label']!r} seed {row['seed']} "
                         f"does not record {knob!r}; pass `base_value`.")
    return float(value)


def _by_seed(rows, what):
    out = {}
    for r in rows:
        if r["seed"] in out:
            raise ValueError(f"sensitivity: two runs of {what} for seed {r['seed']}.")
        out[r["seed"]] = r
    return out


def sensitivity(rows, knob, base_value=None, method="trt", reference="tet",
                metrics=DEFAULT_SENSITIVITY_METRICS, confidence=0.95):
    """Per value of `knob`: the mean of each metric over seeds and the paired difference
    against `reference` (each with its `confidence` Student t-interval).

    Args:
        rows: per-run dicts with "label", "seed" and the metrics (`read_study_runs`).
        knob: the hyperparameter swept, as it appears in the labels ("lam", "decay", ...).
        base_value: the knob's value in the plain `method` runs; None reads it from each
            row's "hyperparameters".
        method: the swept method's label ("trt"): its plain runs and `method[knob=v]` ones
            are the cells; runs that changed another hyperparameter are left out.
        reference: label of the reference runs (None: no reference, no differences).
        metrics: row keys to summarise.
        confidence: of the intervals.

    Returns:
        dict: "knob", "method", "metrics", "confidence", "cells" (sorted by value; each
        "value", "labels", "seeds", `{metric: mean_interval}`, "vs_reference"
        `{metric: paired_difference}` over the seeds it shares with the reference, and
        "base": whether the plain runs are in it) and "reference" (its "label", "seeds"
        and `{metric: mean_interval}` over all its seeds, or None).
    """
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("sensitivity: `metrics` must name at least one metric.")
    groups = {}
    reference_rows = []
    for row in rows:
        name, overrides = parse_run_label(row["label"])
        if reference is not None and row["label"] == reference:
            reference_rows.append(row)
        if name != method or set(overrides) - {knob}:
            continue
        value = _knob_value(row, knob, overrides, base_value)
        groups.setdefault(value, []).append(row)
    if not groups:
        raise ValueError(f"sensitivity: no runs of {method!r} or {method}[{knob}=...] among "
                         f"the labels {sorted({str(r['label']) for r in rows})}.")
    for value, group in groups.items():
        for row in group:
            missing = [m for m in metrics if m not in row]
            if missing:
                raise ValueError(f"sensitivity: run {row['label']!r} seed {row['seed']} has "
                                 f"no {missing}.")
    ref = _by_seed(reference_rows, reference) if reference_rows else {}
    cells = []
    for value in sorted(groups):
        runs = _by_seed(groups[value], f"{knob}={value:g}")
        seeds = sorted(runs)
        cell = {"value": value, "labels": sorted({str(r["label"]) for r in runs.values()}),
                "seeds": seeds,
                "base": any(not parse_run_label(r["label"])[1] for r in runs.values())}
        for m in metrics:
            cell[m] = mean_interval([float(runs[s][m]) for s in seeds], confidence)
        shared = [s for s in seeds if s in ref]
        cell["vs_reference"] = {
            m: paired_difference([float(runs[s][m]) for s in shared],
                                 [float(ref[s][m]) for s in shared], confidence)
            for m in metrics} if shared else {}
        cells.append(cell)
    reference_summary = None
    if ref:
        reference_summary = {"label": reference, "seeds": sorted(ref), **{
            m: mean_interval([float(ref[s][m]) for s in sorted(ref)], confidence)
            for m in metrics}}
    return {"knob": knob, "method": method, "metrics": metrics, "confidence": confidence,
            "cells": cells, "reference": reference_summary}


def _scale(metric):
    """Accuracies and the train-test gap are fractions, shown in percent (points)."""
    return 100.0 if ("accuracy" in metric or metric == "gap") else 1.0


def _interval(stat, scale, signed=False):
    sign = "+" if signed else ""
    mean = f"{scale * stat['mean']:{sign}.2f}"
    if math.isnan(stat["half_width"]):
        return mean
    return f"{mean} [{scale * stat['low']:{sign}.2f}, {scale * stat['high']:{sign}.2f}]"


def format_sensitivity_table(result):
    """A markdown table of a `sensitivity` result: one row per value, per metric the mean
    [t-interval] and the paired difference to the reference [t-interval] with its
    per-seed values. Accuracies and the gap are printed in percent (points)."""
    ref = result["reference"]
    ref_name = ref["label"].upper() if ref else None
    head = [result["knob"], "seeds"]
    for m in result["metrics"]:
        head.append(f"{m} (mean [{100 * result['confidence']:g}% CI])")
        if ref:
            head += [f"{m} − {ref_name} (paired)", "per seed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell in result["cells"]:
        value = f"{cell['value']:g}" + (" (base)" if cell["base"] else "")
        row = [value, ",".join(str(s) for s in cell["seeds"])]
        for m in result["metrics"]:
            k = _scale(m)
            row.append(_interval(cell[m], k))
            if ref:
                d = cell["vs_reference"].get(m)
                row += ([_interval(d, k, signed=True),
                         ", ".join(f"{k * v:+.2f}" for v in d["differences"])]
                        if d else ["n/a", ""])
        lines.append("| " + " | ".join(row) + " |")
    if ref:
        row = [ref_name + " (reference)", ",".join(str(s) for s in ref["seeds"])]
        for m in result["metrics"]:
            row.append(_interval(ref[m], _scale(m)))
            row += ["", ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _x_scale(ax, values, x_scale):
    positive = [v for v in values if v > 0]
    if x_scale == "auto":
        if len(positive) < 2 or max(positive) / min(positive) < 20:
            x_scale = "linear"
        else:
            x_scale = "log" if len(positive) == len(values) else "symlog"
    if x_scale == "symlog":
        ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
    elif x_scale != "linear":
        ax.set_xscale(x_scale)


def _band(ax, x, stats, color, label):
    mean = np.array([s["mean"] for s in stats])
    low = np.array([s["low"] for s in stats])
    high = np.array([s["high"] for s in stats])
    ax.plot(x, mean, marker="o", color=color, label=label)
    ok = ~np.isnan(low)
    if ok.any():
        ax.fill_between(np.asarray(x)[ok], low[ok], high[ok], color=color, alpha=0.2,
                        linewidth=0)


def plot_sensitivity(result, path, x_scale="auto", title=None):
    """Each metric of a `sensitivity` result against the knob: mean line, t-interval band,
    the base value dotted, the reference as a dashed line with its band. `x_scale`:
    "auto" (log or symlog when the values span 20x or more), "linear", "log", "symlog"."""
    from keras_trt.analysis.plots import new_figure, save_figure

    metrics, cells, ref = result["metrics"], result["cells"], result["reference"]
    pct = 100 * result["confidence"]
    fig = new_figure((5.2 * len(metrics), 4.0))
    x = [c["value"] for c in cells]
    for i, m in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        k = _scale(m)
        scaled = [{key: k * c[m][key] for key in ("mean", "low", "high")} for c in cells]
        seeds = sorted({len(c["seeds"]) for c in cells})
        _band(ax, x, scaled, "C0",
              f"{result['method'].upper()} ({'/'.join(map(str, seeds))} seeds)")
        for c in cells:
            if c["base"]:
                ax.axvline(c["value"], color="0.5", linestyle=":", linewidth=1)
        if ref:
            mean, low, high = (k * ref[m][key] for key in ("mean", "low", "high"))
            ax.axhline(mean, color="C1", linestyle="--",
                       label=f"{ref['label'].upper()} ({len(ref['seeds'])} seeds)")
            if not math.isnan(low):
                ax.axhspan(low, high, color="C1", alpha=0.15, linewidth=0)
        _x_scale(ax, x, x_scale)
        ax.set_xlabel(result["knob"] + " (dotted: base value)")
        unit = " (points)" if m == "gap" else (" (%)" if k == 100 else "")
        ax.set_ylabel(m.replace("_", " ") + unit)
        ax.set_title(f"{m.replace('_', ' ')}: mean, {pct:g}% CI band")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
