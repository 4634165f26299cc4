"""keras_trt.experiments.data.Split: every form of data `fit` accepts, with the batches of
an epoch counted and capped by max_steps."""

import keras
import numpy as np
import pytest

from keras_trt.experiments.data import Split


class Batches(keras.utils.PyDataset):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full((2, 3), i, "float32"), np.zeros(2, "int32")


def test_arrays_in_batches_capped_by_max_steps():
    x, y = np.zeros((10, 3), "float32"), np.zeros(10, "int32")
    split = Split(x, y, batch_size=4)
    assert split.kind == "arrays" and split.steps == 3
    args = split.fit_arguments()
    assert np.shares_memory(args["x"], x) and len(args["y"]) == 10
    assert (args["batch_size"], args["shuffle"]) == (4, True)
    capped = Split((x, y), batch_size=4, max_steps=2)
    assert capped.steps == 2 and len(capped.evaluate_arguments()["x"]) == 8
    assert capped.validation_arguments()["validation_batch_size"] == 4
    with pytest.raises(ValueError, match="x and y differ in length"):
        Split(x, y[:9], batch_size=4)
    with pytest.raises(ValueError, match="is arrays: pass `batch_size`"):
        Split(x, y)


def test_pydataset_and_generator():
    split = Split(Batches(5), role="validation")
    assert (split.kind, split.steps) == ("pydataset", 5)
    assert split.validation_arguments()["validation_steps"] == 5
    assert Split(Batches(5), max_steps=2).fit_arguments()["steps_per_epoch"] == 2
    batches = ((np.zeros((2, 3)), np.zeros(2)) for _ in range(100))
    with pytest.raises(ValueError, match="without a length.*pass `max_steps`"):
        Split(batches, role="train")
    split = Split(batches, max_steps=3)
    assert (split.kind, split.steps, split.fit_arguments()["steps_per_epoch"]) == (
        "iterable", 3, 3)
    with pytest.raises(TypeError, match="`test_data` must be a tf.data.Dataset"):
        Split(3, role="test")


@pytest.mark.backend_independent
def test_tf_dataset_epoch_of_exactly_the_counted_batches():
    import tensorflow as tf

    ds = tf.data.Dataset.range(10).filter(lambda i: i % 2 == 0).batch(2)   # unknown length
    split = Split(ds)
    assert (split.kind, split.steps) == ("dataset", 3)
    epoch = split.fit_arguments()["x"]
    assert int(epoch.cardinality()) == 3
    capped = Split(ds, max_steps=2)
    assert capped.evaluate_arguments()["steps"] == 2
    assert [b.tolist() for b in capped.data.as_numpy_iterator()] == [[0, 2], [4, 6]]
    with pytest.raises(ValueError, match="the train split is empty"):
        Split(ds.take(0))
