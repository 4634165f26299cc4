"""The recipes' command line: the `Recipe` record of an experiment and its parser.

A recipe script declares `Recipe(...)` (dataset, model builder, the paper's
hyperparameters as defaults) and `_common.main(RECIPE)` parses the arguments built here;
bad values end the run with one line (`fail`), never a traceback.

```python
import _cli
parser = _cli.build_parser(RECIPE)        # RECIPE: a _cli.Recipe
args = _cli.parse_args(RECIPE, ["--method", "tet", "--epochs", "2"])
```
"""

import argparse
import dataclasses
import os
from typing import Callable, Optional

METHODS = ("trt", "tet", "sdt")
FI_EPOCHS = "20-40-60-80-100-120-200-300"   # the reference's --fi_epochs
SELECT_ON = ("validation", "test")
DEFAULT_VALIDATION_FRACTION = 0.1
BEST_ACCURACY_NOTE = (
    "`final_test_accuracy` is the last epoch's test accuracy. With --select-on validation "
    "(default) the best epoch is chosen on a validation split held out of the training data "
    "(`best_validation_accuracy`) and `test_accuracy_at_best_epoch` is that epoch's test "
    "accuracy, an unbiased estimate; `best_test_accuracy` (the maximum over epochs) is the "
    "paper's protocol, where the test set doubles as the validation set (--select-on test), "
    "and is optimistic.")


@dataclasses.dataclass
class Recipe:
    """One experiment: its data, its model and its paper defaults (docs/method.md, TRT and
    Hyperparameters).

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


def _fraction(text):
    value = _non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
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
    g.add_argument("--validation-fraction", type=_fraction, default=None,
                   help="part of the training split held out for validation, per class, "
                        "fixed by --validation-seed (default "
                        f"{DEFAULT_VALIDATION_FRACTION} with --select-on validation, 0 with "
                        "--select-on test)")
    g.add_argument("--validation-seed", type=int, default=0,
                   help="seed of the validation split (independent of --seed, so every "
                        "training seed holds out the same samples)")
    g.add_argument("--train-samples", type=_positive_int, default=None,
                   help="train on a seeded, stratified subset of this many training samples "
                        "(after the validation split)")
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
    g = p.add_argument_group("analysis during training")
    g.add_argument("--observe-fi", nargs="?", const=FI_EPOCHS, default=None,
                   metavar="EPOCHS",
                   help="Fisher information FI(t) and its centroid IC after these epochs "
                        f"(bare flag: the reference's {FI_EPOCHS}; 'all': every epoch, the "
                        "reference's --observe_ic), written to fisher.csv and fisher.png")
    g.add_argument("--fi-batches", type=_positive_int, default=101,
                   help="training batches per prefix length t for --observe-fi "
                        "(reference: 101)")
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
    if args.observe_fi is not None:
        from keras_trt.callbacks.fisher import _parse_epochs
        try:
            _parse_epochs(args.observe_fi)
        except ValueError:
            parser.error("--observe-fi must be 'all' or epochs like 20-40-60 (1-based), got "
                         f"{args.observe_fi!r}")
    resolve_validation(parser, args)
    return args


def resolve_validation(parser, args):
    """--validation-fraction's default follows --select-on; validation needs a split."""
    if args.validation_fraction is None:
        args.validation_fraction = (DEFAULT_VALIDATION_FRACTION
                                    if args.select_on == "validation" else 0.0)
    if args.select_on == "validation" and args.validation_fraction == 0:
        parser.error("--select-on validation needs --validation-fraction > 0 "
                     "(or --select-on test, the paper's protocol)")


def fail(message):
    """Exit with status 1 and a one-line message (no traceback)."""
    raise SystemExit(f"error: {' '.join(str(message).split())}")
