"""The recipes' --resume after a SIGKILL in the middle of an epoch: the quick start (TRT,
tiny budget, default --jit) killed and resumed ends with the weights, log and best epoch
of an uninterrupted run, bit for bit."""

import json

import keras
import numpy as np

import keras_trt.models  # noqa: F401 - registers the layers that the .keras files name

from tests.kill_helpers import child_env, run, run_and_kill
from tests.recipes.run_folder import RECIPES

ARGS = ["--methods", "trt", "--epochs", "2", "--max-steps", "3", "--batch-size", "8",
        "--timesteps", "2", "--widths", "4,8", "--verbose", "0", "--seed", "0"]
CHILD = ("import runpy; quickstart = runpy.run_path({script!r}); "
         "quickstart['main']({argv!r}{callbacks})")
PAUSE = (", callbacks=[__import__('tests.kill_helpers', fromlist=['PauseAtStep'])"
         ".PauseAtStep({marker!r}, epoch=1, batch=1)]")


def child(argv, callbacks=""):
    return CHILD.format(script=str(RECIPES / "quickstart.py"), argv=argv, callbacks=callbacks)


def weights(path):
    return keras.saving.load_model(path, compile=False).get_weights()


def test_recipe_killed_mid_epoch_resumes_bit_identical(tmp_path):
    env = child_env(KERAS_BACKEND=keras.backend.backend())
    full, killed = tmp_path / "full", tmp_path / "killed"
    run(child([*ARGS, "--output-dir", str(full)]), env, tmp_path / "full.log")

    marker = tmp_path / "marker"
    code = child([*ARGS, "--output-dir", str(killed)], PAUSE.format(marker=str(marker)))
    assert run_and_kill(code, env, marker, tmp_path / "killed.log") == 9
    run_dir = killed / "trt"
    assert json.loads((run_dir / "backup" / "state.json").read_text())["epoch"] == 1
    assert not (run_dir / "results.json").exists()

    run(child([*ARGS, "--output-dir", str(killed), "--resume"]), env, tmp_path / "resumed.log")
    assert "Resuming" in (tmp_path / "resumed.log").read_text()
    for a, b in zip(weights(full / "trt" / "last.keras"), weights(run_dir / "last.keras")):
        np.testing.assert_array_equal(a, b)
    assert (run_dir / "log.csv").read_text() == (full / "trt" / "log.csv").read_text()
    before = json.loads((full / "trt" / "results.json").read_text())
    after = json.loads((run_dir / "results.json").read_text())
    for key in ("epochs", "best_epoch", "best_test_accuracy", "final_test_accuracy",
                "final_train_loss"):
        assert after[key] == before[key], key
    assert after["resumed"] == 1
