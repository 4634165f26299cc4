"""What every recipe shares: the training loop and its results (the command line, the
data and the run folder live in _cli, _data and _run_folder, whose names this module
re-exports for the recipe scripts).

A recipe script only declares a `Recipe` (dataset, model, the paper's hyperparameters) and
calls `main(RECIPE)`. Training follows the reference code (docs/method.md, Training loop):
Adam (lr 1e-3, epsilon
1e-8), cosine annealing to 0 stepped per epoch (`keras_trt.schedules.PerEpochCosineDecay`),
evaluation on a validation split held out of the training data and on the test split after
every epoch, the best checkpoint by validation accuracy (ties: lower validation loss;
`--select-on test`: by test accuracy, the paper's protocol) and the last one, a CSV log,
TensorBoard logs and a `results.json` that reports the final test accuracy, the test
accuracy at the selected epoch and the paper's best test accuracy (docs/method.md,
Training loop).

`--resume` is `keras_trt.callbacks.ExactResume`: a resumed run ends with the same weights
as an uninterrupted one on the same backend and seed. A NaN or infinite training loss
ends the run with a one-line error that names the likely causes
(`keras_trt.callbacks.TerminateOnNonFiniteLoss`).
"""

import contextlib
import importlib.util
import os
import sys
import time

# Quiet TensorFlow's C++ start-up chatter before anything imports it (tf.data, TensorBoard).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import (  # noqa: E402,F401 - re-exported for the recipe scripts
    METHODS, BEST_ACCURACY_NOTE, Recipe, _positive_int, build_parser, fail, parse_args,
    resolve_validation,
)
from _data import count_batches, load_split, loader_args  # noqa: E402,F401
from _run_folder import (  # noqa: E402,F401
    RUN_DEFINING, _atomic_write_json, exact_resume, follower_output_dir, read_log,
    run_callbacks, run_config, start_log,
)
from _training_setup import (  # noqa: E402,F401
    backend_name, compile_model, distribution, has_gpu, make_loss, method_hyperparameters,
    resolve_jit, resolve_policy,
)


def tensorboard_callback(log_dir):
    """[TensorBoard callback], or [] with a note when the tensorboard package is missing
    (it comes with the `recipes` extra; the CSV log is always written)."""
    import keras

    if importlib.util.find_spec("tensorboard") is None:
        print("note: tensorboard is not installed, so no TensorBoard logs are written "
              '(pip install "keras-trt[recipes]"); log.csv has every epoch.')
        return []
    return [keras.callbacks.TensorBoard(log_dir, write_graph=False)]


def fisher_callback(recipe, args, epochs_done):
    """[FisherInformationCallback] for --observe-fi, or []. It reads its own instance of the
    shuffled, augmented training split (the reference's data), so observing leaves the
    training stream, and so --resume, untouched."""
    if args.observe_fi is None:
        return []
    import keras_trt as kt

    data = load_split(recipe, args, "train", seed=args.seed + 1)
    return [kt.callbacks.FisherInformationCallback(
        data, epochs=args.observe_fi, batches=args.fi_batches, output_dir=args.output_dir,
        batch_size=args.batch_size, append=epochs_done > 0, verbose=int(args.verbose == 1))]


def train(recipe, args, model=None, train_data=None, test_data=None, callbacks=(),
          write_results=True, validation_data=None):
    """Trains `recipe` as configured by `args`; returns the results dict.

    `model`, `train_data`, `validation_data` and `test_data` default to the recipe's (the
    validation split only with `args.validation_fraction` > 0); `callbacks` are appended
    (tests use one to simulate a crash). The validation split is evaluated by `fit`
    (log columns `val_*`), the test split after every epoch (`test_*`); the best epoch is
    chosen on `args.select_on`'s split. With `--distribute auto` all of it runs inside
    `kt.distribute.auto(...)`; only the chief process writes the run folder (the others
    write a temporary copy, see `follower_output_dir`).
    """
    with distribution(args):
        args = follower_output_dir(args)
        return _train(recipe, args, model, train_data, test_data, callbacks, write_results,
                      validation_data)


def _train(recipe, args, model, train_data, test_data, callbacks, write_results,
           validation_data):
    import keras

    import keras_trt as kt

    t_start = time.perf_counter()
    out = args.output_dir
    resume = exact_resume(args)
    keras.config.set_dtype_policy(resolve_policy(args.mixed_precision))
    keras.utils.set_random_seed(args.seed)
    if train_data is None:
        train_data = load_split(recipe, args, "train")
    if test_data is None:
        test_data = load_split(recipe, args, "test")
    if validation_data is None and getattr(args, "validation_fraction", 0):
        validation_data = load_split(recipe, args, "validation")
    if getattr(args, "distribute", "none") == "auto":
        train_data = kt.distribute.shard_dataset(train_data)
        if keras.backend.backend() != "torch":
            # torchrun: every rank evaluates the whole validation and test splits (their
            # metrics, summed over the ranks, give the same ratios): sharding would drop
            # samples to keep the ranks' step counts equal.
            test_data = kt.distribute.shard_dataset(test_data)
            if validation_data is not None:
                validation_data = kt.distribute.shard_dataset(validation_data)
    steps = count_batches(train_data)
    test_steps = count_batches(test_data)
    val_steps = None if validation_data is None else count_batches(validation_data)
    if args.max_steps:
        steps, test_steps = min(steps, args.max_steps), min(test_steps, args.max_steps)
        test_data = test_data.take(test_steps)
        if validation_data is not None:
            val_steps = min(val_steps, args.max_steps)
            validation_data = validation_data.take(val_steps)
    for split, n in (("train", steps), ("test", test_steps), ("validation", val_steps)):
        if n == 0:
            fail(f"{recipe.dataset}: the {split} split is empty")
    if getattr(args, "select_on", "test") == "validation" and validation_data is None:
        fail("--select-on validation needs a validation split (--validation-fraction > 0)")

    keras.utils.set_random_seed(args.seed)
    if model is None:
        model = recipe.build_model(args)
    compile_model(model, args, steps_per_epoch=steps)

    saved = resume.read_state()
    epochs_done = int(saved["epoch"]) if saved else 0
    if saved:
        print(f"Resuming {out} after epoch {epochs_done}/{args.epochs}")
    elif args.resume:
        print(f"--resume: no saved state in {out}; starting from epoch 0")
    log_path = start_log(out, epochs_done)
    log_learning_rate, save_last = run_callbacks(out)
    cbs = [
        # First: the test columns must be in the logs that the later callbacks record.
        test_evaluation(test_data, test_steps),
        kt.callbacks.TerminateOnNonFiniteLoss(raise_error=True),
        log_learning_rate,
        keras.callbacks.CSVLogger(log_path, append=True),
        *tensorboard_callback(os.path.join(out, "logs")),
        save_last,
        *fisher_callback(recipe, args, epochs_done),
        resume,     # after best/last.keras and the log: the state says "epoch done" last
        *callbacks,
    ]
    # One pass of the pipeline per epoch, exactly `steps` batches (as --max-steps caps).
    train_epoch = train_data.take(steps)
    if int(train_epoch.cardinality()) < 0:
        import tensorflow as tf
        train_epoch = train_epoch.apply(tf.data.experimental.assert_cardinality(steps))
    history = {}
    try:
        h = model.fit(resume.wrap_dataset(train_epoch), epochs=args.epochs,
                      validation_data=validation_data, validation_steps=val_steps,
                      callbacks=cbs,
                      verbose=args.verbose, shuffle=False)
        history = h.history
    except kt.callbacks.NonFiniteLossError as e:
        fail(e)
    if resume.epochs_completed == 0:
        fail("the first epoch did not complete (see the warning above), so there is "
             "nothing to report")
    logs = resume.last_logs
    best = best_epochs(read_log(out), args)
    results = {
        "recipe": recipe.name,
        "method": args.method,
        "dataset": {"name": recipe.dataset,
                    "train_loader_args": _jsonable(loader_args(recipe, args, "train")),
                    "test_loader_args": _jsonable(loader_args(recipe, args, "test")),
                    "validation_loader_args": (
                        None if val_steps is None
                        else _jsonable(loader_args(recipe, args, "validation"))),
                    "steps_per_epoch": steps, "validation_steps": val_steps,
                    "test_steps": test_steps},
        "model": {"name": model.name, "trainable_params": _count(model.trainable_weights),
                  "non_trainable_params": _count(model.non_trainable_weights)},
        "loss": model.loss.get_config() if hasattr(model.loss, "get_config") else str(model.loss),
        "hyperparameters": {**_jsonable(vars(args)),
                            "method_hyperparameters": method_hyperparameters(args),
                            "optimizer": "Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-8)",
                            "schedule": "cosine annealing to 0, stepped per epoch "
                                        "(keras_trt.schedules.PerEpochCosineDecay)",
                            "jit_compile": bool(model.jit_compile),
                            "replicas": kt.distribute.num_replicas(),
                            "dtype_policy": resolve_policy(args.mixed_precision)},
        "epochs": resume.epochs_completed,
        "epochs_planned": args.epochs,
        "selected_on": getattr(args, "select_on", "test"),
        "best_epoch": resume.best_epoch,
        **best,
        "final_test_accuracy": logs.get("test_accuracy"),
        "final_test_loss": logs.get("test_mean_logit_crossentropy"),
        "final_validation_accuracy": logs.get("val_accuracy"),
        "final_train_accuracy": logs.get("accuracy"),
        "final_train_loss": logs.get("loss"),
        "metric_note": BEST_ACCURACY_NOTE,
        "paper_best_test_accuracy_percent": recipe.paper.get(args.method),
        "training_time_s": resume.training_time_s,   # epochs' wall time, all sessions
        "resumed": resume.resumed,
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


def test_evaluation(test_data, steps):
    """A callback that evaluates `test_data` after every epoch and adds its metrics to
    the epoch's logs as `test_<metric>` (the log and ExactResume's best epoch see them)."""
    import keras

    class TestEvaluation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            scores = self.model.evaluate(test_data, steps=steps, verbose=0, return_dict=True)
            logs.update({f"test_{k}": float(v) for k, v in scores.items()})

    return TestEvaluation()


def best_epochs(log, args):
    """The results' epoch-selection fields from log.csv's columns: the best validation
    epoch (ties: lower validation loss) and its test accuracy, and the paper's best test
    accuracy over epochs (ties: lower test loss). 1-based epochs; None where a split is
    missing."""
    def best(prefix):
        acc, loss = log.get(f"{prefix}accuracy"), log.get(f"{prefix}mean_logit_crossentropy")
        if not acc:
            return None
        loss = loss or [0.0] * len(acc)
        return max(range(len(acc)), key=lambda i: (acc[i], -loss[i]))

    v, t = best("val_"), best("test_")
    test_acc = log.get("test_accuracy")
    return {
        "best_validation_accuracy": None if v is None else log["val_accuracy"][v],
        "best_validation_epoch": None if v is None else v + 1,
        "test_accuracy_at_best_epoch": (
            None if test_acc is None else
            test_acc[(v if getattr(args, "select_on", "test") == "validation" else t)]),
        "best_test_accuracy": None if t is None else test_acc[t],
        "best_test_loss": None if t is None else log["test_mean_logit_crossentropy"][t],
        "best_test_epoch": None if t is None else t + 1,
    }


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
            f"final test accuracy {fmt(results['final_test_accuracy'])}, test accuracy "
            f"{fmt(results['test_accuracy_at_best_epoch'])} at the best epoch by "
            f"{results['selected_on']} ({results['best_epoch']}), best test accuracy "
            f"{fmt(results['best_test_accuracy'])} (paper's protocol) after "
            f"{results['epochs']} epochs"
            + (f"; paper (best): {paper:.2f}%" if paper is not None else ""))


def main(recipe, argv=None, callbacks=()):
    """Entry point of a recipe script: parse, train, print a summary; returns results."""
    args = parse_args(recipe, argv)
    results = train(recipe, args, callbacks=callbacks)
    print(summary_line(results))
    print(f"Results: {os.path.join(args.output_dir, 'results.json')}")
    return results
