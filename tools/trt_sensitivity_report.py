#!/usr/bin/env python
"""The tables and figures of docs/results.md, "What in TRT matters", from a study folder.

    KERAS_BACKEND=torch python tools/trt_sensitivity_report.py campaign \
        --images docs/images --markdown what_matters.md

The folder holds the run folders of the study command (`keras-trt study`,
`runs/<label>/seed<k>/`): the base cells `sdt`, `tet`, `trt` (trained with `--observe-fi`, so each has a fisher.csv)
and one-at-a-time TRT variants `trt[lam=...]`, `trt[decay=...]`, `trt[eta=...]`. Only
finished runs (study_run.json) count; the report says which seeds each cell has, so it
can be run while a campaign is still going. Writes the markdown tables (stdout, or
`--markdown`) and, into `--images`, `sensitivity_<knob>.png` per swept knob,
`fisher_over_epochs.png` and `fisher_over_epochs_normalized.png`.
"""

import argparse
import glob
import os

import numpy as np

from keras_trt import analysis
from keras_trt.experiments import get_preset

# The study's base TRT values: the quick start preset's.
BASE = {k: get_preset("quickstart").hyperparameters[k] for k in ("lam", "decay", "eta")}
BASE_METRICS = (("final_test_accuracy", "test accuracy, final (%)"),
                ("test_accuracy_at_best_epoch", "test accuracy at the best validation "
                                                "epoch (%)"),
                ("train_accuracy", "train accuracy (%)"),
                ("gap", "train − test gap (points)"),
                ("accuracy_t1", "test accuracy from t = 1 (%)"),
                ("firing_rate", "mean firing rate"),
                ("ic", "IC, final weights (4 plain training batches)"),
                ("fisher_ic_last", "IC at the last epoch (--observe-fi protocol)"))
PAIRS = (("trt", "tet"), ("trt", "sdt"), ("tet", "sdt"))
SWEEP_METRICS = ("final_test_accuracy", "gap")


def fmt(stat, key):
    scale = 100.0 if ("accuracy" in key or key == "gap") else 1.0
    digits = 4 if key == "firing_rate" else (3 if "ic" in key else 2)
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"


def with_fisher_ic(rows, folder):
    """Adds each base run's IC at its last observed epoch (fisher.csv) as fisher_ic_last."""
    for r in rows:
        path = os.path.join(folder, r.get("folder", ""), "fisher.csv")
        if r.get("folder") and os.path.isfile(path):
            r["fisher_ic_last"] = float(analysis.read_fisher_csv(path)["ic"][-1])
    return rows


def base_tables(rows):
    by = {m: {r["seed"]: r for r in rows if r["label"] == m} for m in ("sdt", "tet", "trt")}
    out = ["| | " + " | ".join(f"{m.upper()} (seeds {','.join(map(str, sorted(by[m])))})"
                               for m in by) + " |", "|---|---|---|---|"]
    for key, name in BASE_METRICS:
        cells = [fmt(analysis.mean_std([r[key] for r in by[m].values()]), key)
                 if by[m] and all(key in r for r in by[m].values()) else "pending"
                 for m in by]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "| difference | metric | mean | 95% CI (paired t) | per seed |",
            "|---|---|---|---|---|"]
    for a, b in PAIRS:
        seeds = sorted(set(by[a]) & set(by[b]))
        if len(seeds) < 2:
            out.append(f"| {a.upper()} − {b.upper()} | pending | | | |")
            continue
        for key in ("final_test_accuracy", "test_accuracy_at_best_epoch", "gap",
                    "accuracy_t1", "ic", "fisher_ic_last"):
            if not all(key in by[m][s] for m in (a, b) for s in seeds):
                continue
            d = analysis.paired_difference([by[a][s][key] for s in seeds],
                                           [by[b][s][key] for s in seeds])
            k = 1.0 if "ic" in key else 100.0
            out.append(f"| {a.upper()} − {b.upper()} | {key} | {k * d['mean']:+.2f} | "
                       f"[{k * d['low']:+.2f}, {k * d['high']:+.2f}] | "
                       + ", ".join(f"{k * v:+.2f}" for v in d["differences"]) + " |")
    return out


def penalty_shares(rows, folder, knob):
    """| value | penalty share of the last logged loss (mean, min-max over seeds) |"""
    shares = {}
    for r in rows:
        method, overrides = analysis.parse_run_label(r["label"])
        if method == "trt" and set(overrides) <= {knob}:
            value = overrides.get(knob, BASE[knob])
            share = analysis.run_penalty_share(os.path.join(folder, r["folder"]))["share"]
            shares.setdefault(value, []).append(share)
    out = [f"| {knob} | penalty / logged loss, last epoch (mean, min–max over seeds) |",
           "|---|---|"]
    for value in sorted(shares):
        s = np.array(shares[value]) * 100
        out.append(f"| {value:g} | {s.mean():.2f}% ({s.min():.2f}–{s.max():.2f}%, "
                   f"{len(s)} seeds) |")
    return out


def fisher_section(folder, images):
    groups = {}
    for m in ("sdt", "tet", "trt"):
        runs = sorted(glob.glob(os.path.join(folder, "runs", m, "seed*", "study_run.json")))
        runs = [os.path.dirname(p) for p in runs
                if os.path.isfile(os.path.join(os.path.dirname(p), "fisher.csv"))]
        if runs:
            groups[m.upper()] = analysis.fisher_over_epochs(runs)
    if not groups:
        return ["(no finished run with fisher.csv yet)"]
    analysis.plot_fisher_over_epochs(groups, os.path.join(images, "fisher_over_epochs.png"))
    analysis.plot_fisher_over_epochs(
        groups, os.path.join(images, "fisher_over_epochs_normalized.png"), normalize=True)
    epochs = sorted(set.intersection(*[set(g["epochs"].tolist()) for g in groups.values()]))
    shown = [e for e in epochs if e in (1, 2, 3, 5, 10, 15, 20) or e == epochs[-1]]
    out = ["| epoch | " + " | ".join(f"{k} IC (mean [95% CI], {g['n']} seeds)"
                                     for k, g in groups.items()) + " |",
           "|---|" + "---|" * len(groups)]
    for e in shown:
        cells = []
        for g in groups.values():
            i = g["epochs"].tolist().index(e)
            ic = g["ic"]
            cells.append(f"{ic['mean'][i]:.3f}" + ("" if np.isnan(ic["low"][i]) else
                                                   f" [{ic['low'][i]:.3f}, {ic['high'][i]:.3f}]"))
        out.append(f"| {e} | " + " | ".join(cells) + " |")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="the study folder (holds runs/<label>/seed<k>/)")
    p.add_argument("--images", default=None, help="where the PNGs go (default: FOLDER)")
    p.add_argument("--markdown", default=None, help="write the tables here (default stdout)")
    p.add_argument("--no-penalty-share", action="store_true",
                   help="skip the penalty shares (they load every TRT run's last.keras)")
    args = p.parse_args(argv)
    images = args.images or args.folder
    rows = with_fisher_ic(analysis.read_study_runs(args.folder), args.folder)
    out = ["## Base cells", ""] + base_tables(rows)
    for knob in ("decay", "lam", "eta"):
        for reference in ("tet", "trt"):
            try:
                result = analysis.sensitivity(rows, knob, base_value=BASE[knob],
                                              reference=reference, metrics=SWEEP_METRICS)
            except ValueError as e:
                out += ["", f"## {knob}: {e}"]
                break
            if len(result["cells"]) < 2:
                out += ["", f"## {knob}: no variant finished yet"]
                break
            out += ["", f"## {knob}, paired against {reference.upper()}", "",
                    analysis.format_sensitivity_table(result)]
            if reference == "tet":
                analysis.plot_sensitivity(result, os.path.join(images,
                                                               f"sensitivity_{knob}.png"),
                                          title=f"TRT against {knob} (other values at base)")
        if knob in ("lam", "decay") and not args.no_penalty_share:
            out += ["", f"## {knob}: the penalty's share of the loss", ""]
            out += penalty_shares(rows, args.folder, knob)
    out += ["", "## Fisher information over epochs (IC)", ""] + fisher_section(args.folder,
                                                                               images)
    times = [r["training_time_s"] for r in rows if "training_time_s" in r]
    out += ["", f"{len(rows)} finished runs; training time {sum(times) / 3600:.2f} h in total "
                "(sum over runs of study_run.json's training_time_s)."]
    text = "\n".join(out) + "\n"
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
