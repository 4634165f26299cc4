#!/usr/bin/env python
"""CIFAR-10 with ResNet-19 (paper Tables 1/2).

    KERAS_BACKEND=torch python recipes/cifar10_resnet19.py --timesteps 6

The paper's procedure and hyperparameters (docs/method.md#hyperparameters): the
`cifar10_resnet19` preset of `keras_trt.experiments`, which holds every number;
`--help` lists the flags and their defaults, `--method tet|sdt` gives the baselines. The
same run without a clone: `python -m keras_trt.experiments cifar10_resnet19`. Data:
tensorflow-datasets' `cifar10` under `--data-dir` (see docs/datasets.md).
"""

from keras_trt.experiments.cli import train


def main(argv=None, callbacks=()):
    return train.main("cifar10_resnet19", argv, callbacks=callbacks, prog="cifar10_resnet19.py")


if __name__ == "__main__":
    main()
