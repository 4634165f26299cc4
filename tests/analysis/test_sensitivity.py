"""keras_trt.analysis.sensitivity on hand-built study rows (no training)."""

import json
import math
import os

import numpy as np
import pytest

from keras_trt.analysis import (format_sensitivity_table, parse_run_label, plot_sensitivity,
                                read_study_runs, sensitivity)

pytestmark = pytest.mark.backend_independent

T_975_1 = 12.706205  # Student t quantiles (0.975; 1 and 2 degrees of freedom)
T_975_2 = 4.302653


def rows_of(cells):
    return [{"label": label, "method": parse_run_label(label)[0], "seed": seed,
             "final_test_accuracy": acc, "gap": 0.9 - acc}
            for label, accs in cells.items() for seed, acc in accs.items()]


ROWS = rows_of({
    "tet": {0: 0.80, 1: 0.82, 2: 0.81},
    "sdt": {0: 0.70, 1: 0.71, 2: 0.72},
    "trt": {0: 0.81, 1: 0.83, 2: 0.82},
    "trt[lam=0.005]": {0: 0.70, 1: 0.74},
    "trt[lam=5e-06]": {2: 0.85},
    "trt[decay=0]": {0: 0.99, 1: 0.99},
})


def test_parse_run_label():
    assert parse_run_label("trt[lam=1e-05]") == ("trt", {"lam": 1e-05})
    assert parse_run_label("tet") == ("tet", {})
    assert parse_run_label("trt[lam=1e-05,decay=0]") == ("trt", {"lam": 1e-05, "decay": 0.0})
    for bad in ("trt[lam]", "trt[lam=big]", "[lam=1]"):
        with pytest.raises(ValueError, match="label"):
            parse_run_label(bad)


def test_cells_means_and_paired_differences_by_hand():
    result = sensitivity(ROWS, "lam", base_value=5e-5)
    assert [c["value"] for c in result["cells"]] == [5e-06, 5e-05, 0.005]
    assert [c["base"] for c in result["cells"]] == [False, True, False]
    low, base, high = result["cells"]
    assert base["labels"] == ["trt"] and base["seeds"] == [0, 1, 2]
    # base: 0.81, 0.83, 0.82: mean 0.82, std 0.01, half width 4.302653 * 0.01 / sqrt(3)
    acc = base["final_test_accuracy"]
    assert acc["mean"] == pytest.approx(0.82) and acc["std"] == pytest.approx(0.01)
    assert acc["half_width"] == pytest.approx(T_975_2 * 0.01 / math.sqrt(3), rel=1e-6)
    # vs TET: +0.01 on every seed: interval of width 0
    d = base["vs_reference"]["final_test_accuracy"]
    np.testing.assert_allclose(d["differences"], [0.01, 0.01, 0.01], atol=1e-12)
    assert d["low"] == pytest.approx(0.01) and d["high"] == pytest.approx(0.01)
    # lam 0.005: 0.70, 0.74 against TET's 0.80, 0.82: differences -0.10, -0.08, mean -0.09,
    # std 0.0141421, half width 12.706205 * 0.0141421 / sqrt(2) = 0.127062
    d = high["vs_reference"]["final_test_accuracy"]
    assert d["mean"] == pytest.approx(-0.09) and d["n"] == 2
    assert d["half_width"] == pytest.approx(T_975_1 * 0.01, rel=1e-6)
    g = high["vs_reference"]["gap"]      # gap = 0.9 - acc, so the difference flips sign
    assert g["mean"] == pytest.approx(0.09)
    # one seed: a mean without an interval, the difference without an interval
    assert low["seeds"] == [2] and math.isnan(low["final_test_accuracy"]["half_width"])
    assert low["vs_reference"]["final_test_accuracy"]["mean"] == pytest.approx(0.04)
    ref = result["reference"]
    assert ref["label"] == "tet" and ref["seeds"] == [0, 1, 2]
    assert ref["final_test_accuracy"]["mean"] == pytest.approx(0.81)


def test_other_knobs_and_methods_are_left_out():
    result = sensitivity(ROWS, "decay", base_value=0.5)
    assert [(c["value"], c["seeds"]) for c in result["cells"]] == [(0.0, [0, 1]),
                                                                   (0.5, [0, 1, 2])]
    no_ref = sensitivity(ROWS, "decay", base_value=0.5, reference=None)
    assert no_ref["reference"] is None and no_ref["cells"][0]["vs_reference"] == {}


def test_base_value_from_the_rows_hyperparameters():
    rows = [dict(r, hyperparameters={"lam": 5e-5}) if r["label"] == "trt" else r
            for r in ROWS]
    assert [c["value"] for c in sensitivity(rows, "lam")["cells"]] == [5e-06, 5e-05, 0.005]
    with pytest.raises(ValueError, match="base_value"):
        sensitivity(ROWS, "lam")


def test_a_sweep_value_equal_to_the_base_joins_the_base_cell():
    rows = ROWS + rows_of({"trt[lam=5e-05]": {3: 0.84}})
    base = sensitivity(rows, "lam", base_value=5e-5)["cells"][1]
    assert base["seeds"] == [0, 1, 2, 3] and base["labels"] == ["trt", "trt[lam=5e-05]"]
    with pytest.raises(ValueError, match="two runs"):
        sensitivity(ROWS + rows_of({"trt[lam=5e-05]": {0: 0.84}}), "lam", base_value=5e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no runs of 'trt'"):
        sensitivity(rows_of({"tet": {0: 0.8}}), "lam", base_value=1.0)
    with pytest.raises(ValueError, match="has no"):
        sensitivity(ROWS, "lam", base_value=5e-5, metrics=("ic",))


def test_markdown_table_by_hand():
    table = format_sensitivity_table(sensitivity(ROWS, "lam", base_value=5e-5,
                                                 metrics=("final_test_accuracy",)))
    lines = table.splitlines()
    assert lines[0].startswith("| lam | seeds | final_test_accuracy (mean [95% CI])")
    # 0.72 +- 12.706205 * 0.0282843 / sqrt(2) = 0.254124; difference -9 +- 12.71 points
    assert lines[4] == ("| 0.005 | 0,1 | 72.00 [46.59, 97.41] | -9.00 [-21.71, +3.71] | "
                        "-10.00, -8.00 |")
    assert lines[2].startswith("| 5e-06 | 2 | 85.00 | +4.00 | +4.00 |")
    assert lines[-1].startswith("| TET (reference) | 0,1,2 | 81.00 [")


def test_read_study_runs_from_run_folders_and_runs_csv(tmp_path):
    for row in ROWS[:4]:
        folder = tmp_path / "runs" / row["label"] / f"seed{row['seed']}"
        os.makedirs(folder)
        (folder / "study_run.json").write_text(json.dumps(row))
    os.makedirs(tmp_path / "runs" / "trt" / "seed9")      # unfinished: no study_run.json
    rows = read_study_runs(str(tmp_path))
    assert [(r["label"], r["seed"]) for r in rows] == [("sdt", 0), ("tet", 0), ("tet", 1),
                                                         ("tet", 2)]
    other = tmp_path / "csv"
    os.makedirs(other)
    (other / "runs.csv").write_text("label,method,seed,final_test_accuracy\n"
                                    "trt[lam=0.005],trt,1,0.74\n")
    assert read_study_runs(str(other)) == [{"label": "trt[lam=0.005]", "method": "trt",
                                            "seed": 1, "final_test_accuracy": 0.74}]
    with pytest.raises(FileNotFoundError):
        read_study_runs(str(tmp_path / "missing"))


@pytest.mark.parametrize("knob,base", [("lam", 5e-5), ("decay", 0.5)])
def test_plot_writes_a_png(tmp_path, knob, base):
    path = plot_sensitivity(sensitivity(ROWS, knob, base_value=base), str(tmp_path / "s.png"),
                            title=knob)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
