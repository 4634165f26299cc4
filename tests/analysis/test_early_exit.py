"""Early exit against a hand-computed example, on logits and through a model."""

import csv

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import analysis
from keras_trt.testing import to_numpy

# Two samples, T = 3, two classes, both labelled 1. Running means of the logits:
#   A: [2, 0], [1, 0], [2/3, 4/3] -> top probability sigmoid(2) = 0.8808 (class 0),
#      sigmoid(1) = 0.7311 (class 0), sigmoid(2/3) = 0.6608 (class 1)
#   B: [0, 1], [0, 2], [0, 4/3]   -> 0.7311, 0.8808, 0.7914, all class 1
# The margin (top-1 minus top-2 probability) of two classes is 2 p - 1:
#   A: 0.7616, 0.4621, 0.3215;  B: 0.4621, 0.7616, 0.5828.
LOGITS = np.array([[[2.0, 0.0], [0.0, 0.0], [0.0, 4.0]],
                   [[0.0, 1.0], [0.0, 3.0], [0.0, 0.0]]], "float32")
LABELS = np.array([1, 1])


def test_confidence_sweep_hand_computed():
    table = analysis.early_exit_from_logits(LOGITS, LABELS, thresholds=[0.7, 0.85, 0.9])
    # 0.7: both exit at t=1 (A wrong, B right); 0.85: A at t=1 (wrong), B at t=2
    # (right); 0.9: nobody is that confident, both run to T=3 and are right.
    np.testing.assert_allclose(table["accuracy"], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(table["mean_timesteps"], [1.0, 1.5, 3.0])
    np.testing.assert_array_equal(table["exit_counts"], [[2, 0, 0], [1, 1, 0], [0, 0, 2]])
    np.testing.assert_allclose(table["accuracy_per_timestep"], [0.5, 0.5, 1.0])
    assert table["full_accuracy"] == 1.0 and table["timesteps"] == 3
    assert table["samples"] == 2


def test_margin_sweep_hand_computed():
    table = analysis.early_exit_from_logits(LOGITS, LABELS, thresholds=[0.5, 0.77],
                                            criterion="margin")
    # 0.5: A exits at t=1 (0.7616, wrong), B at t=2 (0.7616, right);
    # 0.77: no margin reaches it: both at T, right.
    np.testing.assert_allclose(table["accuracy"], [0.5, 1.0])
    np.testing.assert_allclose(table["mean_timesteps"], [1.5, 3.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="`criterion` must be one of"):
        analysis.early_exit_from_logits(LOGITS, LABELS, criterion="entropy")
    with pytest.raises(ValueError, match=r"shape \(samples, T, classes >= 2\)"):
        analysis.early_exit_from_logits(LOGITS[:, 0], LABELS)
    with pytest.raises(ValueError, match="3 labels for 2 samples"):
        analysis.early_exit_from_logits(LOGITS, [1, 1, 0])


@pytest.mark.parametrize("thresholds,outside", [([1.5, -1], [1.5, -1.0]),
                                                 ([0.5, float("nan")], ["nan"])])
def test_thresholds_outside_0_1_are_refused(thresholds, outside):
    """Both scores lie in [0, 1]: a threshold above 1 sent every sample to T, one below
    0 stopped every sample at t=1, silently."""
    message = r"`thresholds` must lie in \[0, 1\] \(both scores, .*\), got \[" + \
        ", ".join(map(str, outside)) + r"\]\."
    with pytest.raises(ValueError, match=message):
        analysis.early_exit_from_logits(LOGITS, LABELS, thresholds=thresholds)
    inputs = keras.Input((3, 2))
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Identity())(inputs))
    with pytest.raises(ValueError, match=message):
        analysis.early_exit(model, (LOGITS, LABELS), thresholds=thresholds)
    analysis.early_exit_from_logits(LOGITS, LABELS, thresholds=[0.0, 1.0])   # the ends


def test_one_hot_labels_give_the_table_of_class_indices():
    one_hot = np.eye(2, dtype="float32")[LABELS]          # (2, 2): every analysis takes it
    inputs = keras.Input((3, 2))
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Identity())(inputs))
    table = analysis.early_exit(model, (LOGITS, one_hot), thresholds=[0.7, 0.85, 0.9],
                                batch_size=1)
    np.testing.assert_allclose(table["accuracy"], [0.5, 0.5, 1.0])   # as hand-computed
    np.testing.assert_allclose(table["mean_timesteps"], [1.0, 1.5, 3.0])
    from_logits = analysis.early_exit_from_logits(LOGITS, one_hot, thresholds=[0.85])
    np.testing.assert_allclose(from_logits["accuracy"], [0.5])


def test_model_sweep_csv_and_plot(tmp_path):
    """Through a model: its logits are LOGITS (identity input), so the table is the
    hand-computed one; the CSV and the PNG are written."""
    inputs = keras.Input((3, 2))
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Identity())(inputs))
    np.testing.assert_array_equal(to_numpy(model(LOGITS)), LOGITS)
    table = analysis.early_exit(model, (LOGITS, LABELS), thresholds=[0.7, 0.85, 0.9],
                                batch_size=1)
    np.testing.assert_allclose(table["mean_timesteps"], [1.0, 1.5, 3.0])
    path = analysis.save_early_exit_csv(table, str(tmp_path / "early_exit.csv"))
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["threshold", "accuracy", "mean_timesteps"]
    assert rows[2] == ["0.85", "0.5", "1.5"]
    png = analysis.plot_early_exit({"TRT": table}, str(tmp_path / "early_exit.png"))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_analyze_recipe_writes_the_early_exit_section(tmp_path):
    from tests.analysis.models import data, mlp_snn
    from keras_trt.experiments.cli import analyze

    run = tmp_path / "run"
    run.mkdir()
    mlp_snn(T=3, hidden=(6, 5)).save(str(run / "best.keras"))
    x, y = data(8, T=3)
    np.savez(run / "data.npz", x=x, y=y)
    out = tmp_path / "report"
    report = analyze.main([
        "--run", str(run), "--data-npz", str(run / "data.npz"), "--output", str(out),
        "--batch-size", "8", "--skip", "rates", "fisher", "landscape", "curves",
        "--early-exit-criterion", "margin", "--early-exit-thresholds", "0.0", "1.0",
        "--verbose", "0"])
    table = report["early_exit"]
    assert table["criterion"] == "margin" and table["samples"] == 8
    # threshold 0: every sample exits at t=1; 1 (only a saturated softmax reaches it,
    # not these small logits): every sample at T
    np.testing.assert_allclose(table["mean_timesteps"], [1.0, 3.0])
    assert (out / "early_exit.png").stat().st_size > 1000
    assert (out / "early_exit.csv").read_text().startswith("threshold,accuracy,")
