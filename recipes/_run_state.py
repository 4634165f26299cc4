"""A recipe run's files and its exact resumption (`--resume`).

After every epoch the model and optimizer state, the epoch count, the best-so-far record
and the elapsed time are written atomically under `<output-dir>/backup/`; best.keras and
last.keras are saved as the reference code keeps them (best test accuracy, ties broken by
lower test loss). Together with the epoch stream of `_data_stream` and a learning rate
that is a function of the epoch index, a resumed run ends with the same weights as an
uninterrupted one on the same backend and seed.

```python
import _run_state
state = _run_state.prepare_output_dir(args)   # refuses to mix runs; --overwrite cleans
if args.resume and state.exists():
    saved = state.restore(model)              # weights + optimizer; saved["epoch"]
```
"""

import contextlib
import csv
import json
import os
import time

from _cli import fail


def _atomic_write_json(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_json_default)
    os.replace(tmp, path)


def _json_default(o):
    try:
        return o.item()
    except AttributeError:
        return str(o)


def _save_model_atomic(model, path):
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def _make_callback_base():
    import keras
    return keras.callbacks.Callback


class RunState:
    """The resumable state of a run: `<output-dir>/backup/state.json` + a weights file.

    state.json names the weights file of the same epoch, and is replaced atomically after
    that file is complete, so a run killed at any moment leaves a consistent pair.
    """

    def __init__(self, output_dir):
        self.dir = os.path.join(output_dir, "backup")
        self.path = os.path.join(self.dir, "state.json")

    def exists(self):
        return os.path.isfile(self.path)

    def read(self):
        with open(self.path) as f:
            return json.load(f)

    def write(self, model, state):
        os.makedirs(self.dir, exist_ok=True)
        name = f"epoch-{state['epoch']:04d}.weights.h5"
        model.save_weights(os.path.join(self.dir, name), overwrite=True)
        old = self.read().get("weights") if self.exists() else None
        _atomic_write_json(self.path, {**state, "weights": name})
        if old and old != name:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self.dir, old))

    def restore(self, model):
        """Loads weights and optimizer state; returns the saved state dict."""
        state = self.read()
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.dir, state["weights"]))
        return state


# Arguments that change the trajectory: a resumed run must use the same values.
RUN_DEFINING = ("method", "eta", "lam", "decay", "epsilon", "tet_lam", "tet_phi", "tau",
                "timesteps", "widths", "epochs", "batch_size", "lr", "seed", "max_steps",
                "mixed_precision", "image_size", "frame_size")


def run_config(args):
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(args).items() if k in RUN_DEFINING}


def make_training_callbacks(output_dir, run_state, best, epoch_times, config, extra=None):
    """best.keras, last.keras and the backup state after every epoch (in this order)."""
    Callback = _make_callback_base()

    class Checkpoints(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            acc = float(logs.get("val_accuracy", float("nan")))
            loss = float(logs.get("val_mean_logit_crossentropy", float("inf")))
            # The reference keeps the highest test accuracy, ties broken by lower test loss.
            if best.get("accuracy") is None or acc > best["accuracy"] or (
                    acc == best["accuracy"] and loss < best["loss"]):
                best.update(accuracy=acc, loss=loss, epoch=epoch + 1)
                _save_model_atomic(self.model, os.path.join(output_dir, "best.keras"))
            _save_model_atomic(self.model, os.path.join(output_dir, "last.keras"))
            epoch_times.append(time.perf_counter() - self._t0)
            run_state.write(self.model, {
                **(extra or {}), "epoch": epoch + 1, "best": dict(best), "config": config,
                "elapsed_s": run_state_elapsed(epoch_times),
                "last_logs": {k: float(v) for k, v in logs.items()},
            })

    return Checkpoints()


def run_state_elapsed(epoch_times):
    return float(sum(epoch_times)) + epoch_times.offset


class _Times(list):
    offset = 0.0


def _truncate_csv(path, epochs_done):
    """Keep the header and the rows of epochs < epochs_done (0-based epoch column)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[0])) < epochs_done]
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(kept)


def read_log(output_dir):
    """log.csv as {column: [values]} (floats)."""
    path = os.path.join(output_dir, "log.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def prepare_output_dir(args):
    out = args.output_dir
    state = RunState(out)
    if state.exists() and not args.resume and not args.overwrite:
        fail(f"{out} already holds a run; pass --resume to continue it, --overwrite to "
             "start over, or choose another --output-dir")
    if args.resume and state.exists():
        saved = state.read().get("config", {})
        changed = [f"--{k.replace('_', '-')} {saved[k]} -> {v}"
                   for k, v in run_config(args).items() if k in saved and saved[k] != v]
        if changed:
            fail(f"cannot resume {out} with different settings ({'; '.join(changed)}); "
                 "resume with the original ones, or pass --overwrite to start over")
    if args.overwrite:
        import shutil
        for name in ("backup", "logs", "log.csv", "best.keras", "last.keras", "results.json"):
            p = os.path.join(out, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
    os.makedirs(out, exist_ok=True)
    return state
