#!/usr/bin/env python
"""N-Caltech101 with VGGSNN (paper Table 1).

    KERAS_BACKEND=torch python recipes/ncaltech101_vggsnn.py --data-dir /data

The paper's procedure and hyperparameters (docs/method.md#hyperparameters): the
`ncaltech101_vggsnn` preset of `keras_trt.experiments`, which holds every number;
`--help` lists the flags and their defaults, `--method tet|sdt` gives the baselines. The
same run without a clone: `python -m keras_trt.experiments ncaltech101_vggsnn`. Data:
`<data-dir>/NCALTECH101/Caltech101/<class>/*.bin` (see docs/datasets.md); framing
runs once and is cached.
"""

from keras_trt.experiments.cli import train


def main(argv=None, callbacks=()):
    return train.main("ncaltech101_vggsnn", argv, callbacks=callbacks, prog="ncaltech101_vggsnn.py")


if __name__ == "__main__":
    main()
