#!/usr/bin/env python
"""keras-tuner search over TRT's eta, lambda, delta and the learning rate on a recipe's data.

    KERAS_BACKEND=torch python recipes/tune_trt.py --tuner bayesian --max-trials 20

Any preset's dataset and model (`--recipe`, default `quickstart`), each trial scored by
its final accuracy on a validation split held out of the training data; the best trials
go to `<output-dir>/best_trials.json` and `best_trials.txt`. The same without a clone:
`python -m keras_trt.experiments tune` (keras_trt.experiments.cli.tune).
"""

from keras_trt.experiments.cli import tune


def main(argv=None):
    return tune.main(argv, prog="tune_trt.py")


if __name__ == "__main__":
    main()
