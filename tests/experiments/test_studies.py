"""keras_trt.experiments.study (studies.py) without training: the plan of methods and sweeps, and a
study whose runs are all finished (as written before, by recipes/study.py) is picked up
from its run folders and summarised: per-sweep statistics against a hand computation."""

import csv
import json
import math

import pytest

from keras_trt import experiments
from keras_trt.experiments.studies import plan

T_975_DF1 = 12.706204736174694     # Student t quantile 0.975, 1 degree of freedom


@pytest.mark.backend_independent
def test_plan_sweeps_one_value_at_a_time():
    base = {"lam": 5e-5, "decay": 0.5}
    assert plan(("sdt", "tet", "trt")) == [("sdt", "sdt", {}), ("tet", "tet", {}),
                                          ("trt", "trt", {})]
    got = plan(("tet", "trt"), base, {"lam": [1e-5, 5e-5, 1e-4], "decay": [0.5, 1.0]})
    assert got == [("tet", "tet", {}), ("trt[lam=1e-05]", "trt", {"lam": 1e-5}),
                   ("trt", "trt", {}), ("trt[lam=0.0001]", "trt", {"lam": 1e-4}),
                   ("trt[decay=1]", "trt", {"decay": 1.0})]
    # Without the base value in a sweep there is no plain TRT run (as --grid always did).
    assert [label for label, _, _ in plan(("trt",), base, {"decay": [0, 0.25]})] == [
        "trt[decay=0]", "trt[decay=0.25]"]
    with pytest.raises(ValueError, match="'tau' is not one of TRT's hyperparameters"):
        plan(("trt",), base, {"tau": [1.0]})
    with pytest.raises(ValueError, match="non-negative values"):
        plan(("trt",), base, {"lam": [-1.0]})


def _row(label, method, seed, acc, gap, lam=None):
    return {"label": label, "method": method, "seed": seed,
            "hyperparameters": {} if lam is None else {"lam": lam},
            "final_test_accuracy": acc, "test_accuracy_at_best_epoch": acc, "best_epoch": 1,
            "selected_on": "validation", "best_test_accuracy": acc,
            "train_accuracy": acc + gap, "gap": gap, "firing_rate": 0.1,
            "firing_rates": {"lif1": 0.1}, "ic": 1.5, "fisher": [1.0, 2.0],
            "accuracy_by_timesteps": [acc - 0.1, acc], "accuracy_t1": acc - 0.1,
            "training_time_s": 1.0}


def _write_run(out, folder, seed, row):
    run = out / "runs" / folder / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "study_run.json").write_text(json.dumps({**row, "folder": f"runs/{folder}/seed{seed}"}))
    acc = row["final_test_accuracy"]
    (run / "log.csv").write_text(f"epoch,accuracy,test_accuracy\n0,{acc},{acc}\n")


def _unused_model():
    raise AssertionError("every run is finished: nothing may be built")


@pytest.mark.backend_independent
def test_study_written_before_is_picked_up(tmp_path):
    """`recipes/study.py --methods tet,trt --grid lam=1e-5,5e-5 --seeds 2` wrote the base
    value's runs as trt[lam=5e-05] in runs/trt_lam-5e-05/; they are now the plain TRT."""
    accs = {("tet", 0): (0.80, 0.10), ("tet", 1): (0.84, 0.12),
            ("trt[lam=1e-05]", 0): (0.82, 0.09), ("trt[lam=1e-05]", 1): (0.83, 0.08),
            ("trt[lam=5e-05]", 0): (0.85, 0.05), ("trt[lam=5e-05]", 1): (0.88, 0.07)}
    for (label, seed), (acc, gap) in accs.items():
        folder = label.replace("[", "_").replace("]", "").replace("=", "-")
        _write_run(tmp_path, folder, seed, _row(label, label[:3], seed, acc, gap))
    result = experiments.study(_unused_model, None, None, None, seeds=2, methods=("tet", "trt"),
                               hyperparameters={"lam": 5e-5}, sweeps={"lam": [1e-5, 5e-5]},
                               output_dir=tmp_path, verbose=0)
    assert result["labels"] == ["tet", "trt[lam=1e-05]", "trt"]
    trt = [r for r in result["runs"] if r["label"] == "trt"]
    assert [r["folder"] for r in trt] == ["runs/trt_lam-5e-05/seed0", "runs/trt_lam-5e-05/seed1"]
    assert not (tmp_path / "runs" / "trt").exists()
    # The sweep's cells: mean and t-interval of the mean, paired difference against TET.
    cells = result["sweeps"]["lam"]["cells"]
    assert [(c["value"], c["labels"], c["seeds"]) for c in cells] == [
        (1e-5, ["trt[lam=1e-05]"], [0, 1]), (5e-5, ["trt"], [0, 1])]
    acc = cells[1]["final_test_accuracy"]
    half = T_975_DF1 * (0.03 / math.sqrt(2)) / math.sqrt(2)
    assert acc["mean"] == pytest.approx(0.865)
    assert (acc["low"], acc["high"]) == pytest.approx((0.865 - half, 0.865 + half))
    vs_tet = cells[1]["vs_reference"]["gap"]
    d = [0.05 - 0.10, 0.07 - 0.12]
    assert vs_tet["mean"] == pytest.approx(sum(d) / 2) and vs_tet["std"] == pytest.approx(0)
    with open(tmp_path / "sweep_lam.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["labels"], r["n"]) for r in rows] == [("trt[lam=1e-05]", "2"), ("trt", "2")]
    assert float(rows[1]["final_test_accuracy_mean"]) == pytest.approx(0.865)
    assert float(rows[1]["gap_minus_tet_mean"]) == pytest.approx(-0.05)
    table = (tmp_path / "table.txt").read_text()
    assert "Sweep of TRT's lam (base 5e-05)" in table and "TRT - TET" in table
    assert json.loads((tmp_path / "study.json").read_text())["sweeps"]["lam"]["base"] == 5e-5
