#!/usr/bin/env python
"""ImageNet-100 with SEW-ResNet-34 (paper Table 1).

    KERAS_BACKEND=torch python recipes/imagenet100_sew_resnet34.py --data-dir /data/imagenet100

The paper's procedure and hyperparameters (docs/method.md#hyperparameters): the
`imagenet100_sew_resnet34` preset of `keras_trt.experiments`, which holds every number;
`--help` lists the flags and their defaults, `--method tet|sdt` gives the baselines. The
same run without a clone: `python -m keras_trt.experiments imagenet100_sew_resnet34`. Data:
`<data-dir>/train/<wnid>/*.JPEG` and `<data-dir>/val/<wnid>/*.JPEG` (see
docs/datasets.md). `--image-size` and `--widths` shrink the run for smoke tests.
"""

from keras_trt.experiments.cli import train


def main(argv=None, callbacks=()):
    return train.main("imagenet100_sew_resnet34", argv, callbacks=callbacks,
                      prog="imagenet100_sew_resnet34.py")


if __name__ == "__main__":
    main()
