"""`train`: the paper's training procedure on any SpikingModel and any data `fit` accepts.

As the reference code trains (docs/method.md, Training loop): Adam (epsilon 1e-8) with the
learning rate cosine-annealed to 0 and stepped per epoch
(`keras_trt.schedules.PerEpochCosineDecay`); the method's loss (TRT, TET or SDT);
evaluation on a validation split (by `fit`, log columns `val_*`) and on the test split
(`test_*`) after every epoch; the best checkpoint by the validation accuracy (ties: lower
validation loss; `select_on="test"`: by test accuracy, the paper's protocol) and the
last one; a CSV log, TensorBoard logs and `results.json` (keras_trt.experiments.run_folder).
A resumed run (`resume=True`, `keras_trt.callbacks.ExactResume`) ends with the same
weights as an uninterrupted one on the same backend and seed; a NaN or infinite loss
stops it with a `NonFiniteLossError` that names the likely causes. (docs/experiments.md
runs examples like this one on every backend.)

```text
import numpy as np
import keras_trt as kt

rng = np.random.default_rng(0)
x, y = rng.random((48, 4, 8, 8, 2), "float32"), rng.integers(0, 3, 48)
build = lambda: kt.models.VGGSNN(num_classes=3, input_shape=(4, 8, 8, 2), widths=(4, 8))
run = kt.experiments.train(build, (x[:32], y[:32]), validation_data=(x[32:40], y[32:40]),
                           test_data=(x[40:], y[40:]), method="trt", epochs=2,
                           batch_size=16, output_dir="runs/example", overwrite=True,
                           verbose=0)
print(run.results["epochs"], run.results["selected_on"])   # 2 validation
```
"""

import dataclasses
import os
import time

from keras_trt.atomic_io import write_json_atomic
from keras_trt.experiments import execution, methods, run_folder
from keras_trt.experiments.data import Split
from keras_trt.experiments.errors import ExperimentError
from keras_trt.validation import positive_int

__all__ = ["train", "TrainedRun", "compile_model", "BEST_ACCURACY_NOTE", "SELECT_ON"]

SELECT_ON = ("validation", "test")
OPTIMIZER = "Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-8)"
SCHEDULE = "cosine annealing to 0, stepped per epoch (keras_trt.schedules.PerEpochCosineDecay)"
BEST_ACCURACY_NOTE = (
    "`final_test_accuracy` is the last epoch's test accuracy. With --select-on validation "
    "(default) the best epoch is chosen on a validation split held out of the training data "
    "(`best_validation_accuracy`) and `test_accuracy_at_best_epoch` is that epoch's test "
    "accuracy, an unbiased estimate; `best_test_accuracy` (the maximum over epochs) is the "
    "paper's protocol, where the test set doubles as the validation set (--select-on test), "
    "and is optimistic.")
# The settings that change a run's trajectory: a resume with other values is refused.
RUN_DEFINING = ("method", "eta", "lam", "decay", "epsilon", "tet_lam", "tet_phi", "epochs",
                "batch_size", "lr", "seed", "max_steps", "mixed_precision", "select_on")


@dataclasses.dataclass
class TrainedRun:
    """What `train` returns: the trained `model` (last epoch), `results` (what
    results.json holds), the Keras `history` of this session and the `output_dir`."""

    model: object
    results: dict
    history: dict
    output_dir: str


def compile_model(model, method="trt", hyperparameters=None, epochs=300, steps_per_epoch=1,
                  learning_rate=1e-3, jit="auto", loss=None):
    """Compiles `model` as the paper trains: Adam (epsilon 1e-8) with `learning_rate`
    cosine-annealed to 0 over `epochs`, stepped per epoch (PyTorch's CosineAnnealingLR
    as the reference uses it), the method's loss, accuracy and the CE of the
    time-averaged logits as metrics."""
    import keras

    import keras_trt as kt

    schedule = kt.schedules.PerEpochCosineDecay(learning_rate, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule, epsilon=1e-8),
        loss=loss or methods.make_loss(method, methods.resolve_hyperparameters(
            hyperparameters)),
        metrics=[kt.metrics.TemporalAccuracy(), kt.metrics.TemporalCrossEntropy()],
        jit_compile=execution.resolve_jit(jit),
    )
    return model


def train(model, train_data, validation_data=None, test_data=None, *, method="trt",
          hyperparameters=None, epochs=300, learning_rate=1e-3, batch_size=None,
          max_steps=None, seed=42, select_on="validation", output_dir, resume=False,
          overwrite=False, mixed_precision=None, jit="auto", distribute=False, verbose=1,
          callbacks=(), observe_fisher=None, fisher_data=None, fisher_batches=101,
          name=None, config=None, record=None):
    """Trains `model` with the paper's procedure into the run folder `output_dir`.

    Args:
        model: a `keras_trt.SpikingModel`, or a function that returns a new one (called
            after seeding, so that `seed` fixes the initial weights: prefer it).
        train_data, validation_data, test_data: a tf.data.Dataset of (x, y) batches, an
            (x, y) tuple of arrays (with `batch_size`), a keras.utils.PyDataset or an
            iterable of batches (with `max_steps`); see keras_trt.experiments.data.
            `test_data` is required: it is evaluated after every epoch.
        method: "trt", "tet" or "sdt". hyperparameters: the methods' (flat: `eta`, `lam`,
            `decay`, `epsilon`, `tet_lam`, `tet_phi`; missing ones: the losses' defaults).
        epochs, learning_rate: the cosine schedule's length and start.
        batch_size: for array data. max_steps: cap the batches per epoch of every split.
        seed: seeds initialisation and, for arrays, shuffling (tf.data pipelines carry
            their own seed).
        select_on: "validation" (needs validation_data) or "test" (the paper's protocol).
        output_dir: the run folder. resume: continue the run there (if any) from its last
            completed epoch, bit for bit; overwrite: start over in a folder that holds a
            run. Without either, a folder that holds a run raises RunFolderError.
        mixed_precision: None, "auto", "mixed_float16" or "mixed_bfloat16" (the policy a
            built model is created under). jit: "auto", "on" or "off".
        distribute: data-parallel training (`kt.distribute.auto`, docs/distributed.md).
        verbose: fit's verbosity. callbacks: more Keras callbacks, called last.
        observe_fisher: epochs after which to record FI(t) and its centroid into
            fisher.csv (e.g. "20-40-60" or "all"), on `fisher_data` (a separate instance
            of the training data: reading `train_data` would change the run; or a
            function without arguments that returns it, called after the model is
            built), `fisher_batches` batches per prefix length.
        name: the run's name in results.json (default: the model's).
        config: more settings that define the run (a resume with other values is
            refused); the method, hyperparameters, budget, seed and selection always are.
        record: entries added to results.json (a dict value is merged into results.json's
            dict of the same key, e.g. {"dataset": {"name": "mine"}}).

    Returns:
        TrainedRun: the model, results.json's content, the history, the folder.
    """
    if select_on not in SELECT_ON:
        raise ValueError(f"`select_on` must be 'validation' or 'test', got {select_on!r}.")
    methods.check_method(method)
    hyperparameters = methods.resolve_hyperparameters(hyperparameters)
    positive_int(epochs, "epochs", "train")
    if observe_fisher is not None and fisher_data is None:
        raise ValueError("`observe_fisher` needs `fisher_data`, an instance of the training "
                         "data of its own.")
    settings = {"method": method, **hyperparameters, "epochs": epochs, "batch_size": batch_size,
                "lr": learning_rate, "seed": seed, "max_steps": max_steps,
                "mixed_precision": mixed_precision, "select_on": select_on, "jit": jit,
                "distribute": "auto" if distribute else "none", "output_dir": output_dir,
                "resume": resume, "overwrite": overwrite, "verbose": verbose,
                "observe_fi": observe_fisher, "fi_batches": fisher_batches}
    # The run's own values win over a `config` given for several runs (a study's base).
    config = {**(config or {}), **{k: settings[k] for k in RUN_DEFINING}}
    with execution.distribution(distribute):
        output_dir = run_folder.follower_output_dir(os.fspath(output_dir), resume, distribute)
        settings["output_dir"] = output_dir
        return _train(model, train_data, validation_data, test_data, settings, config,
                      hyperparameters, callbacks, fisher_data, name, record or {})


def _shard(data):
    """tf.data pipelines sharded over the replicas; other data as it is."""
    import keras_trt as kt

    return kt.distribute.shard_dataset(data) if hasattr(data, "cardinality") else data


def _splits(s, train_data, validation_data, test_data):
    import keras

    if s["distribute"] == "auto":
        train_data = _shard(train_data)
        if keras.backend.backend() != "torch":
            # torchrun: every rank evaluates the whole validation and test splits (their
            # metrics, summed over the ranks, give the same ratios): sharding would drop
            # samples to keep the ranks' step counts equal.
            test_data = _shard(test_data)
            validation_data = None if validation_data is None else _shard(validation_data)
    try:
        splits = [None if data is None else Split(data, role=role, batch_size=s["batch_size"],
                                                  max_steps=s["max_steps"])
                  for data, role in ((train_data, "train"), (validation_data, "validation"),
                                     (test_data, "test"))]
    except ValueError as e:
        raise ExperimentError(str(e)) from None
    if splits[2] is None:
        raise ExperimentError("`test_data` is missing: the test split is evaluated after "
                              "every epoch")
    if s["select_on"] == "validation" and splits[1] is None:
        raise ExperimentError("select_on='validation' needs validation_data (or "
                              "select_on='test', the paper's protocol)")
    return splits


def _train(model, train_data, validation_data, test_data, s, config, hyperparameters,
           callbacks, fisher_data, name, record):
    import keras

    import keras_trt as kt

    t_start = time.perf_counter()
    out = s["output_dir"]
    resume = run_folder.exact_resume(out, select_on=s["select_on"], config=config,
                                     resume=s["resume"], overwrite=s["overwrite"])
    train, validation, test = _splits(s, train_data, validation_data, test_data)

    policy = execution.resolve_policy(s["mixed_precision"])
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(s["seed"])
    if callable(model) and not isinstance(model, keras.Model):
        model = model()
    compile_model(model, s["method"], hyperparameters, epochs=s["epochs"],
                  steps_per_epoch=train.steps, learning_rate=s["lr"], jit=s["jit"])

    saved = resume.read_state()
    epochs_done = int(saved["epoch"]) if saved else 0
    if saved:
        print(f"Resuming {out} after epoch {epochs_done}/{s['epochs']}")
    elif s["resume"]:
        print(f"Resume: no saved state in {out}; starting from epoch 0")
    log_path = run_folder.start_log(out, epochs_done)
    log_learning_rate, save_last = run_folder.run_callbacks(out)
    if callable(fisher_data):
        fisher_data = fisher_data()
    fisher = [] if s["observe_fi"] is None else [kt.callbacks.FisherInformationCallback(
        fisher_data, epochs=s["observe_fi"], batches=s["fi_batches"], output_dir=out,
        batch_size=s["batch_size"], append=epochs_done > 0, verbose=int(s["verbose"] == 1))]
    cbs = [
        # First: the test columns must be in the logs that the later callbacks record.
        test_evaluation(test),
        kt.callbacks.TerminateOnNonFiniteLoss(raise_error=True),
        log_learning_rate,
        keras.callbacks.CSVLogger(log_path, append=True),
        *run_folder.tensorboard_callback(os.path.join(out, "logs")),
        save_last,
        *fisher,
        resume,     # after best/last.keras and the log: the state says "epoch done" last
        *callbacks,
    ]
    fit_args = {"shuffle": False, **train.fit_arguments(resume),
                **(validation.validation_arguments() if validation is not None else {})}
    history = model.fit(epochs=s["epochs"], callbacks=cbs, verbose=s["verbose"],
                        **fit_args).history
    if resume.epochs_completed == 0:
        raise ExperimentError("the first epoch did not complete (see the warning above), so "
                              "there is nothing to report")
    results = _results(model, resume, s, hyperparameters, train, validation, test, name,
                       record, policy)
    results["wall_time_s"] = round(time.perf_counter() - t_start, 3)   # this session
    write_json_atomic(os.path.join(out, "results.json"), results)
    return TrainedRun(model=model, results=results, history=history, output_dir=out)


def test_evaluation(test):
    """A callback that evaluates the `test` Split after every epoch and adds its metrics
    to the epoch's logs as `test_<metric>` (the log and ExactResume's best epoch see
    them)."""
    import keras

    class _TestEvaluation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            scores = self.model.evaluate(**test.evaluate_arguments(), verbose=0,
                                         return_dict=True)
            logs.update({f"test_{k}": float(v) for k, v in scores.items()})

    return _TestEvaluation()


def best_epochs(log, select_on):
    """The results' epoch-selection fields from log.csv's columns: the best validation
    epoch (ties: lower validation loss) and its test accuracy, and the paper's best test
    accuracy over epochs (ties: lower test loss). 1-based epochs; None where a split is
    missing."""
    def best(prefix):
        acc, loss = log.get(f"{prefix}accuracy"), log.get(f"{prefix}mean_logit_crossentropy")
        if acc is None or not len(acc):
            return None
        loss = [0.0] * len(acc) if loss is None else loss
        return max(range(len(acc)), key=lambda i: (acc[i], -loss[i]))

    v, t = best("val_"), best("test_")
    test_acc = log.get("test_accuracy")
    value = lambda column, i: None if i is None else float(log[column][i])   # noqa: E731
    return {
        "best_validation_accuracy": value("val_accuracy", v),
        "best_validation_epoch": None if v is None else v + 1,
        "test_accuracy_at_best_epoch": (
            None if test_acc is None else
            value("test_accuracy", v if select_on == "validation" else t)),
        "best_test_accuracy": value("test_accuracy", t),
        "best_test_loss": value("test_mean_logit_crossentropy", t),
        "best_test_epoch": None if t is None else t + 1,
    }


def _count(weights):
    import numpy as np
    return int(sum(np.prod(w.shape) for w in weights))


def _jsonable(d):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
            if isinstance(v, (str, int, float, bool, tuple, list, type(None)))}


def _merged(base, extra):
    return {**base, **extra} if isinstance(extra, dict) else extra


def _results(model, resume, s, hyperparameters, train, validation, test, name, record,
             policy):
    import keras_trt as kt

    logs = resume.last_logs
    best = best_epochs(run_folder.read_log(s["output_dir"]), s["select_on"])
    dataset = {"name": None, "train_loader_args": None, "test_loader_args": None,
               "validation_loader_args": None}
    settings = _jsonable(s)
    results = {
        "recipe": name or model.name,
        "method": s["method"],
        "dataset": {**_merged(dataset, record.get("dataset", {})),
                    "steps_per_epoch": train.steps,
                    "validation_steps": None if validation is None else validation.steps,
                    "test_steps": test.steps},
        "model": {"name": model.name, "trainable_params": _count(model.trainable_weights),
                  "non_trainable_params": _count(model.non_trainable_weights)},
        "loss": model.loss.get_config() if hasattr(model.loss, "get_config") else str(model.loss),
        # The run's own settings win over a record's (e.g. a study's base settings).
        "hyperparameters": {**record.get("hyperparameters", {}), **settings,
                            "method_hyperparameters": methods.method_hyperparameters(
                                s["method"], hyperparameters),
                            "optimizer": OPTIMIZER, "schedule": SCHEDULE,
                            "jit_compile": bool(model.jit_compile),
                            "replicas": kt.distribute.num_replicas(),
                            "dtype_policy": policy},
        "epochs": resume.epochs_completed,
        "epochs_planned": s["epochs"],
        "selected_on": s["select_on"],
        "best_epoch": resume.best_epoch,
        **best,
        "final_test_accuracy": logs.get("test_accuracy"),
        "final_test_loss": logs.get("test_mean_logit_crossentropy"),
        "final_validation_accuracy": logs.get("val_accuracy"),
        "final_train_accuracy": logs.get("accuracy"),
        "final_train_loss": logs.get("loss"),
        "metric_note": BEST_ACCURACY_NOTE,
        "paper_best_test_accuracy_percent": None,
        "training_time_s": resume.training_time_s,   # epochs' wall time, all sessions
        "resumed": resume.resumed,
        "backend": execution.backend_name(),
        "versions": execution.versions(),
        "files": dict(run_folder.FILES),
    }
    for key, value in record.items():
        if key not in ("dataset", "hyperparameters"):
            results[key] = _merged(results.get(key), value) if isinstance(
                results.get(key), dict) else value
    return results


def summary_line(results):
    """One line: final test accuracy, test accuracy at the best epoch, best test accuracy
    (and the paper's, when the preset knows it)."""
    fmt = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    paper = results.get("paper_best_test_accuracy_percent")
    return (f"{results['recipe']} [{results['method']}, {results['backend']}]: "
            f"final test accuracy {fmt(results['final_test_accuracy'])}, test accuracy "
            f"{fmt(results['test_accuracy_at_best_epoch'])} at the best epoch by "
            f"{results['selected_on']} ({results['best_epoch']}), best test accuracy "
            f"{fmt(results['best_test_accuracy'])} (paper's protocol) after "
            f"{results['epochs']} epochs"
            + (f"; paper (best): {paper:.2f}%" if paper is not None else ""))
