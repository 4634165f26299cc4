"""What every recipe shares: the training loop and its results (the command line, the
data stream and the resumable run state live in _cli, _data_stream and _run_state, whose
names this module re-exports for the recipe scripts).

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

import contextlib
import importlib.util
import os
import sys
import time

# Quiet TensorFlow's C++ start-up chatter before anything imports it (tf.data, TensorBoard).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import (  # noqa: E402,F401 - re-exported for the recipe scripts
    METHODS, SPEC_DECISION_6, Recipe, _positive_int, build_parser, fail, parse_args,
)
from _data_stream import EpochStream, count_batches, load_split, loader_args  # noqa: E402,F401
from _run_state import (  # noqa: E402,F401
    RUN_DEFINING, RunState, _atomic_write_json, _Times, _truncate_csv,
    make_training_callbacks, prepare_output_dir, read_log, run_config,
)
from _training_setup import (  # noqa: E402,F401
    backend_name, compile_model, cosine_lr, has_gpu, make_loss, method_hyperparameters,
    resolve_jit, resolve_policy,
)


def _progbar(total_epochs):
    import keras

    class Progbar(keras.callbacks.ProgbarLogger):
        """Keras progress bars that print `Epoch e/total` from any initial epoch."""

        def set_params(self, params):
            super().set_params(params)
            self.epochs = total_epochs

    return Progbar()


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
