"""The command line of a preset: its flags (defaults: the preset's values), their checks,
and the run's settings derived from them.

Bad values end the command with one line (`prog: error: ...`), never a traceback.

```python
from keras_trt.experiments import get_preset
from keras_trt.experiments.cli import arguments

args = arguments.parse_args(get_preset("quickstart"), ["--method", "tet", "--epochs", "2"])
print(args.method, args.epochs, args.lam, args.validation_fraction)   # tet 2 5e-05 0.1
```
"""

import argparse
import os

from keras_trt.experiments.methods import METHODS
from keras_trt.experiments.training import RUN_DEFINING, SELECT_ON

__all__ = ["build_parser", "parse_args", "preset_from_argv", "resolve_validation",
           "run_config", "fail", "positive_int", "non_negative_float", "unit_float", "fraction", "positive_float",
           "widths", "methods", "OneLineParser", "FI_EPOCHS", "DEFAULT_VALIDATION_FRACTION"]

FI_EPOCHS = "20-40-60-80-100-120-200-300"   # the reference's --fi_epochs
DEFAULT_VALIDATION_FRACTION = 0.1
# What defines a preset's run beyond the training settings (a resume must match them).
PRESET_RUN_DEFINING = ("tau", "timesteps", "widths", "image_size", "frame_size", "frames",
                       "validation_fraction", "validation_seed", "train_samples")


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def unit_float(text):
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def fraction(text):
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def positive_float(text):
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def widths(text):
    try:
        found = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated channel counts such as 16,32,64, got {text!r}") from None
    if not found or min(found) < 1:
        raise argparse.ArgumentTypeError(f"channel counts must be positive, got {text!r}")
    return found


def methods(text):
    found = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in found if m not in METHODS]
    if bad or not found:
        raise argparse.ArgumentTypeError(
            f"unknown method {','.join(bad) or text!r}; choose from {', '.join(METHODS)}")
    return found


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are one line (`prog: error: ...`) without the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(message):
    """Exit with status 1 and a one-line message (no traceback)."""
    raise SystemExit(f"error: {' '.join(str(message).split())}")


def preset_from_argv(argv, flag, prog, default="quickstart"):
    """The preset that `flag` (e.g. "--preset") names in `argv`, read before the full
    parser exists (the preset decides the other flags' defaults)."""
    from keras_trt.experiments.presets import PRESETS, get_preset

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument(flag, default=default)
    known, _ = pre.parse_known_args(argv)
    name = getattr(known, flag.lstrip("-").replace("-", "_"))
    if name not in PRESETS:
        raise SystemExit(f"{prog}: error: argument {flag}: invalid choice {name!r} (choose "
                         f"from {', '.join(PRESETS)})")
    return get_preset(name)


def _option_type(option):
    return positive_int if option.type is int else option.type


def build_parser(preset, prog=None, several_methods=False):
    """The shared command line, with `preset`'s values as defaults.

    `several_methods`: `--methods sdt,tet,trt` (a comparison) instead of `--method trt`.
    """
    hp = preset.hyperparameters
    p = OneLineParser(prog=prog or f"{preset.name}.py", description=preset.description,
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("method")
    if several_methods:
        g.add_argument("--methods", type=methods, default=("sdt", "tet", "trt"),
                       help="comma-separated methods to train and compare")
    else:
        g.add_argument("--method", choices=METHODS, default="trt",
                       help="trt: TRTLoss + time-decaying weight penalty; tet: TETLoss; "
                            "sdt: CE of the time-averaged logits")
    g.add_argument("--eta", type=unit_float, default=hp["eta"],
                   help="TRT: weight of the MSE-to-one-hot term")
    g.add_argument("--lam", type=non_negative_float, default=hp["lam"],
                   help="TRT: weight penalty strength lambda")
    g.add_argument("--decay", type=non_negative_float, default=hp["decay"],
                   help="TRT: decay factor delta of the penalty over timesteps")
    g.add_argument("--epsilon", type=non_negative_float, default=hp["epsilon"],
                   help="TRT: shift of |w| in the penalty's denominator")
    g.add_argument("--tet-lam", type=unit_float, default=hp["tet_lam"],
                   help="TET: weight of the MSE term (TET's official value for this dataset)")
    g.add_argument("--tet-phi", type=float, default=hp["tet_phi"], help="TET: MSE target phi")
    g = p.add_argument_group("model")
    g.add_argument("--tau", type=float, default=preset.tau, help="LIF time constant (>= 1)")
    if preset.timestep_choices:
        g.add_argument("--timesteps", type=int, choices=preset.timestep_choices,
                       default=preset.timesteps, help="T, presentations of each image")
    elif preset.timesteps is not None:
        g.add_argument("--timesteps", type=positive_int, default=preset.timesteps,
                       help="T, the number of timesteps")
    g.add_argument("--widths", type=widths, default=None,
                   help="override the model's channel widths (comma-separated), e.g. for "
                        "smoke tests; default: the paper's network")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int, default=preset.epochs)
    g.add_argument("--batch-size", type=positive_int, default=preset.batch_size)
    g.add_argument("--lr", type=positive_float, default=preset.lr,
                   help="initial Adam learning rate (cosine-annealed to 0 per epoch)")
    g.add_argument("--seed", type=int, default=preset.seed,
                   help="seed of initialisation, shuffling and augmentation")
    g.add_argument("--mixed-precision", nargs="?", const="auto", default=None,
                   choices=("auto", "mixed_float16", "mixed_bfloat16"),
                   help="mixed precision policy; bare flag: mixed_float16 on a GPU (as "
                        "the paper's AMP), mixed_bfloat16 on CPU")
    g.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                   help="compile the training step: auto = XLA on TensorFlow (bit-exact "
                        "--resume) and JAX, eager torch; off is faster for full-size "
                        "networks on a TensorFlow CPU (docs/performance.md)")
    g.add_argument("--distribute", choices=("none", "auto"), default="none",
                   help="auto: data-parallel on the backend's own engine (TensorFlow: all "
                        "local GPUs; JAX: all devices; torch: the processes of torchrun) "
                        "with tdBN over the global batch; see docs/distributed.md")
    g.add_argument("--select-on", choices=SELECT_ON, default="validation",
                   help="the split that chooses the best epoch (best.keras): validation, "
                        "held out of the training data; test: the paper's protocol (its "
                        "tables), which trains on the whole training split")
    g.add_argument("--validation-fraction", type=fraction, default=None,
                   help="part of the training split held out for validation, per class, "
                        "fixed by --validation-seed (default "
                        f"{DEFAULT_VALIDATION_FRACTION} with --select-on validation, 0 with "
                        "--select-on test)")
    g.add_argument("--validation-seed", type=int, default=0,
                   help="seed of the validation split (independent of --seed, so every "
                        "training seed holds out the same samples)")
    g.add_argument("--train-samples", type=positive_int, default=None,
                   help="train on a seeded, stratified subset of this many training samples "
                        "(after the validation split)")
    g.add_argument("--max-steps", type=positive_int, default=None,
                   help="cap training and evaluation steps per epoch (smoke runs)")
    g = p.add_argument_group("input/output")
    g.add_argument("--data-dir", default=None,
                   help="dataset folder (default $KERAS_TRT_DATA_DIR; see docs/datasets.md)")
    g.add_argument("--output-dir", default=None,
                   help=f"run folder (default runs/{preset.name}-<method>)")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --output-dir from its last completed epoch")
    g.add_argument("--overwrite", action="store_true",
                   help="start over in an --output-dir that already holds a run")
    g.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="Keras verbosity: 1 progress bars, 2 one line per epoch, 0 silent")
    g = p.add_argument_group("analysis during training")
    g.add_argument("--observe-fi", nargs="?", const=FI_EPOCHS, default=None,
                   metavar="EPOCHS",
                   help="Fisher information FI(t) and its centroid IC after these epochs "
                        f"(bare flag: the reference's {FI_EPOCHS}; 'all': every epoch, the "
                        "reference's --observe_ic), written to fisher.csv and fisher.png")
    g.add_argument("--fi-batches", type=positive_int, default=101,
                   help="training batches per prefix length t for --observe-fi "
                        "(reference: 101)")
    if preset.options:
        g = p.add_argument_group(f"{preset.name}")
        for name, option in preset.options.items():
            g.add_argument(f"--{name.replace('_', '-')}", type=_option_type(option),
                           default=option.default, choices=option.choices, help=option.help)
    return p


def check_common(parser, args):
    """The checks that argparse's types cannot make alone."""
    if args.tau < 1:
        parser.error(f"--tau must be >= 1 (leak factor 1/tau), got {args.tau}")
    if args.data_dir is not None and not os.path.isdir(os.path.expanduser(args.data_dir)):
        parser.error(f"--data-dir {args.data_dir} does not exist")
    if getattr(args, "observe_fi", None) is not None:
        from keras_trt.callbacks.fisher import parse_epochs
        try:
            parse_epochs(args.observe_fi)
        except ValueError:
            parser.error("--observe-fi must be 'all' or epochs like 20-40-60 (1-based), got "
                         f"{args.observe_fi!r}")
    resolve_validation(parser, args)


def parse_args(preset, argv=None, prog=None, several_methods=False):
    """The checked arguments of `preset`'s command line (`--output-dir` defaults to
    `runs/<preset>[-T<T>][-<method>]`)."""
    parser = build_parser(preset, prog, several_methods)
    args = parser.parse_args(argv)
    if args.output_dir is None:
        suffix = f"-T{args.timesteps}" if preset.timestep_choices else ""
        method = "" if several_methods else f"-{args.method}"
        args.output_dir = os.path.join("runs", f"{preset.name}{suffix}{method}")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    check_common(parser, args)
    return args


def resolve_validation(parser, args):
    """--validation-fraction's default follows --select-on; validation needs a split."""
    if args.validation_fraction is None:
        args.validation_fraction = (DEFAULT_VALIDATION_FRACTION
                                    if args.select_on == "validation" else 0.0)
    if args.select_on == "validation" and args.validation_fraction == 0:
        parser.error("--select-on validation needs --validation-fraction > 0 "
                     "(or --select-on test, the paper's protocol)")


def run_config(args):
    """The settings that define a run started from these arguments (what a resume must
    match), as the run folder's backup records them."""
    keys = RUN_DEFINING + PRESET_RUN_DEFINING
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(args).items() if k in keys}
