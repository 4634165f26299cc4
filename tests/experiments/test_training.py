"""keras_trt.experiments.train on the user's own model and array data: the run folder,
the best epoch chosen on the validation split (or the test split, the paper's protocol),
exact resumption after a crash, the refusals that protect a run folder, and the stop on a
non-finite loss."""

import json
import os

import keras
import numpy as np
import pytest

from keras_trt import experiments
from keras_trt.experiments.errors import ExperimentError, RunFolderError
from keras_trt.testing import SimulatedCrash
from tests.experiments.tiny import tiny_arrays, tiny_model
from tests.recipes.run_folder import RESULTS_KEYS

BACKEND = keras.backend.backend()
JIT = "off" if BACKEND == "tensorflow" else "auto"   # XLA compiling costs more than the run
X, Y = tiny_arrays(48)
DATA = dict(train_data=(X[:32], Y[:32]), validation_data=(X[32:40], Y[32:40]),
            test_data=(X[40:], Y[40:]))
SETTINGS = dict(method="trt", epochs=3, batch_size=8, seed=0, verbose=0, jit=JIT,
                hyperparameters={"eta": 0.05, "lam": 1e-3})
LOG_COLUMNS = ["epoch", "accuracy", "learning_rate", "loss", "mean_logit_crossentropy",
               "test_accuracy", "test_loss", "test_mean_logit_crossentropy", "val_accuracy",
               "val_loss", "val_mean_logit_crossentropy"]


def _best(acc, loss):
    return max(range(len(acc)), key=lambda i: (acc[i], -loss[i])) + 1


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return experiments.train(tiny_model, **DATA, **SETTINGS, output_dir=out)


def test_run_folder_and_validation_selection(full_run):
    out, res = full_run.output_dir, full_run.results
    assert set(res) == RESULTS_KEYS
    saved = json.loads(open(f"{out}/results.json").read())
    assert saved == json.loads(json.dumps(res))
    assert saved["dataset"]["steps_per_epoch"] == 4 and saved["dataset"]["test_steps"] == 1
    assert saved["hyperparameters"]["method_hyperparameters"] == {
        "eta": 0.05, "lam": 1e-3, "decay": 0.25, "epsilon": 1e-5}   # the loss's defaults
    with open(f"{out}/log.csv") as f:
        assert f.readline().strip().split(",") == LOG_COLUMNS
    log = experiments.run_folder.read_log(out)
    best = _best(log["val_accuracy"], log["val_mean_logit_crossentropy"])
    assert res["selected_on"] == "validation" and res["best_epoch"] == best
    assert res["best_validation_epoch"] == best
    assert res["test_accuracy_at_best_epoch"] == log["test_accuracy"][best - 1]
    assert res["final_test_accuracy"] == pytest.approx(log["test_accuracy"][-1])
    assert res["best_test_accuracy"] == max(log["test_accuracy"])
    assert log["learning_rate"][0] == pytest.approx(1e-3)
    for name in ("best.keras", "last.keras", "backup/state.json", "logs"):
        assert os.path.exists(os.path.join(out, name)), name
    assert res["epochs"] == 3 and full_run.history["loss"]


def test_resume_after_crash_matches_uninterrupted_run(full_run, tmp_path):
    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        experiments.train(tiny_model, **DATA, **SETTINGS, output_dir=crashed,
                          callbacks=[SimulatedCrash(epoch=2)])
    assert json.loads((crashed / "backup" / "state.json").read_text())["epoch"] == 2
    # The folder is protected: without resume=True, and with other settings.
    with pytest.raises(RunFolderError, match="already holds a run") as info:
        experiments.train(tiny_model, **DATA, **SETTINGS, output_dir=crashed)
    assert info.value.reason == "exists"
    with pytest.raises(RunFolderError, match="different settings") as info:
        experiments.train(tiny_model, **DATA, **{**SETTINGS, "epochs": 4},
                          output_dir=crashed, resume=True)
    assert info.value.changed == [("epochs", 3, 4)]
    resumed = experiments.train(tiny_model, **DATA, **SETTINGS, output_dir=crashed,
                                resume=True)
    for a, b in zip(full_run.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(full_run.model.optimizer.variables, resumed.model.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))
    # The CSV log continues (no duplicated or missing epochs), the best tracking too.
    assert (crashed / "log.csv").read_text() == open(
        f"{full_run.output_dir}/log.csv").read()
    assert resumed.results["best_epoch"] == full_run.results["best_epoch"]
    assert resumed.results["resumed"] == 1 and resumed.results["epochs"] == 3


def test_select_on_test_is_the_papers_protocol(tmp_path):
    res = experiments.train(tiny_model, DATA["train_data"], test_data=DATA["test_data"],
                            **{**SETTINGS, "epochs": 2, "method": "sdt"}, select_on="test",
                            output_dir=tmp_path).results
    log = experiments.run_folder.read_log(tmp_path)
    assert "val_accuracy" not in log
    assert res["best_epoch"] == _best(log["test_accuracy"], log["test_mean_logit_crossentropy"])
    assert res["best_validation_accuracy"] is None and res["method"] == "sdt"


def test_bad_arguments_are_named(tmp_path):
    train = DATA["train_data"]
    with pytest.raises(ExperimentError, match="select_on='validation' needs validation_data"):
        experiments.train(tiny_model, train, test_data=train, batch_size=8, output_dir=tmp_path)
    with pytest.raises(ExperimentError, match="`test_data` is missing"):
        experiments.train(tiny_model, train, select_on="test", batch_size=8,
                          output_dir=tmp_path)
    with pytest.raises(ValueError, match="`method` must be one of trt, tet, sdt, got 'ce'"):
        experiments.train(tiny_model, train, test_data=train, method="ce", output_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown name.*gamma"):
        experiments.train(tiny_model, train, test_data=train, hyperparameters={"gamma": 1},
                          output_dir=tmp_path)
    with pytest.raises(ExperimentError, match="is arrays: pass `batch_size`"):
        experiments.train(tiny_model, train, test_data=train, select_on="test",
                          output_dir=tmp_path)


@pytest.mark.parametrize("method", ["trt", "sdt"])
def test_nan_in_the_input_stops_with_the_likely_causes(method, tmp_path):
    """NaN in every sample. TRT: the loss becomes NaN (the weights' penalty, once the NaN
    gradients reached the weights). SDT: the loss stays finite (NaN potentials emit no
    spikes), the epoch-end weight check stops the run. Either way the message names the
    likely causes, and no epoch is saved as completed."""
    import keras_trt as kt

    poisoned = (np.full_like(X[:16], np.nan), Y[:16])
    with pytest.raises(kt.callbacks.NonFiniteLossError) as info:
        experiments.train(tiny_model, poisoned, test_data=DATA["test_data"],
                          **{**SETTINGS, "method": method, "epochs": 2}, select_on="test",
                          output_dir=tmp_path / "nan")
    message = str(info.value)
    start = {"trt": "training stopped: the loss is nan at epoch 1, batch ",
             "sdt": "training stopped: after epoch 1 (counting from 1) "}[method]
    assert message.startswith(start), message
    for cause in ("NaN or inf values in the input data", "learning rate too high",
                  "float16 overflow"):
        assert cause in message
    assert not (tmp_path / "nan" / "backup" / "state.json").exists()
