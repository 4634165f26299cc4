#!/usr/bin/env python
"""CIFAR-100 with ResNet-19 (paper Table 1/2; hyperparameters:
paper Table S2, docs/method.md#hyperparameters).

    KERAS_BACKEND=torch python recipes/cifar100_resnet19.py --timesteps 4

Same settings as the CIFAR-10 recipe (TRT: eta 0.05, lambda 1e-5, delta 0.25) with a
100-class head. Data: tensorflow-datasets' `cifar100` under `--data-dir`.
"""

import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as common  # noqa: E402
from cifar10_resnet19 import build_model  # noqa: E402

RECIPE = common.Recipe(
    name="cifar100_resnet19", dataset="cifar100", num_classes=100,
    description=__doc__.splitlines()[0],
    build_model=functools.partial(build_model, num_classes=100),
    eta=0.05, lam=1e-5, decay=0.25, tet_lam=0.0, tau=2.0,
    timesteps=6, timestep_choices=(6, 4, 2),
)


def main(argv=None, callbacks=()):
    return common.main(RECIPE, argv, callbacks)


if __name__ == "__main__":
    main()
