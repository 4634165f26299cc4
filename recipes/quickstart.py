#!/usr/bin/env python
"""Quick start: SDT, TET and TRT on the embedded event-camera digits, in a few minutes on a CPU.

    KERAS_BACKEND=torch python recipes/quickstart.py

Offline: the data is `keras_trt.data.digits_dvs` (generated once and cached), the model a
small VGG-style SNN; each method is trained with the same seed and budget as the paper
recipes train. It ends with a table of train accuracy, test accuracy and their gap, and
writes `learning_curves.png` and `results.json` (plus one run folder per method) into
`--output-dir` (default `runs/quickstart`). The same without a clone:
`python -m keras_trt.experiments quickstart` (keras_trt.experiments.cli.quickstart).
"""

from keras_trt.experiments.cli import quickstart


def main(argv=None, callbacks=()):
    return quickstart.main(argv, callbacks=callbacks, prog="quickstart.py")


if __name__ == "__main__":
    main()
