#!/usr/bin/env python
"""Runs every analysis of the paper on a recipe's output directory and writes a report.

    python recipes/analyze.py --run runs/dvs_cifar10_trt

Firing rates, Fisher information, loss landscape (with `--compare` runs), learning curves,
energy and early exit, into `<run>/analysis` (`--output`) with `report.json`. The same
without a clone: `python -m keras_trt.experiments analyze`; the library call:
`keras_trt.experiments.analyze_run` (docs/experiments.md).
"""

from keras_trt.experiments.cli import analyze


def main(argv=None):
    return analyze.main(argv, prog="analyze.py")


if __name__ == "__main__":
    main()
