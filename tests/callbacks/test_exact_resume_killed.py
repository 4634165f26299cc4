"""A user script with `ExactResume`, SIGKILLed in the middle of an epoch and run again,
ends with the weights of an uninterrupted run, bit for bit (three child processes)."""

import json

import keras
import numpy as np

from tests.kill_helpers import child_env, run, run_and_kill

SCRIPT = "from tests.callbacks.resume_user_script import main; main({backup!r}, {out!r}{extra})"
PAUSE = (", [__import__('tests.kill_helpers', fromlist=['PauseAtStep'])"
         ".PauseAtStep({marker!r}, epoch=1, batch=2)]")


def test_killed_user_script_resumes_bit_identical(tmp_path):
    env = child_env(KERAS_BACKEND=keras.backend.backend())
    full, killed = tmp_path / "full", tmp_path / "killed"
    run(SCRIPT.format(backup=str(full), out=str(tmp_path / "full.npz"), extra=""), env,
        tmp_path / "full.log")

    marker = tmp_path / "marker"
    code = SCRIPT.format(backup=str(killed), out=str(tmp_path / "never.npz"),
                         extra=PAUSE.format(marker=str(marker)))
    assert run_and_kill(code, env, marker, tmp_path / "killed.log") == 9
    # Killed after 3 batches of epoch 2: epoch 1 is the last saved one.
    assert json.loads((killed / "state.json").read_text())["epoch"] == 1
    assert not (tmp_path / "never.npz").exists()

    run(SCRIPT.format(backup=str(killed), out=str(tmp_path / "resumed.npz"), extra=""), env,
        tmp_path / "resumed.log")
    a, b = np.load(tmp_path / "full.npz"), np.load(tmp_path / "resumed.npz")
    assert a.files == b.files and len(a.files) >= 6
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])
    state = json.loads((killed / "state.json").read_text())
    assert state["epoch"] == 3 and state["resumed"] == 1
