"""The validation split: a fixed, seeded, stratified part of the training data held out.

Model selection (the best epoch, a tuner's trials) on the test split reports an optimistic
test accuracy. Every loader therefore takes ``validation_fraction`` (default 0: the whole
training split trains, as the paper) and ``validation_seed``: with a fraction f > 0,
``split="validation"`` is, per class, ``round(f * n_c)`` samples (at least 1, at most
n_c - 1) of the training split
chosen by a permutation seeded with ``validation_seed`` (independent of the training
seed, so every training seed sees the same split), and ``split="train"`` is the rest.
The validation split is never shuffled or augmented. ``train_samples=N`` trains on a
seeded, stratified subset of N of the remaining samples (learning-curve and overfitting
studies).

```python
import numpy as np
from keras_trt.data.holdout import holdout_rows

labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
train, val = holdout_rows(labels, validation_fraction=0.5, validation_seed=0)
sorted(labels[val].tolist())      # [0, 0, 1, 1, 1]: half of each class
set(train) & set(val)             # set(): disjoint
```
"""

import numpy as np

from keras_trt.validation import integer, number, positive_int

__all__ = ["holdout_rows", "split_rows", "check_holdout_args"]


def check_holdout_args(validation_fraction, validation_seed=0, train_samples=None,
                       split=None):
    """Raise ValueError naming the argument if a value is out of range (or if `split` is
    "validation" without a fraction to hold out)."""
    number(validation_fraction, "validation_fraction", at_least=0, below=1)
    integer(validation_seed, "validation_seed")
    positive_int(train_samples, "train_samples", allow_none=True)
    if split == "validation" and validation_fraction == 0:
        raise ValueError('split="validation" needs validation_fraction > 0 (the part of the '
                         "training split held out), got validation_fraction=0")


def _stratified_take(labels, rows, count_of, rng):
    """Per class, the first count_of(n_c) of a seeded permutation of its rows."""
    taken = []
    for c in np.unique(labels[rows]):
        members = rows[labels[rows] == c]
        members = members[rng.permutation(len(members))]
        taken.append(members[:count_of(len(members))])
    return np.sort(np.concatenate(taken)) if taken else np.zeros(0, np.int64)


def holdout_rows(labels, validation_fraction, validation_seed=0, train_samples=None):
    """(train_rows, validation_rows): sorted row indices into `labels`, disjoint.

    Per class c with n_c samples, round(validation_fraction * n_c) rows go to validation,
    at least one and at most n_c - 1 (a class with one sample keeps it for training). `train_samples`: keep N of the
    training rows, stratified (per class round(N * n_c / n), then adjusted to exactly N),
    chosen with the same seed.
    """
    check_holdout_args(validation_fraction, validation_seed, train_samples)
    labels = np.asarray(labels)
    all_rows = np.arange(len(labels))
    rng = np.random.default_rng(validation_seed)
    if validation_fraction > 0:
        val = _stratified_take(
            labels, all_rows,
            lambda n: min(n - 1, max(1, int(np.floor(validation_fraction * n + 0.5)))), rng)
    else:
        val = np.zeros(0, np.int64)
    train = np.setdiff1d(all_rows, val)
    if train_samples is not None:
        if train_samples > len(train):
            raise ValueError(f"train_samples={train_samples} exceeds the {len(train)} "
                             "training samples left after the validation split")
        keep = _stratified_take(
            labels, train, lambda n: int(np.floor(train_samples * n / len(train) + 0.5)), rng)
        # Per-class rounding can miss N by a few: fill or trim with seeded choices.
        if len(keep) < train_samples:
            rest = np.setdiff1d(train, keep)
            keep = np.union1d(keep, rng.choice(rest, train_samples - len(keep), replace=False))
        elif len(keep) > train_samples:
            keep = np.sort(rng.choice(keep, train_samples, replace=False))
        train = keep
    return train.astype(np.int64), val.astype(np.int64)


def split_rows(labels, split, validation_fraction=0.0, validation_seed=0, train_samples=None):
    """The rows of the training split's `labels` that `split` ("train" or "validation")
    uses, or None when all of them are (no validation split, no subset)."""
    check_holdout_args(validation_fraction, validation_seed, train_samples, split)
    if validation_fraction == 0 and train_samples is None:
        return None
    train, val = holdout_rows(labels, validation_fraction, validation_seed, train_samples)
    return val if split == "validation" else train
