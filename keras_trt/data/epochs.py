"""An epoch of a tf.data pipeline: how many batches it has, and exactly the first n of them.

```python
import tensorflow as tf
from keras_trt.data.epochs import count_batches, take_batches

ds = tf.data.Dataset.range(10).filter(lambda i: i % 2 == 0).batch(2)   # cardinality unknown
print(count_batches(ds), int(take_batches(ds, 2).cardinality()))      # 3 2
```
"""

import tensorflow as tf

__all__ = ["count_batches", "take_batches"]


def count_batches(dataset):
    """The number of batches of one pass of `dataset` (read through when tf.data cannot
    tell without reading)."""
    n = int(dataset.cardinality())
    if n >= 0:
        return n
    if n == int(tf.data.INFINITE_CARDINALITY):
        raise ValueError("count_batches: the dataset is infinite (a repeat()?); pass a "
                         "finite dataset, one pass per epoch.")
    return sum(1 for _ in dataset)


def take_batches(dataset, steps):
    """The first `steps` batches of `dataset`, with that cardinality declared (Keras then
    knows an epoch's length, and `ExactResume.wrap_dataset` can count passes)."""
    epoch = dataset.take(steps)
    if int(epoch.cardinality()) < 0:
        epoch = epoch.apply(tf.data.experimental.assert_cardinality(steps))
    return epoch
