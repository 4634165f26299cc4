"""The quick start (reduced budget) and exact resumption after a simulated crash."""

import json

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()
TINY = ["--epochs", "1", "--max-steps", "1", "--batch-size", "16", "--timesteps", "4",
        "--widths", "4,8", "--verbose", "0", "--seed", "0",
        *(["--jit", "off"] if BACKEND == "tensorflow" else [])]
# All three methods on torch; two elsewhere (each method compiles its own step).
METHODS = ("sdt", "tet", "trt") if BACKEND == "torch" else ("sdt", "trt")


def test_quickstart_reduced_budget(recipe_module, tmp_path, capsys):
    out = tmp_path / "qs"
    summary = recipe_module("quickstart").main(
        [*TINY, "--methods", ",".join(METHODS), "--output-dir", str(out)])
    printed = capsys.readouterr().out
    for method in METHODS:
        assert method.upper() in printed.split("train acc")[-1]
    assert "gap" in printed
    assert "python recipes/study.py" in printed.split("gap")[-1]   # the study's finding
    for f in ("results.json", "table.txt", "learning_curves.png", "sdt/log.csv",
              "trt/results.json", "trt/best.keras"):
        assert (out / f).exists(), f
    saved = json.loads((out / "results.json").read_text())
    assert [m["method"] for m in saved["methods"]] == list(METHODS)
    for row in saved["methods"]:
        assert row["gap"] == pytest.approx(row["train_accuracy"] - row["test_accuracy"])
    assert saved == json.loads(json.dumps(summary))
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


class Crash(keras.callbacks.Callback):
    """Raises in the middle of epoch `epoch` (after its first batch), like a killed run."""

    def __init__(self, epoch):
        super().__init__()
        self.crash_epoch = epoch
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.crash_epoch:
            raise KeyboardInterrupt("simulated crash")


def test_resume_after_crash_matches_uninterrupted_run(recipe_module, tmp_path):
    common = recipe_module("_common")
    recipe = recipe_module("quickstart").RECIPE
    argv = ["--epochs", "3", "--max-steps", "2", "--batch-size", "16", "--timesteps", "4",
            "--widths", "4,8", "--verbose", "0", "--seed", "0", "--method", "trt"]

    full = common.train(recipe, common.parse_args(recipe, [*argv, "--output-dir",
                                                           str(tmp_path / "full")]))
    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        common.train(recipe, common.parse_args(recipe, [*argv, "--output-dir", str(crashed)]),
                     callbacks=[Crash(epoch=2)])
    assert json.loads((crashed / "backup" / "state.json").read_text())["epoch"] == 2
    # Without --resume the folder is protected: a one-line error, no traceback.
    with pytest.raises(SystemExit, match="--resume"):
        common.train(recipe, common.parse_args(recipe, [*argv, "--output-dir", str(crashed)]))
    # Resuming with settings that change the trajectory is refused (one line).
    with pytest.raises(SystemExit, match="different settings.*--epochs 3 -> 4"):
        common.train(recipe, common.parse_args(
            recipe, [*argv, "--epochs", "4", "--output-dir", str(crashed), "--resume"]))
    resumed = common.train(recipe, common.parse_args(
        recipe, [*argv, "--output-dir", str(crashed), "--resume"]))

    for a, b in zip(full["model_object"].get_weights(), resumed["model_object"].get_weights()):
        np.testing.assert_array_equal(a, b)
    opt_a = [keras.ops.convert_to_numpy(v) for v in full["model_object"].optimizer.variables]
    opt_b = [keras.ops.convert_to_numpy(v) for v in resumed["model_object"].optimizer.variables]
    for a, b in zip(opt_a, opt_b):
        np.testing.assert_array_equal(a, b)
    # The CSV log continues (no duplicated or missing epochs), the best tracking too.
    assert (crashed / "log.csv").read_text() == (tmp_path / "full" / "log.csv").read_text()
    assert resumed["best_test_accuracy"] == full["best_test_accuracy"]
    assert resumed["best_epoch"] == full["best_epoch"] and resumed["resumed"] == 1
    assert resumed["epochs"] == 3


def test_resume_with_other_dvs_frames_is_refused(recipe_module, tmp_path):
    """--frames changes the data (counts vs the reference's binary frames): a run saved
    with one is not continued with the other."""
    common, folder = recipe_module("_common"), recipe_module("_run_folder")
    recipe = recipe_module("dvs_cifar10_vggsnn").RECIPE
    argv = ["--epochs", "2", "--output-dir", str(tmp_path / "dvs")]
    saved = common.parse_args(recipe, [*argv, "--frames", "counts"])
    (tmp_path / "dvs" / "backup").mkdir(parents=True)
    (tmp_path / "dvs" / "backup" / "state.json").write_text(json.dumps(
        {"format": 1, "epoch": 1, "config": folder.run_config(saved)}))
    with pytest.raises(SystemExit, match="different settings.*--frames counts -> reference"):
        folder.exact_resume(common.parse_args(recipe, [*argv, "--frames", "reference",
                                                       "--resume"]))
    assert folder.exact_resume(common.parse_args(recipe, [*argv, "--frames", "counts",
                                                          "--resume"])).read_state()


@pytest.mark.parametrize("method", ["trt", "sdt"])
def test_nan_in_the_input_stops_with_a_one_line_error(method, recipe_module, tmp_path):
    """NaN injected in every batch's first sample. TRT: the loss becomes NaN (the weights'
    penalty, once the NaN gradients reached the weights). SDT: the loss stays finite (NaN
    potentials emit no spikes), the epoch-end weight check stops the run. Either way one
    line that names the likely causes, and no epoch saved as completed."""
    import tensorflow as tf

    common = recipe_module("_common")
    recipe = recipe_module("quickstart").RECIPE
    args = common.parse_args(recipe, ["--epochs", "2", "--max-steps", "3", "--batch-size", "8",
                                      "--timesteps", "2", "--widths", "4,8", "--verbose", "0",
                                      "--method", method, "--output-dir", str(tmp_path / "nan"),
                                      *(["--jit", "off"] if BACKEND == "tensorflow" else [])])
    clean = common.load_split(recipe, args, "train")
    poisoned = clean.map(lambda x, y: (tf.concat([x[:1] * np.nan, x[1:]], 0), y))
    with pytest.raises(SystemExit) as info:
        common.train(recipe, args, train_data=poisoned)
    message = str(info.value)
    start = {"trt": "error: training stopped: the loss is nan at epoch 1, batch ",
             "sdt": "error: training stopped: after epoch 1 (counting from 1) "}[method]
    assert message.startswith(start) and "\n" not in message
    for cause in ("NaN or inf values in the input data", "learning rate too high",
                  "labels outside the classes 0..9", "float16 overflow"):
        assert cause in message
    assert not (tmp_path / "nan" / "backup" / "state.json").exists()
