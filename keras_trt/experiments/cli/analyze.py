"""`python -m keras_trt.experiments analyze --run DIR`: every analysis of the paper on a
run folder (keras_trt.experiments.analyze_run), written to `<run>/analysis`.

```text
python -m keras_trt.experiments analyze --run runs/dvs_cifar10_vggsnn-trt --skip landscape
```
"""

import argparse
import os
import sys

from keras_trt.experiments.analyze import ANALYSES, analyze_run
from keras_trt.experiments.errors import ExperimentError

__all__ = ["main", "parse_args"]


def _fail(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv=None, prog="analyze.py"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a run folder")
    p.add_argument("--checkpoint", help="a .keras file (default: best/last in --run)")
    p.add_argument("--output", help="report folder (default <run>/analysis)")
    p.add_argument("--dataset", help="keras_trt.data loader name (default: results.json's)")
    p.add_argument("--data-dir", help="passed to the loader as data_dir")
    p.add_argument("--data-npz", help="an .npz with arrays x and y, instead of a dataset")
    p.add_argument("--split", default="test", help="split for the firing rates")
    p.add_argument("--landscape-split", default="train",
                   help="split for the landscape (default train, without augmentation)")
    p.add_argument("--fisher-split", default="train", help="split for the Fisher information")
    p.add_argument("--samples", type=int, default=256, help="samples for rates and landscape")
    p.add_argument("--fisher-samples", type=int, default=None,
                   help="use the first N samples as arrays for the Fisher information "
                        "(default: stream the shuffled, augmented split, as the reference)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--fisher-batches", type=int, default=101,
                   help="batches per prefix length t (reference: 101)")
    p.add_argument("--fisher-batch-size", type=int, default=64, help="(reference: 64)")
    p.add_argument("--fisher-divisor", default="100",
                   help="divisor of the squared gradients: a number (reference: 100) or "
                        "'batches'")
    p.add_argument("--landscape-steps", type=int, default=21)
    p.add_argument("--landscape-span", type=float, default=1.0)
    p.add_argument("--landscape-samples", type=int, default=None,
                   help="samples per landscape point (default: --samples)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the landscape directions and samples and of the Fisher "
                        "stream")
    p.add_argument("--compare", nargs="*", default=[],
                   help="other run folders whose learning curves and loss landscapes "
                        "join this run's")
    p.add_argument("--early-exit-criterion", default="confidence",
                   choices=("confidence", "margin"),
                   help="early exit score: top softmax probability or top-2 margin")
    p.add_argument("--early-exit-thresholds", type=float, nargs="+", default=None,
                   help="early exit thresholds in [0, 1] (default: a sweep per criterion)")
    p.add_argument("--skip", nargs="*", default=[], choices=ANALYSES)
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument("--e-mac", type=float, default=4.6,
                   help="pJ per multiply-accumulate (default: 32-bit float, 45 nm, Horowitz 2014)")
    p.add_argument("--e-ac", type=float, default=0.9,
                   help="pJ per accumulate (default: 32-bit float add, 45 nm, Horowitz 2014)")
    args = p.parse_args(argv)
    for name in ("samples", "batch_size", "fisher_batches", "fisher_batch_size",
                 "landscape_steps"):
        if getattr(args, name) < 1:
            _fail(prog, f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.landscape_steps % 2 == 0:
        _fail(prog, f"--landscape-steps must be odd (the grid's centre is the model itself), "
                    f"got {args.landscape_steps}")
    outside = [t for t in args.early_exit_thresholds or () if not 0.0 <= t <= 1.0]
    if outside:
        _fail(prog, f"--early-exit-thresholds must lie in [0, 1], got {outside}")
    if args.e_mac < 0 or args.e_ac < 0:
        _fail(prog, f"--e-mac and --e-ac must be >= 0 pJ, got {args.e_mac} and {args.e_ac}")
    if args.landscape_span <= 0:
        _fail(prog, f"--landscape-span must be > 0, got {args.landscape_span}")
    if args.fisher_divisor != "batches":
        try:
            args.fisher_divisor = float(args.fisher_divisor)
        except ValueError:
            _fail(prog, "--fisher-divisor must be a number or 'batches', got "
                        f"{args.fisher_divisor!r}")
        if args.fisher_divisor <= 0:
            _fail(prog, "--fisher-divisor must be > 0")
    if not os.path.isdir(args.run):
        _fail(prog, f"--run {args.run!r} is not a directory")
    return args


def main(argv=None, prog="analyze.py"):
    """Parses the flags and runs `analyze_run`; returns the report."""
    args = parse_args(argv, prog)
    try:
        return analyze_run(
            args.run, checkpoint=args.checkpoint, output_dir=args.output,
            data=args.data_npz, dataset=args.dataset, data_dir=args.data_dir,
            split=args.split, landscape_split=args.landscape_split,
            fisher_split=args.fisher_split, samples=args.samples,
            fisher_samples=args.fisher_samples, batch_size=args.batch_size,
            fisher_batches=args.fisher_batches, fisher_batch_size=args.fisher_batch_size,
            fisher_divisor=args.fisher_divisor, landscape_steps=args.landscape_steps,
            landscape_span=args.landscape_span, landscape_samples=args.landscape_samples,
            seed=args.seed, compare=args.compare,
            early_exit_criterion=args.early_exit_criterion,
            early_exit_thresholds=args.early_exit_thresholds, skip=args.skip,
            verbose=args.verbose, e_mac=args.e_mac, e_ac=args.e_ac)
    except ExperimentError as e:
        _fail(prog, e)
