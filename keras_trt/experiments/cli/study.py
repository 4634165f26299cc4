"""`python -m keras_trt.experiments study`: SDT, TET and TRT over several seeds, with
means, spreads and paired confidence intervals (keras_trt.experiments.study), on a preset.

By default the quick start's data and model (`--preset quickstart`: embedded digits_dvs,
a small VGG-style SNN; 20 epochs on a 300-sample training subset, a setting that
overfits). `--grid lam=1e-5,1e-4` adds TRT runs with other values of one TRT
hyperparameter; repeat it to sweep several, each alone around the base values. Every run
lives in `<output-dir>/runs/<label>/seed<k>/`; the same command continues an interrupted
study (finished runs are skipped, an interrupted one resumes exactly).

```text
KERAS_BACKEND=torch python -m keras_trt.experiments study --seeds 5 --output-dir runs/study
python -m keras_trt.experiments study --seeds 5 --grid lam=1e-5,1e-4 --grid decay=0.25,1
```
"""

import argparse
import copy
import os

from keras_trt.experiments import studies
from keras_trt.experiments.cli import arguments, preset_runs
from keras_trt.experiments.presets import PRESETS, QUICK_WIDTHS

__all__ = ["main", "parse_args", "grid"]

# The embedded study setting (docs/results.md, "Study"): 300 training samples and 20
# epochs overfit (a train-test gap of about 15 points, against 8-10 with all 1,290
# training samples) within about 4 minutes per run on 2 CPU cores.
QUICKSTART_STUDY_DEFAULTS = {"epochs": 20, "train_samples": 300}


def grid(text):
    """`PARAM=v1,v2,...` -> (PARAM, [v1, v2, ...]) for one of TRT's hyperparameters."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    names = studies.SWEEP_PARAMETERS
    if not sep or name not in names:
        raise argparse.ArgumentTypeError(
            f"expected PARAM=v1,v2,... with PARAM one of {', '.join(names)}, got {text!r}")
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--grid values must be numbers, got {values!r}") \
            from None
    if not numbers or min(numbers) < 0:
        raise argparse.ArgumentTypeError(f"--grid needs non-negative values, got {values!r}")
    return name, numbers


def parse_args(argv=None, prog="study.py"):
    preset = arguments.preset_from_argv(argv, "--preset", prog)
    parser = arguments.build_parser(preset, prog=prog, several_methods=True)
    parser.description = __doc__.splitlines()[0]
    g = parser.add_argument_group("study")
    g.add_argument("--preset", choices=tuple(PRESETS), default="quickstart",
                   help="whose dataset, model and hyperparameters to study")
    g.add_argument("--seeds", type=arguments.positive_int, default=5,
                   help="number of seeds (--seed, --seed + 1, ...)")
    g.add_argument("--grid", type=grid, action="append", default=None,
                   metavar="PARAM=V1,V2,...",
                   help="TRT variants: one run per value of this TRT hyperparameter "
                        f"({', '.join(studies.SWEEP_PARAMETERS)}), the others at their "
                        "base values (a base value is the plain TRT run); repeat to sweep "
                        "several")
    g.add_argument("--fisher-batches", type=arguments.positive_int, default=4,
                   help="training-split batches for the Fisher information centroid")
    parser.set_defaults(seed=0, **(QUICKSTART_STUDY_DEFAULTS
                                   if preset.name == "quickstart" else {}))
    args = parser.parse_args(argv)
    if args.resume or args.overwrite:
        parser.error("the study resumes by itself (finished runs are skipped, interrupted "
                     "ones resumed); --resume and --overwrite are not used")
    if args.output_dir is None:
        args.output_dir = os.path.join("runs", "study")
    arguments.check_common(parser, args)
    sweeps = {}
    for name, values in args.grid or ():
        sweeps.setdefault(name, [])
        sweeps[name] += [v for v in values if v not in sweeps[name]]
    return preset, args, sweeps


def main(argv=None, callbacks=(), prog="study.py"):
    """Runs the study as the command line says; returns what study.json holds."""
    preset, args, sweeps = parse_args(argv, prog)

    def split(name, **overrides):
        return lambda seed: preset_runs.load(preset, _changed(args, seed), name, **overrides)

    def run_record(method, seed):
        return preset_runs.record(preset, _changed(args, seed, {"method": method}))

    model = {"quickstart": f"VGGSNN(widths={list(args.widths or QUICK_WIDTHS)})"}.get(
        preset.name, preset.network)
    with preset_runs.one_line_errors():
        return studies.study(
            lambda: preset.build_model(**vars(args)), split("train"),
            split("validation") if args.validation_fraction else None, split("test"),
            seeds=range(args.seed, args.seed + args.seeds), methods=args.methods,
            hyperparameters=preset_runs.hyperparameters(args), sweeps=sweeps,
            output_dir=args.output_dir, epochs=args.epochs, learning_rate=args.lr,
            batch_size=args.batch_size, max_steps=args.max_steps, select_on=args.select_on,
            fisher_batches=args.fisher_batches,
            train_eval_data=split("train", shuffle=False, augment=False),
            mixed_precision=args.mixed_precision, jit=args.jit, verbose=args.verbose,
            callbacks=callbacks, observe_fisher=args.observe_fi,
            fisher_data=(None if args.observe_fi is None else
                         lambda seed: preset_runs.load(preset, _changed(args, seed), "train",
                                                       seed=seed + 1)),
            fi_batches=args.fi_batches, name=preset.name,
            config=arguments.run_config(args), run_record=run_record,
            record={"recipe": preset.name, "dataset": preset.dataset, "model": model,
                    "settings": {k: (list(v) if isinstance(v, tuple) else v)
                                 for k, v in vars(args).items()
                                 if isinstance(v, (int, float, str, tuple, list,
                                                   type(None)))}})


def _changed(args, seed, changes=None):
    out = copy.copy(args)
    out.seed = seed
    for name, value in (changes or {}).items():
        setattr(out, name, value)
    return out
