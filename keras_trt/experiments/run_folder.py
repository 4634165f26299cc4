"""A run's folder: what it holds, and how resuming and overwriting treat it.

```text
<output_dir>/log.csv       one row per epoch (cut back to the completed epochs on resume):
                           val_* on the validation split, test_* on the test split
             logs/         TensorBoard
             best.keras    the best epoch by the selection split's accuracy (ties: lower
                           loss)
             last.keras    the last completed epoch
             backup/       keras_trt.callbacks.ExactResume's state (what a resume reads)
             results.json
```

```python
import tempfile
from keras_trt.experiments import run_folder

folder = tempfile.mkdtemp()
resume = run_folder.exact_resume(folder, select_on="test", config={"seed": 0})
print(resume.read_state(), resume.monitor[0])   # None test_accuracy
```
"""

import contextlib
import csv
import importlib.util
import os
import shutil
import tempfile

import numpy as np

from keras_trt.experiments.errors import RunFolderError

__all__ = ["BACKUP", "FILES", "exact_resume", "follower_output_dir", "read_log",
           "start_log", "selection_monitor", "run_callbacks", "tensorboard_callback",
           "has_saved_state"]

BACKUP = "backup"
FILES = {"log": "log.csv", "tensorboard": "logs", "best": "best.keras", "last": "last.keras"}
_RUN_FILES = (BACKUP, "logs", "log.csv", "best.keras", "last.keras", "results.json")


def selection_monitor(select_on):
    """The logged metrics that choose the best epoch: accuracy, then loss for ties."""
    prefix = "val_" if select_on == "validation" else "test_"
    return (f"{prefix}accuracy", f"{prefix}mean_logit_crossentropy")


def has_saved_state(output_dir):
    """Whether `output_dir` holds a run that completed at least one epoch."""
    return os.path.isfile(os.path.join(output_dir, BACKUP, "state.json"))


def exact_resume(output_dir, select_on="validation", config=None, resume=False,
                 overwrite=False):
    """The run's `ExactResume` callback (best.keras by the accuracy of `select_on`'s split,
    ties broken by the lower loss, as the reference keeps it), after checking the folder:
    a run there is continued only with `resume` and the same `config`, replaced only with
    `overwrite` (RunFolderError otherwise)."""
    import keras_trt as kt

    if resume and overwrite:
        raise ValueError("`resume` and `overwrite` exclude each other.")
    if overwrite:
        for name in _RUN_FILES:
            path = os.path.join(output_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    os.makedirs(output_dir, exist_ok=True)
    callback = kt.callbacks.ExactResume(
        os.path.join(output_dir, BACKUP), monitor=selection_monitor(select_on),
        mode=("max", "min"), best_filepath=os.path.join(output_dir, FILES["best"]),
        config=config)
    saved = callback.read_state()
    if saved is not None and not resume:
        raise RunFolderError(
            f"{output_dir} already holds a run; pass resume=True to continue it, "
            "overwrite=True to start over, or choose another output_dir",
            output_dir, "exists")
    if saved is not None:
        before = saved.get("config") or {}
        changed = [(k, before[k], v) for k, v in (callback.config or {}).items()
                   if k in before and before[k] != v]
        if changed:
            text = "; ".join(f"{k} {old} -> {new}" for k, old, new in changed)
            raise RunFolderError(
                f"cannot resume {output_dir} with different settings ({text}); resume "
                "with the original ones, or pass overwrite=True to start over",
                output_dir, "changed", changed)
    return callback


def follower_output_dir(output_dir, resume, distribute):
    """The folder this process of a distributed run writes: `output_dir` on the chief;
    any other process writes into a temporary folder (all processes save, as
    tf.distribute needs, but one run folder holds the chief's files only), holding a copy
    of the chief's `backup/` so that a resume restores the same state everywhere (the run
    folder must then be on a filesystem every host sees)."""
    import keras_trt as kt

    if not distribute or kt.distribute.is_chief():
        return output_dir
    follower = tempfile.mkdtemp(prefix="keras-trt-worker-")
    backup = os.path.join(output_dir, BACKUP)
    if resume and os.path.isdir(backup):
        shutil.copytree(backup, os.path.join(follower, BACKUP))
    return follower


def start_log(output_dir, epochs_done):
    """log.csv keeps the rows of the completed epochs (all of them on a fresh run: none)."""
    path = os.path.join(output_dir, FILES["log"])
    if epochs_done == 0:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return path
    if os.path.isfile(path):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if rows:
            # A run killed after logging an epoch but before saving it redoes that epoch.
            kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[0])) < epochs_done]
            with open(path, "w", newline="") as f:
                csv.writer(f, lineterminator="\n").writerows(kept)
    return path


def read_log(output_dir):
    """log.csv as `{column: float array}` (`keras_trt.analysis.read_csv_log`), without the
    columns that are NA throughout (CSVLogger adds empty val_* columns to a run without
    validation data)."""
    from keras_trt.analysis import read_csv_log

    log = read_csv_log(os.path.join(output_dir, FILES["log"]))
    return {k: v for k, v in log.items() if not np.isnan(v).all()}


def run_callbacks(output_dir):
    """last.keras after every epoch, and the epoch's learning rate in the logs (log.csv's
    `learning_rate` column: the optimizer's schedule is not a Keras callback)."""
    import keras

    class SaveLast(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            path = os.path.join(output_dir, FILES["last"])
            tmp = os.path.join(output_dir, "last.tmp.keras")
            self.model.save(tmp)
            os.replace(tmp, path)

    class LogLearningRate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = self._rate

    return LogLearningRate(), SaveLast()


def tensorboard_callback(log_dir):
    """[TensorBoard callback], or [] with a note when the tensorboard package is missing
    (it comes with the `recipes` extra; the CSV log is always written)."""
    import keras

    if importlib.util.find_spec("tensorboard") is None:
        print("note: tensorboard is not installed, so no TensorBoard logs are written "
              '(pip install "keras-trt[recipes]"); log.csv has every epoch.')
        return []
    return [keras.callbacks.TensorBoard(log_dir, write_graph=False)]

