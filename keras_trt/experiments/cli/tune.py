"""`python -m keras_trt.experiments tune`: keras-tuner search over TRT's eta, lambda,
delta and the learning rate on a preset's data.

Any preset's dataset and model (`--recipe`, default `quickstart`: the embedded digits_dvs
data and a small VGG-style SNN), through `keras_trt.tuning.TRTHyperModel`. Each trial
trains `--epochs` epochs with the paper's cosine schedule and is scored by its final
accuracy on a validation split held out of the training data (`val_accuracy`;
`--validation-fraction`, default 0.1, per class, fixed by `--validation-seed`); the test
split is never seen by the search (`--select-on test` scores on it instead, as the paper
chose its hyperparameters). Prints the best trials as a table and saves them to
`<output-dir>/best_trials.json` and `best_trials.txt`; keras-tuner's own trial folders are
in `<output-dir>/tuner/`.

```text
KERAS_BACKEND=torch python -m keras_trt.experiments tune --tuner bayesian --max-trials 20
```
"""

import argparse
import os

from keras_trt.atomic_io import write_json_atomic
from keras_trt.experiments import execution
from keras_trt.experiments.cli import arguments, preset_runs
from keras_trt.experiments.presets import PRESETS

__all__ = ["main", "parse_args"]

TUNERS = ("random", "bayesian", "hyperband")


def _range(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH or a value, got {text!r}") from None
    if len(values) == 1:
        return values[0]
    if len(values) != 2 or values[0] > values[1] or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH with 0 <= LOW <= HIGH, got {text!r}")
    return tuple(values)


def parse_args(argv=None, prog="tune_trt.py"):
    preset = arguments.preset_from_argv(argv, "--recipe", prog)
    parser = arguments.build_parser(preset, prog=prog)
    parser.description = __doc__.splitlines()[0]
    g = parser.add_argument_group("search")
    g.add_argument("--recipe", choices=tuple(PRESETS), default="quickstart",
                   help="the preset whose dataset and model to tune on")
    g.add_argument("--tuner", choices=TUNERS, default="random")
    g.add_argument("--max-trials", type=arguments.positive_int, default=10,
                   help="trials of random/Bayesian search")
    g.add_argument("--hyperband-factor", type=arguments.positive_int, default=3)
    g.add_argument("--eta-range", type=_range, default=(0.0, 0.1), metavar="LOW,HIGH")
    g.add_argument("--lam-range", type=_range, default=(1e-6, 1e-3), metavar="LOW,HIGH")
    g.add_argument("--decay-range", type=_range, default=(0.1, 1.0), metavar="LOW,HIGH")
    g.add_argument("--lr-range", type=_range, default=(1e-4, 1e-2), metavar="LOW,HIGH")
    g.add_argument("--top", type=arguments.positive_int, default=5,
                   help="how many best trials to print and save")
    parser.set_defaults(epochs=min(preset.epochs, 5), method="trt")
    args = parser.parse_args(argv)
    if args.output_dir is None:
        args.output_dir = os.path.join("runs", f"tune-{args.recipe}")
    if args.data_dir is not None and not os.path.isdir(os.path.expanduser(args.data_dir)):
        parser.error(f"--data-dir {args.data_dir} does not exist")
    arguments.resolve_validation(parser, args)
    return preset, args


def main(argv=None, prog="tune_trt.py"):
    """Runs the search; returns what best_trials.json holds."""
    preset, args = parse_args(argv, prog)
    if args.method != "trt":
        raise SystemExit(f"{prog}: error: the search tunes TRT; --method must be trt")
    import keras

    from keras_trt import tuning

    keras.config.set_dtype_policy(execution.resolve_policy(args.mixed_precision))
    keras.utils.set_random_seed(args.seed)
    with preset_runs.one_line_errors():
        train = preset_runs.load(preset, args, "train")
        # The trials are scored on `validation` (fit's validation_data: `val_accuracy`).
        validation = preset_runs.load(
            preset, args, "validation" if args.select_on == "validation" else "test")
    if args.max_steps:
        train, validation = train.take(args.max_steps), validation.take(args.max_steps)
    hypermodel = tuning.TRTHyperModel(
        lambda: preset.build_model(**vars(args)), eta=args.eta_range, lam=args.lam_range,
        decay=args.decay_range, learning_rate=args.lr_range, epsilon=args.epsilon,
        jit_compile=execution.resolve_jit(args.jit), seed=args.seed)
    tuner = tuning.make_tuner(
        hypermodel, args.tuner, max_trials=args.max_trials, max_epochs=args.epochs,
        factor=args.hyperband_factor, seed=args.seed,
        directory=os.path.join(args.output_dir, "tuner"), project_name=args.tuner,
        overwrite=not args.resume)
    tuner.search(train, validation_data=validation, epochs=args.epochs, verbose=args.verbose)
    rows = tuning.best_trials(tuner, args.top)
    if not rows or rows[0]["score"] is None:
        arguments.fail("no trial completed; see the trial logs under "
                       f"{os.path.join(args.output_dir, 'tuner')}")
    table = tuning.format_trials(rows)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "best_trials.txt"), "w") as f:
        f.write(table + "\n")
    summary = {"recipe": args.recipe, "dataset": preset.dataset, "tuner": args.tuner,
               "objective": tuning.OBJECTIVE, "scored_on": args.select_on,
               "validation_fraction": args.validation_fraction,
               "validation_seed": args.validation_seed, "epochs_per_trial": args.epochs,
               "max_trials": args.max_trials, "backend": execution.backend_name(),
               "seed": args.seed, "best_trials": rows}
    write_json_atomic(os.path.join(args.output_dir, "best_trials.json"), summary)
    print(f"\nBest trials ({args.tuner} search, {tuning.OBJECTIVE} on the {args.select_on} "
          f"split, {preset.dataset}):\n")
    print(table)
    print(f"\nSaved {os.path.join(args.output_dir, 'best_trials.json')} and best_trials.txt")
    return summary
