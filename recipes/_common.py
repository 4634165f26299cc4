"""What every recipe shares: the command line, the data stream, the training loop.

A recipe script only declares a `Recipe` (dataset, model, the paper's hyperparameters) and
calls `main(RECIPE)`. Training follows the reference code (SPEC 6): Adam (lr 1e-3, epsilon
1e-8), cosine annealing to 0 stepped per epoch, evaluation on the test split after every
epoch, the best checkpoint by test accuracy (ties: lower test loss) and the last one, a
CSV log, TensorBoard logs and a `results.json` that reports both the final and the best
test accuracy (SPEC Decision 6).

Exact resumption (`--resume`): after every epoch the model and optimizer state, the epoch
count, the best-so-far record and the elapsed time are written atomically under
`<output-dir>/backup/`. Every epoch's training batches are the k-th pass over one seeded
tf.data pipeline; a resumed run fast-forwards that pipeline's random state by opening (not
reading) k iterators, so the shuffling and augmentation of epoch k are those of the
uninterrupted run, and the learning rate is a function of the epoch index. A resumed run
therefore ends with the same weights as an uninterrupted one on the same backend and seed.
"""

import argparse
import contextlib
import csv
import dataclasses
import importlib.util
import inspect
import json
import math
import os
import sys
import time
from typing import Callable, Optional

# Quiet TensorFlow's C++ start-up chatter before anything imports it (tf.data, TensorBoard).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

METHODS = ("trt", "tet", "sdt")
SPEC_DECISION_6 = ("The paper reports the best test accuracy over all epochs (the test set "
                   "doubles as the validation set); `final_test_accuracy` is the last epoch's.")


@dataclasses.dataclass
class Recipe:
    """One experiment: its data, its model and its paper defaults (SPEC 3.3, 9).

    `build_model(args)` returns a compiled-less `keras_trt.SpikingModel`; `loader_kwargs(
    args, split)` the keyword arguments of `keras_trt.data.<dataset>` beyond split,
    data_dir, batch_size and seed.
    """

    name: str
    dataset: str
    num_classes: int
    description: str
    build_model: Callable
    eta: float
    lam: float
    decay: float
    tet_lam: float
    tau: float = 2.0
    epsilon: float = 1e-5
    epochs: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    timesteps: Optional[int] = None          # None: fixed by the data (DVS: 10 frames)
    timestep_choices: Optional[tuple] = None
    loader_kwargs: Callable = lambda args, split: {}
    needs_data_dir: bool = True
    extra_args: Callable = lambda parser: None
    paper: dict = dataclasses.field(default_factory=dict)   # method -> reported accuracy


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _unit_float(text):
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _positive_float(text):
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _widths(text):
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated channel counts such as 16,32,64, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"channel counts must be positive, got {text!r}")
    return widths


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are one line (`prog: error: ...`) without the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _methods(text):
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise argparse.ArgumentTypeError(
            f"unknown method {','.join(bad) or text!r}; choose from {', '.join(METHODS)}")
    return methods


def build_parser(recipe, prog=None, several_methods=False):
    """The shared command line, with `recipe`'s paper defaults.

    `several_methods`: `--methods sdt,tet,trt` (a comparison) instead of `--method trt`.
    """
    p = _OneLineParser(prog=prog or f"{recipe.name}.py", description=recipe.description,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("method")
    if several_methods:
        g.add_argument("--methods", type=_methods, default=("sdt", "tet", "trt"),
                       help="comma-separated methods to train and compare")
    else:
        g.add_argument("--method", choices=METHODS, default="trt",
                       help="trt: TRTLoss + time-decaying weight penalty; tet: TETLoss; "
                            "sdt: CE of the time-averaged logits")
    g.add_argument("--eta", type=_unit_float, default=recipe.eta,
                   help="TRT: weight of the MSE-to-one-hot term")
    g.add_argument("--lam", type=_non_negative_float, default=recipe.lam,
                   help="TRT: weight penalty strength lambda")
    g.add_argument("--decay", type=_non_negative_float, default=recipe.decay,
                   help="TRT: decay factor delta of the penalty over timesteps")
    g.add_argument("--epsilon", type=_non_negative_float, default=recipe.epsilon,
                   help="TRT: shift of |w| in the penalty's denominator")
    g.add_argument("--tet-lam", type=_unit_float, default=recipe.tet_lam,
                   help="TET: weight of the MSE term (TET's official value for this dataset)")
    g.add_argument("--tet-phi", type=float, default=1.0, help="TET: MSE target phi")
    g = p.add_argument_group("model")
    g.add_argument("--tau", type=float, default=recipe.tau, help="LIF time constant (>= 1)")
    if recipe.timestep_choices:
        g.add_argument("--timesteps", type=int, choices=recipe.timestep_choices,
                       default=recipe.timesteps, help="T, presentations of each image")
    elif recipe.timesteps is not None:
        g.add_argument("--timesteps", type=_positive_int, default=recipe.timesteps,
                       help="T, the number of timesteps")
    g.add_argument("--widths", type=_widths, default=None,
                   help="override the model's channel widths (comma-separated), e.g. for "
                        "smoke tests; default: the paper's network")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, default=recipe.epochs)
    g.add_argument("--batch-size", type=_positive_int, default=recipe.batch_size)
    g.add_argument("--lr", type=_positive_float, default=recipe.lr,
                   help="initial Adam learning rate (cosine-annealed to 0 per epoch)")
    g.add_argument("--seed", type=int, default=42,
                   help="seed of initialisation, shuffling and augmentation")
    g.add_argument("--mixed-precision", nargs="?", const="auto", default=None,
                   choices=("auto", "mixed_float16", "mixed_bfloat16"),
                   help="mixed precision policy; bare flag: mixed_float16 on a GPU (as "
                        "the paper's AMP), mixed_bfloat16 on CPU")
    g.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                   help="compile the training step: auto = Keras' choice (jit on JAX, "
                        "XLA on TensorFlow with a GPU, eager torch: the fastest measured "
                        "on CPU, docs/performance.md); on = torch.compile / XLA / jit")
    g.add_argument("--max-steps", type=_positive_int, default=None,
                   help="cap training and evaluation steps per epoch (smoke runs)")
    g = p.add_argument_group("input/output")
    g.add_argument("--data-dir", default=None,
                   help="dataset folder (default $KERAS_TRT_DATA_DIR; see docs/datasets.md)")
    g.add_argument("--output-dir", default=None,
                   help=f"run folder (default runs/{recipe.name}-<method>)")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --output-dir from its last completed epoch")
    g.add_argument("--overwrite", action="store_true",
                   help="start over in an --output-dir that already holds a run")
    g.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="Keras verbosity: 1 progress bars, 2 one line per epoch, 0 silent")
    recipe.extra_args(p)
    return p


def parse_args(recipe, argv=None, prog=None, several_methods=False):
    parser = build_parser(recipe, prog, several_methods)
    args = parser.parse_args(argv)
    if args.tau < 1:
        parser.error(f"--tau must be >= 1 (leak factor 1/tau), got {args.tau}")
    if args.data_dir is not None and not os.path.isdir(os.path.expanduser(args.data_dir)):
        parser.error(f"--data-dir {args.data_dir} does not exist")
    if args.output_dir is None:
        suffix = f"-T{args.timesteps}" if recipe.timestep_choices else ""
        method = "" if several_methods else f"-{args.method}"
        args.output_dir = os.path.join("runs", f"{recipe.name}{suffix}{method}")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    return args


def fail(message):
    """Exit with status 1 and a one-line message (no traceback)."""
    raise SystemExit(f"error: {' '.join(str(message).split())}")


# ---------------------------------------------------------------------------------------
# Backend set-up, loss, optimizer, schedule
# ---------------------------------------------------------------------------------------

def backend_name():
    import keras
    return keras.backend.backend()


def has_gpu():
    backend = backend_name()
    try:
        if backend == "torch":
            import torch
            return torch.cuda.is_available()
        if backend == "jax":
            import jax
            return jax.default_backend() == "gpu"
        if backend == "tensorflow":
            import tensorflow as tf
            return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - a missing driver means no GPU
        return False
    return False


def resolve_jit(jit):
    """--jit -> compile(jit_compile=...): "auto" is Keras' own choice (jit on JAX, XLA on
    TensorFlow only on a GPU, eager torch), the fastest measured on CPU for the paper's
    networks (docs/performance.md)."""
    return {"on": True, "off": False}.get(jit, "auto")


def resolve_policy(mixed_precision):
    if mixed_precision in (None, "float32"):
        return "float32"
    if mixed_precision == "auto":
        return "mixed_float16" if has_gpu() else "mixed_bfloat16"
    return mixed_precision


def make_loss(args):
    import keras_trt as kt
    if args.method == "trt":
        return kt.losses.TRTLoss(eta=args.eta, lam=args.lam, decay=args.decay,
                                 epsilon=args.epsilon)
    if args.method == "tet":
        return kt.losses.TETLoss(lam=args.tet_lam, phi=args.tet_phi)
    return kt.losses.SDTLoss()


def method_hyperparameters(args):
    """The hyperparameters that the chosen method actually uses."""
    if args.method == "trt":
        return {"eta": args.eta, "lam": args.lam, "decay": args.decay, "epsilon": args.epsilon}
    if args.method == "tet":
        return {"lam": args.tet_lam, "phi": args.tet_phi}
    return {}


def cosine_lr(lr0, epochs):
    """CosineAnnealingLR(T_max=epochs, eta_min=0) stepped per epoch (0-based epoch e)."""
    def schedule(epoch, lr=None):
        return 0.5 * lr0 * (1.0 + math.cos(math.pi * epoch / epochs))
    return schedule


def compile_model(model, args, loss=None, learning_rate=None):
    import keras
    import keras_trt as kt
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate or args.lr, epsilon=1e-8),
        loss=loss or make_loss(args),
        metrics=[kt.metrics.TemporalAccuracy(), kt.metrics.TemporalCrossEntropy()],
        jit_compile=resolve_jit(args.jit),
    )
    return model


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------

def _accepted(fn, kwargs):
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def loader_args(recipe, args, split):
    """Keyword arguments of `keras_trt.data.<recipe.dataset>` for `split`."""
    kwargs = {"split": split, "data_dir": args.data_dir, "batch_size": args.batch_size,
              "seed": args.seed}
    kwargs.update(recipe.loader_kwargs(args, split))
    return kwargs


def load_split(recipe, args, split, **overrides):
    """The tf.data pipeline of `split`; a missing dataset exits with a one-line message."""
    import keras_trt as kt
    loader = getattr(kt.data, recipe.dataset)
    kwargs = _accepted(loader, {**loader_args(recipe, args, split), **overrides})
    try:
        return loader(**kwargs)
    except FileNotFoundError as e:
        fail(_prefixed(recipe.dataset, str(e)))
    except ValueError as e:
        fail(_prefixed(recipe.dataset, str(e)))


def _prefixed(name, message):
    return message if message.lower().startswith(name.lower()) else f"{name}: {message}"


def count_batches(dataset):
    n = int(dataset.cardinality())
    if n >= 0:
        return n
    return sum(1 for _ in dataset)


class EpochStream:
    """Yields the training batches of epochs `start, start + 1, ...` as numpy arrays.

    Epoch e is the e-th pass over one seeded tf.data pipeline (its shuffling and
    augmentation are re-randomised per pass by tf.data's seed generators). Starting at
    epoch k opens and drops k iterators first, which advances those generators exactly as
    k completed epochs did, so epoch k sees the same batches as in an uninterrupted run.
    Each epoch yields exactly `steps` batches (fewer only if the pipeline is shorter).
    """

    def __init__(self, dataset, steps, start_epoch=0):
        self.dataset = dataset.take(steps)
        self.steps = steps
        self.start_epoch = start_epoch

    def __iter__(self):
        for _ in range(self.start_epoch):
            iter(self.dataset)  # advances the pipeline's random state by one epoch
        while True:
            for x, y in self.dataset:
                yield x.numpy(), y.numpy()


# ---------------------------------------------------------------------------------------
# Callbacks: best/last checkpoints and the resumable state
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------

def _progbar(total_epochs):
    import keras

    class Progbar(keras.callbacks.ProgbarLogger):
        """Keras progress bars that print `Epoch e/total` from any initial epoch."""

        def set_params(self, params):
            super().set_params(params)
            self.epochs = total_epochs

    return Progbar()


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


def tensorboard_callback(log_dir):
    """[TensorBoard callback], or [] with a note when the tensorboard package is missing
    (it comes with the `recipes` extra; the CSV log is always written)."""
    import keras

    if importlib.util.find_spec("tensorboard") is None:
        print("note: tensorboard is not installed, so no TensorBoard logs are written "
              '(pip install "keras-trt[recipes]"); log.csv has every epoch.')
        return []
    return [keras.callbacks.TensorBoard(log_dir, write_graph=False)]

def train(recipe, args, model=None, train_data=None, test_data=None, callbacks=(),
          write_results=True):
    """Trains `recipe` as configured by `args`; returns the results dict.

    `model`, `train_data` and `test_data` default to the recipe's; `callbacks` are
    appended (tests use one to simulate a crash).
    """
    import keras

    t_start = time.perf_counter()
    run_state = prepare_output_dir(args)
    out = args.output_dir
    keras.config.set_dtype_policy(resolve_policy(args.mixed_precision))
    keras.utils.set_random_seed(args.seed)
    if train_data is None:
        train_data = load_split(recipe, args, "train")
    if test_data is None:
        test_data = load_split(recipe, args, "test")
    steps = count_batches(train_data)
    val_steps = count_batches(test_data)
    if args.max_steps:
        steps, val_steps = min(steps, args.max_steps), min(val_steps, args.max_steps)
        test_data = test_data.take(val_steps)
    if steps == 0 or val_steps == 0:
        fail(f"{recipe.dataset}: the {'train' if steps == 0 else 'test'} split is empty")

    keras.utils.set_random_seed(args.seed)
    if model is None:
        model = recipe.build_model(args)
    compile_model(model, args)
    # Build the compiled metrics on one test batch now, so that fit() does not draw (and
    # drop) a training batch to build them: the training stream must stay aligned.
    model.evaluate(test_data.take(1), verbose=0)

    best = {"accuracy": None, "loss": None, "epoch": None}
    epoch_times = _Times()
    initial_epoch = 0
    resumed = 0
    log_path = os.path.join(out, "log.csv")
    if args.resume and run_state.exists():
        state = run_state.restore(model)
        initial_epoch = int(state["epoch"])
        best.update(state["best"])
        epoch_times.offset = float(state.get("elapsed_s", 0.0))
        resumed = int(state.get("resumed", 0)) + 1
        _truncate_csv(log_path, initial_epoch)
        print(f"Resuming {out} after epoch {initial_epoch}/{args.epochs}")
    else:
        if args.resume:
            print(f"--resume: no saved state in {out}; starting from epoch 0")
        for name in ("log.csv",):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out, name))

    cbs = [
        keras.callbacks.LearningRateScheduler(cosine_lr(args.lr, args.epochs)),
        keras.callbacks.CSVLogger(log_path, append=True),
        *tensorboard_callback(os.path.join(out, "logs")),
        make_training_callbacks(out, run_state, best, epoch_times, run_config(args),
                                {"resumed": resumed}),
        *callbacks,
    ]
    if args.verbose:
        cbs.insert(0, _progbar(args.epochs))
    stream = EpochStream(train_data, steps, start_epoch=initial_epoch)
    history = {}
    if initial_epoch < args.epochs:
        h = model.fit(iter(stream), steps_per_epoch=steps, epochs=args.epochs,
                      initial_epoch=initial_epoch, validation_data=test_data,
                      validation_steps=val_steps, callbacks=cbs, verbose=args.verbose,
                      shuffle=False)
        history = h.history
    state = run_state.read()
    results = {
        "recipe": recipe.name,
        "method": args.method,
        "dataset": {"name": recipe.dataset,
                    "train_loader_args": _jsonable(loader_args(recipe, args, "train")),
                    "test_loader_args": _jsonable(loader_args(recipe, args, "test")),
                    "steps_per_epoch": steps, "test_steps": val_steps},
        "model": {"name": model.name, "trainable_params": _count(model.trainable_weights),
                  "non_trainable_params": _count(model.non_trainable_weights)},
        "loss": model.loss.get_config() if hasattr(model.loss, "get_config") else str(model.loss),
        "hyperparameters": {**_jsonable(vars(args)),
                            "method_hyperparameters": method_hyperparameters(args),
                            "optimizer": "Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-8)",
                            "schedule": "cosine annealing to 0, stepped per epoch",
                            "jit_compile": bool(model.jit_compile),
                            "dtype_policy": resolve_policy(args.mixed_precision)},
        "epochs": state["epoch"],
        "epochs_planned": args.epochs,
        "final_test_accuracy": state["last_logs"].get("val_accuracy"),
        "best_test_accuracy": state["best"]["accuracy"],
        "best_epoch": state["best"]["epoch"],
        "final_test_loss": state["last_logs"].get("val_mean_logit_crossentropy"),
        "final_train_accuracy": state["last_logs"].get("accuracy"),
        "final_train_loss": state["last_logs"].get("loss"),
        "metric_note": SPEC_DECISION_6,
        "paper_best_test_accuracy_percent": recipe.paper.get(args.method),
        "training_time_s": state.get("elapsed_s"),   # epochs' wall time, all sessions
        "resumed": resumed,
        "backend": backend_name(),
        "versions": _versions(),
        "files": {"log": "log.csv", "tensorboard": "logs", "best": "best.keras",
                  "last": "last.keras"},
    }
    results["wall_time_s"] = round(time.perf_counter() - t_start, 3)   # this session
    if write_results:
        _atomic_write_json(os.path.join(out, "results.json"), results)
    results["history"] = history
    results["model_object"] = model
    return results


def _count(weights):
    import numpy as np
    return int(sum(np.prod(w.shape) for w in weights))


def _jsonable(d):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
            if isinstance(v, (str, int, float, bool, tuple, list, type(None)))}


def _versions():
    import keras
    v = {"keras": keras.__version__, "python": sys.version.split()[0]}
    backend = backend_name()
    with contextlib.suppress(Exception):
        v[backend] = __import__("tensorflow" if backend == "tensorflow" else backend).__version__
    return v


def summary_line(results):
    fmt = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    paper = results.get("paper_best_test_accuracy_percent")
    return (f"{results['recipe']} [{results['method']}, {results['backend']}]: "
            f"final test accuracy {fmt(results['final_test_accuracy'])}, best test accuracy "
            f"{fmt(results['best_test_accuracy'])} (epoch {results['best_epoch']}) after "
            f"{results['epochs']} epochs"
            + (f"; paper (best): {paper:.2f}%" if paper is not None else ""))


def main(recipe, argv=None, callbacks=()):
    """Entry point of a recipe script: parse, train, print a summary; returns results."""
    args = parse_args(recipe, argv)
    results = train(recipe, args, callbacks=callbacks)
    print(summary_line(results))
    print(f"Results: {os.path.join(args.output_dir, 'results.json')}")
    return results
