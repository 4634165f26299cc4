"""tf.data plumbing shared by the loaders: index shuffling, batching, per-batch seeds.

All loaders return a ``tf.data.Dataset`` of ``(x, y)`` batches; ``model.fit`` accepts it
on the torch, TensorFlow and JAX backends alike (Keras converts each batch).

```python
import numpy as np
from keras_trt.data.pipeline import array_dataset

ds = array_dataset(np.zeros((10, 4), "float32"), np.arange(10), batch_size=4, shuffle=True, seed=0)
[len(y) for _, y in ds]   # [4, 4, 2]: the last partial batch is kept
```
"""

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def with_batch_seeds(ds, seed):
    """Zip a batched dataset with one stateless seed (shape (2,)) per batch.

    ``Dataset.random(..., rerandomize_each_iteration=True)`` gives new numbers every epoch,
    reproducible from `seed` (None: fresh every run).
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((ds, seeds))


def array_dataset(x, y, batch_size, shuffle, seed=None, augment=None, rows=None):
    """Batches of rows of the (possibly memory-mapped) arrays `x`, `y`.

    `rows`: only these row indices (e.g. a validation split's, `keras_trt.data.holdout`).

    Indices are shuffled (a full permutation each epoch, like PyTorch's DataLoader), then
    batched, then each batch is read with one fancy-indexing call, sorted for sequential
    disk access (order inside a batch does not matter to training). `augment(x, seed)`
    runs on the whole batch in TensorFlow.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    x_shape = tuple(x.shape[1:])
    y = np.asarray(y, np.int32)
    if rows is None:
        n = len(y)
        ds = tf.data.Dataset.range(n)
    else:
        n = len(rows)
        ds = tf.data.Dataset.from_tensor_slices(np.asarray(rows, np.int64))
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)  # drop_remainder=False: the last partial batch is kept

    def read(idx):
        idx = np.sort(idx)
        return np.asarray(x[idx], np.float32), y[idx]

    def fetch(idx):
        xb, yb = tf.numpy_function(read, [idx], [tf.float32, tf.int32], stateful=False)
        xb.set_shape((None, *x_shape))
        yb.set_shape((None,))
        return xb, yb

    ds = ds.map(fetch, num_parallel_calls=AUTOTUNE, deterministic=True)
    if augment is not None:
        ds = with_batch_seeds(ds, seed).map(
            lambda xy, s: (augment(xy[0], s), xy[1]), num_parallel_calls=AUTOTUNE,
            deterministic=True)
    return ds.prefetch(AUTOTUNE)
