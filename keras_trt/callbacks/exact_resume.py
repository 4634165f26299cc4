"""ExactResume: Keras' BackupAndRestore, made exact (the resumed run ends with the weights
of an uninterrupted one, bit for bit, on the same backend and seed).

After every completed epoch it writes, atomically, into `directory`:

- the weights with the optimizer state (Adam moments, step count: a learning-rate schedule
  such as `keras_trt.schedules.PerEpochCosineDecay` continues by itself);
- the completed epoch count, the best epoch of `monitor` so far (optionally the best
  model itself, `best_filepath`), the last epoch's logs and the training time;
- the random state: NumPy's and Python's global generators, torch's (on the torch
  backend), and the seed generators of the model's layers (e.g. Dropout), which
  `save_weights` leaves out.

The next `fit` with the callback restores all of it in `on_train_begin` and continues
after the last completed epoch (as BackupAndRestore, through `fit`'s initial epoch). The
data of the remaining epochs must be those of the uninterrupted run too:

- arrays (`fit(x, y, shuffle=True)`): Keras shuffles with the restored generators;
- a `tf.data.Dataset`, e.g. a `keras_trt.data` loader: give fit `wrap_dataset(dataset)`.
  Its shuffling and augmentation are re-randomised on every pass (every iterator opened),
  and how many passes Keras opens per epoch differs between backends; the wrapper counts
  the passes actually read, the count is saved with the state, and a resumed fit opens
  (without reading) as many passes as the interrupted run had, which advances the
  dataset's random state exactly as the completed epochs did. The dataset must be finite
  (one pass per epoch: fit without `steps_per_epoch`).

In a distributed run (`keras_trt.distribute`), only the chief (rank 0) writes, and every
process reads the state when it resumes: the directory must be on a file system that
every host sees, and every process must seed its generators alike (the state holds rank
0's).

The resumed run must be the same script: the same model, seed, data and callbacks (pass
`config` to have changed settings refused). Epochs cut short (a non-finite loss,
`stop_training` set within an epoch) and epochs that leave non-finite weights are not
saved. The files stay after training: a finished run, fitted again, trains no further
epoch and ends with the final weights; delete `directory` to start over. On TensorFlow,
compile with `jit_compile=True`: without XLA a resumed convolutional network was seen to
differ from the uninterrupted run by one float32 ulp in a few weights (TensorFlow's CPU
kernels are not bit-reproducible there).

```python
import tempfile
import numpy as np, keras
import keras_trt as kt

def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dropout(0.5)(inputs)))
    model.compile(optimizer="adam", loss="mse")
    return model

x, y = np.random.default_rng(0).normal(size=(2, 64, 4)).astype("float32")
y = y[:, :2]
backup = tempfile.mkdtemp()
model = build()
model.fit(x, y, epochs=2, batch_size=16, verbose=0,
          callbacks=[kt.callbacks.ExactResume(backup, monitor=None)])   # stopped after 2
model = build()                                                    # a fresh process
model.fit(x, y, epochs=4, batch_size=16, verbose=0,
          callbacks=[kt.callbacks.ExactResume(backup, monitor=None)])   # epochs 3 and 4
```
"""

import contextlib
import json
import math
import os
import random
import time
import warnings

import keras
import numpy as np

from keras_trt import backend as backend_lib
from keras_trt import distribute
from keras_trt._keras_compat import set_initial_epoch
from keras_trt.atomic_io import fsync_dir, write_json_atomic

__all__ = ["ExactResume", "STATE_FILE"]

STATE_FILE = "state.json"
_FORMAT = 1
_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1")


def _modes(monitor, mode):
    if isinstance(mode, str):
        mode = [mode] * len(monitor)
    mode = list(mode)
    if len(mode) != len(monitor):
        raise ValueError(f"ExactResume: `mode` needs one entry per monitored metric "
                         f"({len(monitor)}), got {mode!r}.")
    out = []
    for name, m in zip(monitor, mode):
        if m not in ("auto", "min", "max"):
            raise ValueError(f"ExactResume: `mode` must be 'auto', 'min' or 'max', got {m!r}.")
        if m == "auto":
            m = "max" if any(w in name for w in _MAX_WORDS) else "min"
        out.append(m)
    return out


def _fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _save_model_atomic(model, path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if path.endswith(".weights.h5"):
        tmp = path[: -len(".weights.h5")] + ".tmp.weights.h5"
        model.save_weights(tmp, overwrite=True)
    else:
        tmp = path[: -len(".keras")] + ".tmp.keras"
        model.save(tmp, overwrite=True)
    _fsync_file(tmp)
    os.replace(tmp, path)


def _numpy_state():
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_numpy_state(state):
    name, keys, pos, has_gauss, cached = state
    np.random.set_state((name, np.asarray(keys, np.uint32), pos, has_gauss, cached))


def _python_state():
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_python_state(state):
    version, internal, gauss = state
    random.setstate((version, tuple(internal), gauss))


def _seed_variables(model):
    """The model's variables that `save_weights` leaves out: layers' seed generators."""
    saved = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in saved]


class ExactResume(keras.callbacks.Callback):
    """Saves the whole training state after every epoch; the next `fit` continues exactly.

    Args:
        directory: folder of the state (`state.json` and one `.weights.h5`); used by this
            callback only.
        monitor: the logged metric whose best epoch is tracked (e.g. "val_loss"), or a
            list of metrics compared in order (the later ones break ties); None: no
            tracking.
        mode: "min", "max" or "auto" (max for accuracies, min otherwise), one per monitor.
        best_filepath: where to save the best model (`.keras`, or `.weights.h5` for the
            weights only), written before the state so they never disagree; None: not saved.
        config: JSON-able settings that define the run (hyperparameters, data); resuming
            with different ones raises ValueError instead of mixing two runs. Settings
            that the saved run did not record (added to `config` later) are not compared.
        verbose: 1 prints a line when the run resumes.

    Attributes (after `fit`, or after resuming):
        initial_epoch: the completed epochs the last `fit` started from (0: fresh).
        epochs_completed: epochs saved so far.
        best, best_epoch: the best monitored value(s) (a list) and their 1-based epoch.
        last_logs: the logs of the last completed epoch.
        training_time_s: wall time of the completed epochs, summed over every session.
        resumed: how many times the run has been resumed.
    """

    def __init__(self, directory, monitor="val_loss", mode="auto",
                 best_filepath=None, config=None, verbose=0):
        super().__init__()
        if not isinstance(directory, (str, os.PathLike)) or not str(directory):
            raise ValueError(f"ExactResume: `directory` must be a folder path, got "
                             f"{directory!r}.")
        self.directory = os.fspath(directory)
        self._passes = None
        if monitor is None:
            self.monitor = []
        elif isinstance(monitor, str):
            self.monitor = [monitor]
        else:
            self.monitor = [str(m) for m in monitor]
        self.mode = _modes(self.monitor, mode)
        if best_filepath is not None:
            best_filepath = os.fspath(best_filepath)
            if not best_filepath.endswith((".keras", ".weights.h5")):
                raise ValueError("ExactResume: `best_filepath` must end in .keras or "
                                 f".weights.h5, got {best_filepath!r}.")
        self.best_filepath = best_filepath
        if config is not None:
            try:
                config = json.loads(json.dumps(config))
            except TypeError as e:
                raise TypeError(f"ExactResume: `config` must be JSON-serialisable: {e}") \
                    from None
        self.config = config
        self.verbose = verbose
        self._reset_record()

    def wrap_dataset(self, dataset):
        """`dataset` (a finite `tf.data.Dataset`) as fit's training data, with its passes
        counted so that a resumed fit replays its random state (see the module docstring).
        """
        # tf.data code lives with the input pipelines; imported here so that callbacks
        # never import TensorFlow for array inputs.
        from keras_trt.data.counted_passes import CountedPasses

        self._passes = CountedPasses(dataset)
        return self._passes.wrapped

    def _reset_record(self):
        self.initial_epoch = 0
        self.epochs_completed = 0
        self.best = None
        self.best_epoch = None
        self.last_logs = {}
        self.training_time_s = 0.0
        self.resumed = 0
        self._missing_warned = False

    @property
    def state_path(self):
        return os.path.join(self.directory, STATE_FILE)

    def read_state(self):
        """The saved state as a dict (keys: epoch, weights, best, best_epoch, logs,
        config, training_time_s, resumed, rng), or None if nothing is saved yet."""
        if not os.path.isfile(self.state_path):
            return None
        with open(self.state_path) as f:
            state = json.load(f)
        if state.get("format") != _FORMAT:
            raise ValueError(f"ExactResume: {self.state_path} has format "
                             f"{state.get('format')!r}; this version reads {_FORMAT}.")
        return state

    # ------------------------------------------------------------------ restore
    def on_train_begin(self, logs=None):
        self._reset_record()
        state = self.read_state()
        if state is None:
            return
        saved = state.get("config")
        # A setting the saved run did not record (one a later version added) is not
        # compared: it would refuse every run saved before it existed.
        changed = [] if self.config is None or saved is None else [
            f"{k}: {saved.get(k)!r} -> {self.config.get(k)!r}" for k in sorted(saved)
            if saved[k] != self.config.get(k)]
        if changed:
            changed = ", ".join(changed)
            raise ValueError(
                f"ExactResume: the run in {self.directory} was started with other settings "
                f"({changed}); use the original ones, or another (or an emptied) directory "
                "to start over.")
        if not self.model.built:
            raise ValueError("ExactResume: the model must be built before fit() to restore "
                             "its weights; call it on a batch of data first.")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.directory, state["weights"]))
        rng = state["rng"]
        seeds = _seed_variables(self.model)
        if len(seeds) != len(rng["seed_generators"]):
            raise ValueError(
                f"ExactResume: the model has {len(seeds)} seed generators, the saved state "
                f"{len(rng['seed_generators'])}; is it the model of the saved run?")
        for variable, value in zip(seeds, rng["seed_generators"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        _set_numpy_state(rng["numpy"])
        _set_python_state(rng["python"])
        backend_lib.set_global_rng_state(rng.get("backend"))
        epoch = int(state["epoch"])
        if self._passes is not None:
            self._passes.advance_to(int(state.get("data_passes") or 0))
        set_initial_epoch(self.model, epoch)   # how Keras' BackupAndRestore resumes fit
        self.initial_epoch = self.epochs_completed = epoch
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.last_logs = dict(state.get("logs") or {})
        self.training_time_s = float(state.get("training_time_s", 0.0))
        self.resumed = int(state.get("resumed", 0)) + 1
        if self.verbose:
            print(f"ExactResume: resuming {self.directory} after epoch {epoch}")

    def on_train_end(self, logs=None):
        # Keras keeps the resumed epoch on the model; a later fit without this callback
        # must start where its caller says.
        set_initial_epoch(self.model, None)

    # --------------------------------------------------------------------- save
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(np.asarray(v)) for k, v in (logs or {}).items()
                if np.ndim(np.asarray(v)) == 0}
        steps = self.params.get("steps") if self.params else None
        loss = logs.get("loss")
        if steps and self._batches < steps or loss is not None and not math.isfinite(loss):
            self._skip(epoch, f"stopped after {self._batches} of {steps or '?'} steps "
                              f"(loss {loss})")
            return
        if not all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in self.model.weights):
            self._skip(epoch, "left NaN or inf weights")
            return
        self.training_time_s += time.perf_counter() - self._epoch_start
        if self._is_better(logs):
            self.best = [logs[m] for m in self.monitor]
            self.best_epoch = epoch + 1
            if self.best_filepath is not None and distribute.is_chief():
                _save_model_atomic(self.model, self.best_filepath)
        self.epochs_completed = epoch + 1
        self.last_logs = logs
        if distribute.is_chief():   # every rank reads the state, one writes it
            self._save(epoch + 1)

    def _skip(self, epoch, why):
        warnings.warn(f"ExactResume: epoch {epoch + 1} {why} and is not saved; a resumed "
                      f"run restarts after epoch {self.epochs_completed}.", stacklevel=3)

    def _is_better(self, logs):
        if not self.monitor:
            return False
        missing = [m for m in self.monitor if m not in logs]
        if missing:
            if not self._missing_warned:
                warnings.warn(f"ExactResume: cannot track the best epoch: {missing} not in "
                              f"the logs (available: {sorted(logs)}).", stacklevel=3)
                self._missing_warned = True
            return False
        values = [logs[m] for m in self.monitor]
        if any(math.isnan(v) for v in values):
            return False
        if self.best is None:
            return True
        for new, old, mode in zip(values, self.best, self.mode):
            if new != old:
                return new > old if mode == "max" else new < old
        return False

    def _save(self, epochs_completed):
        os.makedirs(self.directory, exist_ok=True)
        old = self.read_state()
        name = f"epoch-{epochs_completed:05d}.weights.h5"
        path = os.path.join(self.directory, name)
        self.model.save_weights(path, overwrite=True)
        _fsync_file(path)
        state = {
            "format": _FORMAT,
            "epoch": epochs_completed,
            "weights": name,
            "monitor": self.monitor,
            "mode": self.mode,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "logs": self.last_logs,
            "config": self.config,
            "training_time_s": self.training_time_s,
            "resumed": self.resumed,
            "data_passes": None if self._passes is None else self._passes.opened,
            "rng": {
                "numpy": _numpy_state(),
                "python": _python_state(),
                "backend": backend_lib.global_rng_state(),
                "seed_generators": [keras.ops.convert_to_numpy(v).tolist()
                                    for v in _seed_variables(self.model)],
            },
        }
        # The state names its weights file and replaces the old state only once that file
        # is complete: a run killed at any moment leaves a consistent pair.
        write_json_atomic(self.state_path, state, indent=1)
        fsync_dir(self.directory)
        if old is not None and old.get("weights") != name:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self.directory, old["weights"]))
