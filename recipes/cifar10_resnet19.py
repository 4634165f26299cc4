#!/usr/bin/env python
"""CIFAR-10 with ResNet-19 (paper Table 1/2; hyperparameters:
paper Table S2, docs/method.md#hyperparameters).

    KERAS_BACKEND=torch python recipes/cifar10_resnet19.py --timesteps 6

TRT: eta 0.05, lambda 1e-5, delta 0.25, eps 1e-5; tau 2.0; Adam 1e-3 with cosine
annealing over 300 epochs, batch 64. `--method tet|sdt` gives the baselines (TET uses the
official CIFAR value lambda_TET = 0). Data: tensorflow-datasets' `cifar10` under
`--data-dir` (see docs/datasets.md).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as common  # noqa: E402


def build_model(args, num_classes=10):
    import keras_trt as kt
    extra = {"widths": args.widths} if args.widths else {}
    return kt.models.ResNet19(num_classes=num_classes, timesteps=args.timesteps,
                              input_shape=(32, 32, 3), tau=args.tau, **extra)


RECIPE = common.Recipe(
    name="cifar10_resnet19", dataset="cifar10", num_classes=10,
    description=__doc__.splitlines()[0],
    build_model=build_model,
    eta=0.05, lam=1e-5, decay=0.25, tet_lam=0.0, tau=2.0,
    timesteps=6, timestep_choices=(6, 4, 2),
)


def main(argv=None, callbacks=()):
    return common.main(RECIPE, argv, callbacks)


if __name__ == "__main__":
    main()
