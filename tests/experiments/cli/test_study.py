"""The study command (`keras-trt study`, recipes/study.py) on a tiny budget: the table's
shape, the statistics against a hand computation from the per-run results, skipping
finished runs, sweeps of TRT's hyperparameters, and studies written before (their run
folders are picked up)."""

import csv
import json
import math
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_trt.experiments.cli import study

BACKEND = keras.backend.backend()
ROOT = pathlib.Path(__file__).resolve().parents[3]
TINY = ["--epochs", "1", "--max-steps", "1", "--batch-size", "16", "--timesteps", "2",
        "--widths", "4,8", "--verbose", "0", "--fisher-batches", "1", "--methods", "tet,trt",
        "--jit", "off"]   # compiling costs more than one step
T_975_DF1 = 12.706204736174694     # Student t quantile 0.975, 1 degree of freedom


def test_study_tiny(tmp_path, capsys):
    """Two seeds x two methods on torch. (Each seed re-draws digits_dvs's emulated events
    and each run compiles its own functions: TensorFlow and JAX run the one-seed test.)"""
    if BACKEND != "torch":
        pytest.skip("two seeds on torch; one seed on every backend below (time budget)")
    out = tmp_path / "study"
    result = study.main([*TINY, "--seeds", "2", "--output-dir", str(out)])
    printed = capsys.readouterr().out
    assert "[study] run 1/4: TET seed 0" in printed and "[study] run 4/4: TRT seed 1" in printed
    assert "about" in printed.split("run 2/4")[1].splitlines()[0]     # time left estimate
    for name in ("table.txt", "study.json", "runs.csv", "summary.csv", "learning_curves.png",
                 "timestep_accuracy.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "study.json").read_text())
    runs = saved["runs"]
    assert [(r["label"], r["seed"]) for r in runs] == [("tet", 0), ("trt", 0), ("tet", 1),
                                                       ("trt", 1)]
    for r in runs:
        assert len(r["accuracy_by_timesteps"]) == 2
        assert r["gap"] == pytest.approx(r["train_accuracy"] - r["final_test_accuracy"])
        assert 0 <= r["firing_rate"] <= 1 and 1 <= r["ic"] <= 2
    # mean and sample std by hand
    for label in ("tet", "trt"):
        values = [r["final_test_accuracy"] for r in runs if r["label"] == label]
        stat = saved["summary"][label]["final_test_accuracy"]
        assert stat["mean"] == pytest.approx((values[0] + values[1]) / 2)
        assert stat["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    # the paired t-interval of TRT - TET by hand: n = 2, df = 1
    (diff,) = saved["differences"]
    assert (diff["a"], diff["b"]) == ("trt", "tet")
    d = [runs[1]["gap"] - runs[0]["gap"], runs[3]["gap"] - runs[2]["gap"]]
    mean, sd = (d[0] + d[1]) / 2, abs(d[0] - d[1]) / math.sqrt(2)
    half = T_975_DF1 * sd / math.sqrt(2)
    got = diff["gap"]
    np.testing.assert_allclose([got["mean"], got["low"], got["high"]],
                               [mean, mean - half, mean + half], atol=1e-12)
    table = (out / "table.txt").read_text()
    assert "95% Student t-interval" in table and "TRT - TET" in table
    assert table.count("±") >= 2 * (6 + 2)     # 6 metrics and T=2 rows, 2 methods
    with open(out / "runs.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert result["summary"].keys() == {"tet", "trt"}

    # Run again: every run is finished, so nothing trains and the table is the same.
    study.main([*TINY, "--seeds", "2", "--output-dir", str(out)])
    assert capsys.readouterr().out.count("finished before: skipped") == 4
    assert (out / "table.txt").read_text() == table


def test_study_one_seed(tmp_path):
    """Every backend: one seed, the difference by hand, no interval from one pair."""
    out = tmp_path / "study1"
    saved = study.main([*TINY, "--seeds", "1", "--output-dir", str(out)])
    tet, trt = saved["runs"]
    assert (tet["label"], trt["label"]) == ("tet", "trt")
    assert saved["summary"]["trt"]["gap"]["mean"] == pytest.approx(trt["gap"])
    assert saved["summary"]["trt"]["gap"]["std"] == 0.0
    (diff,) = saved["differences"]
    got = diff["final_test_accuracy"]
    assert got["mean"] == pytest.approx(trt["final_test_accuracy"] - tet["final_test_accuracy"])
    assert math.isnan(got["half_width"])
    assert "n/a (one seed)" in (out / "table.txt").read_text()
    assert len(trt["accuracy_by_timesteps"]) == 2 and 1 <= trt["ic"] <= 2


def test_study_sweeps_vary_one_value_each(tmp_path):
    """`--grid lam=0,5e-5 --grid decay=0.5`: one TRT run per swept value, each recorded
    with its value; the base values (lam 5e-5, decay 0.5 here) are the plain TRT run,
    trained once. One row per run in runs.csv, one sweep_<param>.csv per parameter. Torch
    only: the planning is backend-independent, and two more runs took 16 s (TensorFlow)
    and 60 s (JAX) on a shared 2-core machine; test_study_one_seed trains the study's runs
    on every backend."""
    if BACKEND != "torch":
        pytest.skip("the sweeps' planning is backend-independent (time budget)")
    out = tmp_path / "grid"
    argv = [*TINY, "--seeds", "1", "--output-dir", str(out)]
    argv[argv.index("--methods") + 1] = "trt"
    saved = study.main([*argv, "--grid", "lam=0,5e-5", "--grid", "decay=0.5"])
    labels = ["trt[lam=0]", "trt"]
    assert saved["labels"] == labels
    assert [(r["label"], r["method"], r["hyperparameters"]["lam"]) for r in saved["runs"]] == [
        ("trt[lam=0]", "trt", 0.0), ("trt", "trt", 5e-5)]
    eta = saved["settings"]["eta"]                                           # not varied
    assert [r["hyperparameters"]["eta"] for r in saved["runs"]] == [eta, eta]
    # The value reached training: same seed, data and initial weights, so the logged
    # training loss differs by the weight penalty alone (0 with lam = 0).
    losses = []
    for folder in ("trt_lam-0", "trt"):
        assert (out / "runs" / folder / "seed0" / "study_run.json").is_file()
        with open(out / "runs" / folder / "seed0" / "log.csv") as f:
            losses.append(float(next(csv.DictReader(f))["loss"]))
    assert losses[1] > losses[0]
    with open(out / "runs.csv") as f:
        assert [row["label"] for row in csv.DictReader(f)] == labels
    with open(out / "sweep_lam.csv") as f:
        cells = list(csv.DictReader(f))
    assert [(c["value"], c["labels"], c["n"]) for c in cells] == [
        ("0.0", "trt[lam=0]", "1"), ("5e-05", "trt", "1")]
    assert cells[0]["final_test_accuracy_minus_tet_mean"] == ""      # no TET in this study
    with open(out / "sweep_decay.csv") as f:
        assert [c["labels"] for c in csv.DictReader(f)] == ["trt"]
    assert saved["sweeps"]["lam"]["base"] == 5e-5
    assert saved["differences"] == []          # no TET or SDT to compare with
    assert "TRT[LAM=0]" in (out / "table.txt").read_text()
    # The report of docs/results.md ("What in TRT matters") reads the same folder.
    report = tmp_path / "report.md"
    subprocess.run([sys.executable, str(ROOT / "tools" / "trt_sensitivity_report.py"),
                    str(out), "--images", str(tmp_path), "--markdown", str(report)],
                   check=True, timeout=300)
    text = report.read_text()
    assert "## lam, paired against TRT" in text
    shares = text.split("## lam: the penalty's share of the loss")[1].split("##")[0]
    rows = [line for line in shares.splitlines() if line.startswith(("| 0 |", "| 5e-05 |"))]
    assert rows[0].startswith("| 0 | 0.00% ") and not rows[1].startswith("| 5e-05 | 0.00%")
    assert "2 finished runs" in text
