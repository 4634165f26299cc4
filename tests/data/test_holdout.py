"""The validation split held out of the training data (keras_trt.data.holdout) and the
loaders' split="validation"."""

import numpy as np
import pytest

import keras_trt as kt
from keras_trt.data.holdout import holdout_rows, split_rows

pytestmark = pytest.mark.backend_independent

LABELS = np.repeat(np.arange(3), [10, 20, 7])   # 37 samples, unbalanced classes


def test_holdout_is_stratified_disjoint_and_complete():
    train, val = holdout_rows(LABELS, 0.2, validation_seed=5)
    # per class round(0.2 * n): 2, 4, 1 (7 * 0.2 = 1.4)
    assert np.bincount(LABELS[val]).tolist() == [2, 4, 1]
    assert not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(len(LABELS)))
    assert list(train) == sorted(train) and list(val) == sorted(val)


def test_holdout_is_fixed_by_its_seed():
    a = holdout_rows(LABELS, 0.2, validation_seed=5)[1]
    b = holdout_rows(LABELS, 0.2, validation_seed=5)[1]
    c = holdout_rows(LABELS, 0.2, validation_seed=6)[1]
    np.testing.assert_array_equal(a, b)
    assert set(a) != set(c)


def test_train_samples_is_an_exact_stratified_subset_of_the_rest():
    train, val = holdout_rows(LABELS, 0.2, validation_seed=0, train_samples=15)
    assert len(train) == 15 and not set(train) & set(val)
    # per class 15 * n_c / 30 of the 30 left (8, 16, 6): 4, 8, 3
    assert np.bincount(LABELS[train]).tolist() == [4, 8, 3]
    with pytest.raises(ValueError, match="train_samples=31 exceeds the 30"):
        holdout_rows(LABELS, 0.2, train_samples=31)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="validation_fraction must be a number in"):
        holdout_rows(LABELS, 1.0)
    with pytest.raises(ValueError, match="train_samples must be a positive integer"):
        holdout_rows(LABELS, 0.1, train_samples=0)
    with pytest.raises(ValueError, match='split="validation" needs validation_fraction > 0'):
        split_rows(LABELS, "validation", 0.0)
    assert split_rows(LABELS, "train", 0.0) is None


def _samples(ds):
    x = np.concatenate([b[0].numpy() for b in ds])
    y = np.concatenate([b[1].numpy() for b in ds])
    return x, y


def test_digits_dvs_validation_is_held_out_of_training_and_never_augmented():
    kwargs = dict(batch_size=256, timesteps=2, verbose=0, validation_fraction=0.1)
    full_x, full_y = _samples(kt.data.digits_dvs("train", timesteps=2, batch_size=256,
                                                 verbose=0, shuffle=False))
    train_x, train_y = _samples(kt.data.digits_dvs("train", shuffle=False, **kwargs))
    val = kt.data.digits_dvs("validation", augment=True, **kwargs)
    val_x, val_y = _samples(val)
    again_x, _ = _samples(val)
    assert (len(full_y), len(train_y), len(val_y)) == (1433, 1290, 143)
    np.testing.assert_array_equal(val_x, again_x)     # no shuffling, no augmentation
    rows_train, rows_val = holdout_rows(full_y, 0.1, validation_seed=0)
    np.testing.assert_array_equal(val_x, full_x[rows_val])
    np.testing.assert_array_equal(train_x, full_x[rows_train])
    # disjoint in content too: no validation recording is among the training ones
    train_keys = {r.tobytes() for r in train_x}
    assert not any(r.tobytes() in train_keys for r in val_x)
