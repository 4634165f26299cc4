"""Killing a training subprocess mid-epoch, robustly and in bounded time.

The child adds `PauseAtStep(marker, epoch, batch)` to its callbacks: after that batch it
writes `marker` and waits; the parent (`run_and_kill`) polls for the marker and sends
SIGKILL, so the kill lands inside a known epoch, between two optimizer steps, with no
cleanup in the child (no `finally`, no `on_train_end`).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras


class PauseAtStep(keras.callbacks.Callback):
    """Writes `marker` after 0-based (`epoch`, `batch`) and sleeps until killed."""

    def __init__(self, marker, epoch, batch, wait_s=600):
        super().__init__()
        self.marker, self.target, self.wait_s = Path(marker), (epoch, batch), wait_s
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.target:
            self.marker.write_text(f"epoch {self.epoch} batch {batch}\n")
            time.sleep(self.wait_s)
            raise SystemExit("PauseAtStep: not killed in time")


def child_env(**extra):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    env.update(extra)
    return env


def run(code, env, log, timeout=600):
    """Runs `python -c code`; fails with the child's output if it fails."""
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-c", code], env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=timeout)
    assert done.returncode == 0, Path(log).read_text()[-4000:]


def run_and_kill(code, env, marker, log, timeout=600):
    """Runs `python -c code` until `marker` exists, then SIGKILLs it; returns the signal."""
    marker = Path(marker)
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            while not marker.exists():
                if child.poll() is not None:
                    raise AssertionError(f"the child exited ({child.returncode}) before "
                                         f"the marker:\n{Path(log).read_text()[-4000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no marker after {timeout} s:\n"
                                         f"{Path(log).read_text()[-4000:]}")
                time.sleep(0.05)
            child.send_signal(signal.SIGKILL)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=60)
    return -child.returncode
