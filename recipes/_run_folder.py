"""A recipe run's folder: what it holds, and how `--resume` and `--overwrite` treat it.

```text
<output-dir>/log.csv       one row per epoch (cut back to the completed epochs on --resume):
                           val_* on the validation split, test_* on the test split
             logs/         TensorBoard
             best.keras    the best epoch by --select-on's accuracy (ties: lower loss)
             last.keras    the last completed epoch
             backup/       keras_trt.callbacks.ExactResume's state (what --resume reads)
             results.json
```

```python
import _run_folder
resume = _run_folder.exact_resume(args)   # refuses to mix runs; --overwrite cleans
```
"""

import contextlib
import csv
import json
import os
import shutil

from _cli import fail

BACKUP = "backup"
# Arguments that change the trajectory: a resumed run must use the same values.
RUN_DEFINING = ("method", "eta", "lam", "decay", "epsilon", "tet_lam", "tet_phi", "tau",
                "timesteps", "widths", "epochs", "batch_size", "lr", "seed", "max_steps",
                "mixed_precision", "image_size", "frame_size", "select_on",
                "validation_fraction", "validation_seed", "train_samples", "frames")


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


def run_config(args):
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(args).items() if k in RUN_DEFINING}


def exact_resume(args):
    """The run's `ExactResume` callback (best.keras by the accuracy of --select-on's split,
    ties broken by the lower loss, as the reference keeps it), after checking the folder: a
    run there is continued only with --resume and the same settings, replaced only with
    --overwrite.
    """
    import keras_trt as kt

    out = args.output_dir
    if args.overwrite:
        for name in (BACKUP, "logs", "log.csv", "best.keras", "last.keras", "results.json"):
            p = os.path.join(out, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
    os.makedirs(out, exist_ok=True)
    resume = kt.callbacks.ExactResume(
        os.path.join(out, BACKUP), monitor=selection_monitor(args),
        mode=("max", "min"), best_filepath=os.path.join(out, "best.keras"),
        config=run_config(args))
    saved = resume.read_state()
    if saved is not None and not args.resume:
        fail(f"{out} already holds a run; pass --resume to continue it, --overwrite to "
             "start over, or choose another --output-dir")
    if saved is not None:
        before = saved.get("config") or {}
        changed = [f"--{k.replace('_', '-')} {before[k]} -> {v}"
                   for k, v in run_config(args).items() if k in before and before[k] != v]
        if changed:
            fail(f"cannot resume {out} with different settings ({'; '.join(changed)}); "
                 "resume with the original ones, or pass --overwrite to start over")
    return resume


def follower_output_dir(args):
    """`args` for this process of a distributed run: unchanged on the chief; any other
    process writes into a temporary folder (all processes save, as tf.distribute needs,
    but one run folder holds the chief's files only), holding a copy of the chief's
    `backup/` so that --resume restores the same state everywhere (the run folder must
    then be on a filesystem every host sees)."""
    import copy
    import tempfile

    import keras_trt as kt

    if getattr(args, "distribute", "none") != "auto" or kt.distribute.is_chief():
        return args
    follower = copy.copy(args)
    follower.output_dir = tempfile.mkdtemp(prefix="keras-trt-worker-")
    backup = os.path.join(args.output_dir, BACKUP)
    if args.resume and os.path.isdir(backup):
        shutil.copytree(backup, os.path.join(follower.output_dir, BACKUP))
    return follower


def selection_monitor(args):
    """The logged metrics that choose the best epoch: accuracy, then loss for ties."""
    prefix = "val_" if getattr(args, "select_on", "test") == "validation" else "test_"
    return (f"{prefix}accuracy", f"{prefix}mean_logit_crossentropy")


def start_log(output_dir, epochs_done):
    """log.csv keeps the rows of the completed epochs (all of them on a fresh run: none)."""
    path = os.path.join(output_dir, "log.csv")
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
    """log.csv as {column: [values]} (floats; NaN for Keras' "NA"), without the columns
    that are NA throughout (CSVLogger adds empty val_* columns to a run without
    validation data)."""
    path = os.path.join(output_dir, "log.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    log = {k: [float("nan") if r[k] in ("NA", "") else float(r[k]) for r in rows]
           for k in (rows[0] if rows else {})}
    return {k: v for k, v in log.items() if not all(x != x for x in v)}


def run_callbacks(output_dir):
    """last.keras after every epoch, and the epoch's learning rate in the logs (log.csv's
    `learning_rate` column: the optimizer's schedule is not a Keras callback)."""
    import keras

    class SaveLast(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            path = os.path.join(output_dir, "last.keras")
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
