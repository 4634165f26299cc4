#!/usr/bin/env python
"""CIFAR-100 with ResNet-19 (paper Tables 1/2).

    KERAS_BACKEND=torch python recipes/cifar100_resnet19.py --timesteps 4

The paper's procedure and hyperparameters (docs/method.md#hyperparameters): the
`cifar100_resnet19` preset of `keras_trt.experiments`, which holds every number;
`--help` lists the flags and their defaults, `--method tet|sdt` gives the baselines. The
same run without a clone: `python -m keras_trt.experiments cifar100_resnet19`. Data:
tensorflow-datasets' `cifar100` under `--data-dir`.
"""

from keras_trt.experiments.cli import train


def main(argv=None, callbacks=()):
    return train.main("cifar100_resnet19", argv, callbacks=callbacks, prog="cifar100_resnet19.py")


if __name__ == "__main__":
    main()
