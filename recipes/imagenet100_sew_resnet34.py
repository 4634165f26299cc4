#!/usr/bin/env python
"""ImageNet-100 with SEW-ResNet-34 (paper Table 1; hyperparameters:
paper Table S2, docs/method.md#hyperparameters).

    KERAS_BACKEND=torch python recipes/imagenet100_sew_resnet34.py --data-dir /data/imagenet100

T = 4, IF neurons (tau 1.0), TRT: eta 0.001, lambda 5e-5, delta 0.5, eps 1e-5; Adam 1e-3
with cosine annealing over 300 epochs, batch 64. Data: `<data-dir>/train/<wnid>/*.JPEG`
and `<data-dir>/val/<wnid>/*.JPEG` (see docs/datasets.md). `--image-size` and `--widths`
shrink the run for smoke tests.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as common  # noqa: E402


def build_model(args):
    import keras_trt as kt
    extra = {"widths": args.widths} if args.widths else {}
    size = args.image_size
    return kt.models.SEWResNet34(num_classes=100, timesteps=args.timesteps,
                                 input_shape=(size, size, 3), tau=args.tau, **extra)


def extra_args(parser):
    parser.add_argument("--image-size", type=common._positive_int, default=224,
                        help="training/test crop side (the test resize keeps 256/224)")


def loader_kwargs(args, split):
    return {"image_size": args.image_size,
            "resize_size": max(1, round(args.image_size * 256 / 224))}


RECIPE = common.Recipe(
    name="imagenet100_sew_resnet34", dataset="imagenet100", num_classes=100,
    description=__doc__.splitlines()[0],
    build_model=build_model,
    eta=0.001, lam=5e-5, decay=0.5, tet_lam=1e-3, tau=1.0, timesteps=4,
    loader_kwargs=loader_kwargs, extra_args=extra_args,
)


def main(argv=None, callbacks=()):
    return common.main(RECIPE, argv, callbacks)


if __name__ == "__main__":
    main()
