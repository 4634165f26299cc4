"""A preset's run from its command line's arguments: the data it loads, what its run
folder records, and `keras_trt.experiments.train` called with them.

```text
from keras_trt.experiments import get_preset
from keras_trt.experiments.cli import arguments, preset_runs

preset = get_preset("quickstart")
args = arguments.parse_args(preset, ["--epochs", "1", "--max-steps", "2"])
run = preset_runs.train(preset, args)        # a keras_trt.experiments.TrainedRun
```
"""

import contextlib

from keras_trt.experiments import training
from keras_trt.experiments.cli.arguments import fail, run_config
from keras_trt.experiments.errors import ExperimentError, RunFolderError

__all__ = ["train", "load", "loader_record", "one_line_errors"]


def _arguments(args, **overrides):
    return {**vars(args), **overrides}


def load(preset, args, split, **overrides):
    """`split` of the preset's dataset as `args` configure it (`overrides`: e.g. shuffle,
    augment, seed)."""
    return preset.load(split, **_arguments(args, **overrides))


def _jsonable(d):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
            if isinstance(v, (str, int, float, bool, tuple, list, type(None)))}


def loader_record(preset, args):
    """results.json's "dataset" entry: the loader and its arguments per split."""
    def loader_args(split):
        return _jsonable(preset.loader_args(split, **vars(args)))

    return {"name": preset.dataset, "train_loader_args": loader_args("train"),
            "test_loader_args": loader_args("test"),
            "validation_loader_args": (loader_args("validation")
                                       if args.validation_fraction else None)}


@contextlib.contextmanager
def one_line_errors():
    """A run's expected failures (a folder that holds another run, missing data, a NaN
    loss) end the command with one line, naming the command line's flags."""
    import keras_trt as kt

    try:
        yield
    except RunFolderError as e:
        if e.reason == "exists":
            fail(f"{e.folder} already holds a run; pass --resume to continue it, "
                 "--overwrite to start over, or choose another --output-dir")
        changed = "; ".join(f"--{k.replace('_', '-')} {old} -> {new}"
                            for k, old, new in e.changed)
        fail(f"cannot resume {e.folder} with different settings ({changed}); resume with "
             "the original ones, or pass --overwrite to start over")
    except (ExperimentError, kt.callbacks.NonFiniteLossError) as e:
        fail(e)


def train(preset, args, callbacks=(), model=None):
    """Trains `preset` as `args` configure it (the recipes' procedure,
    keras_trt.experiments.train); returns the TrainedRun. Errors end with one line."""
    import keras

    from keras_trt.experiments import execution

    with one_line_errors():
        keras.config.set_dtype_policy(execution.resolve_policy(args.mixed_precision))
        keras.utils.set_random_seed(args.seed)
        train_data = load(preset, args, "train")
        test_data = load(preset, args, "test")
        validation_data = (load(preset, args, "validation")
                           if args.validation_fraction else None)
        # Its own instance of the shuffled, augmented training split (the reference's
        # data), loaded once the model is built, so observing leaves the run untouched.
        fisher_data = (None if args.observe_fi is None
                       else lambda: load(preset, args, "train", seed=args.seed + 1))
        return training.train(
            model or (lambda: preset.build_model(**vars(args))), train_data,
            validation_data=validation_data, test_data=test_data, method=args.method,
            hyperparameters=hyperparameters(args), epochs=args.epochs,
            learning_rate=args.lr, batch_size=args.batch_size, max_steps=args.max_steps,
            seed=args.seed, select_on=args.select_on, output_dir=args.output_dir,
            resume=args.resume, overwrite=args.overwrite,
            mixed_precision=args.mixed_precision, jit=args.jit,
            distribute=args.distribute == "auto", verbose=args.verbose,
            callbacks=callbacks, observe_fisher=args.observe_fi, fisher_data=fisher_data,
            fisher_batches=args.fi_batches, name=preset.name, config=run_config(args),
            record=record(preset, args))


def hyperparameters(args):
    """The flat hyperparameters of every method, from the flags."""
    return {k: getattr(args, k) for k in ("eta", "lam", "decay", "epsilon", "tet_lam",
                                          "tet_phi")}


def record(preset, args):
    """What results.json records beyond the run itself: the preset, its loader's arguments,
    every flag, the paper's accuracy."""
    return {"dataset": loader_record(preset, args), "hyperparameters": _jsonable(vars(args)),
            "paper_best_test_accuracy_percent": preset.paper.get(args.method)}
