#!/usr/bin/env python
"""DVS-CIFAR10 (CIFAR10-DVS) with VGGSNN (paper Tables 1/2: TRT 83.20, SDT 78.50).

    KERAS_BACKEND=torch python recipes/dvs_cifar10_vggsnn.py --data-dir /data

T = 10 frames of equal event counts at 48x48, flip + roll augmentation; TRT: eta 0.001,
lambda 5e-5, delta 0.5, eps 1e-5; tau 2.0; Adam 1e-3 with cosine annealing over 300
epochs, batch 64. TET uses TET's official DVS-CIFAR10 value lambda_TET = 1e-3. Data:
`<data-dir>/CIFAR10DVS/<class>/*.aedat4` (see docs/datasets.md); framing runs once and
is cached.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as common  # noqa: E402


def vgg_builder(num_classes):
    def build_model(args):
        import keras_trt as kt
        extra = {"widths": args.widths} if args.widths else {}
        return kt.models.VGGSNN(num_classes=num_classes,
                                input_shape=(args.timesteps, args.frame_size,
                                             args.frame_size, 2),
                                tau=args.tau, **extra)
    return build_model


def extra_args(parser):
    parser.add_argument("--frame-size", type=common._positive_int, default=48,
                        help="frames are resized to this side (the paper: 48)")
    parser.add_argument("--frames", choices=("counts", "reference"), default="counts",
                        help="per-polarity counts, or the reference code's binary "
                             "single-channel 8-bit frames (docs/datasets.md)")


def loader_kwargs(args, split):
    return {"timesteps": args.timesteps, "size": args.frame_size, "frames": args.frames}


RECIPE = common.Recipe(
    name="dvs_cifar10_vggsnn", dataset="dvs_cifar10", num_classes=10,
    description=__doc__.splitlines()[0],
    build_model=vgg_builder(10),
    eta=0.001, lam=5e-5, decay=0.5, tet_lam=1e-3, tau=2.0, timesteps=10,
    loader_kwargs=loader_kwargs, extra_args=extra_args,
    paper={"trt": 83.20, "sdt": 78.50},
)


def main(argv=None, callbacks=()):
    return common.main(RECIPE, argv, callbacks)


if __name__ == "__main__":
    main()
