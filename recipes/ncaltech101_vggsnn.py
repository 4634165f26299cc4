#!/usr/bin/env python
"""N-Caltech101 with VGGSNN (paper Table 1; hyperparameters:
paper Table S2, docs/method.md#hyperparameters).

    KERAS_BACKEND=torch python recipes/ncaltech101_vggsnn.py --data-dir /data

T = 10 frames of equal event counts (raw counts, no augmentation) at 48x48; TRT: eta
0.05, lambda 5e-5, delta 0.5, eps 1e-5; tau 2.0; Adam 1e-3 with cosine annealing over 300
epochs, batch 64. Data: `<data-dir>/NCALTECH101/Caltech101/<class>/*.bin` (see
docs/datasets.md); framing runs once and is cached.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as common  # noqa: E402
from dvs_cifar10_vggsnn import extra_args, loader_kwargs, vgg_builder  # noqa: E402

RECIPE = common.Recipe(
    name="ncaltech101_vggsnn", dataset="ncaltech101", num_classes=101,
    description=__doc__.splitlines()[0],
    build_model=vgg_builder(101),
    eta=0.05, lam=5e-5, decay=0.5, tet_lam=1e-3, tau=2.0, timesteps=10,
    loader_kwargs=loader_kwargs, extra_args=extra_args,
)


def main(argv=None, callbacks=()):
    return common.main(RECIPE, argv, callbacks)


if __name__ == "__main__":
    main()
