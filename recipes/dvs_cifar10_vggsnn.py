#!/usr/bin/env python
"""DVS-CIFAR10 (CIFAR10-DVS) with VGGSNN (paper Tables 1/2).

    KERAS_BACKEND=torch python recipes/dvs_cifar10_vggsnn.py --data-dir /data

The paper's procedure and hyperparameters (docs/method.md#hyperparameters): the
`dvs_cifar10_vggsnn` preset of `keras_trt.experiments`, which holds every number;
`--help` lists the flags and their defaults, `--method tet|sdt` gives the baselines. The
same run without a clone: `python -m keras_trt.experiments dvs_cifar10_vggsnn`. Data:
`<data-dir>/CIFAR10DVS/<class>/*.aedat4` (see docs/datasets.md); framing runs once and
is cached.
"""

from keras_trt.experiments.cli import train


def main(argv=None, callbacks=()):
    return train.main("dvs_cifar10_vggsnn", argv, callbacks=callbacks, prog="dvs_cifar10_vggsnn.py")


if __name__ == "__main__":
    main()
