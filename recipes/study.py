#!/usr/bin/env python
"""Study: SDT, TET and TRT over several seeds, with means, spreads and paired confidence intervals.

    KERAS_BACKEND=torch python recipes/study.py --seeds 5 --output-dir runs/study
    KERAS_BACKEND=torch python recipes/study.py --seeds 5 --grid lam=1e-5,1e-4 --grid decay=0.25,1

The quick start's data and model by default (`--preset`), trained by
`keras_trt.experiments.train` once per seed and method (and per value of each `--grid`
sweep), analysed after training; writes table.txt, study.json, runs.csv, summary.csv,
sweep_<param>.csv, learning_curves.png and timestep_accuracy.png into `--output-dir`, each
run in `runs/<label>/seed<k>/`. Run the same command again to continue an interrupted
study. The same without a clone: `python -m keras_trt.experiments study`
(keras_trt.experiments.cli.study; the library call: keras_trt.experiments.study).
"""

from keras_trt.experiments.cli import study


def main(argv=None, callbacks=()):
    return study.main(argv, callbacks=callbacks, prog="study.py")


if __name__ == "__main__":
    main()
