"""One iterator over anything `model.evaluate` accepts, yielding numpy `(x, y)` batches."""

import itertools

import numpy as np

from keras_trt.validation import positive_int

__all__ = ["iterate_batches", "take_arrays", "num_batches"]


def _to_numpy(value):
    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, (dict, list, tuple)):
        raise TypeError(
            "keras_trt.analysis supports single-input, single-output models: got a "
            f"{type(value).__name__} of tensors where one array was expected.")
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def _split(batch):
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return _to_numpy(batch[0]), None
        if len(batch) in (2, 3):
            return _to_numpy(batch[0]), _to_numpy(batch[1])
    raise ValueError(
        "keras_trt.analysis: each batch must be (x, y) or (x, y, sample_weight), got "
        f"{type(batch).__name__}" + (f" of length {len(batch)}" if hasattr(batch, "__len__")
                                     else "") + ".")


def _is_array_tuple(data):
    return (isinstance(data, (tuple, list)) and len(data) in (2, 3)
            and all(hasattr(a, "shape") and len(getattr(a, "shape")) >= 1 for a in data[:2])
            and not _looks_like_batches(data))


def _looks_like_batches(data):
    # A list of (x, y) batches rather than an (x, y) pair of arrays.
    return isinstance(data, list) and all(isinstance(b, tuple) for b in data)


def num_batches(data, batch_size=32):
    """The number of batches `iterate_batches` yields, or None when unknown."""
    if _is_array_tuple(data):
        n = len(data[0])
        return -(-n // batch_size)
    if hasattr(data, "as_numpy_iterator") and hasattr(data, "cardinality"):  # tf.data
        card = int(data.cardinality())
        return card if card >= 0 else None
    if hasattr(data, "num_batches") and hasattr(data, "__getitem__"):
        return data.num_batches
    try:
        return len(data)
    except TypeError:
        return None


def iterate_batches(data, steps=None, batch_size=32):
    """Yields numpy `(x, y)` batches from `data` (y is None if the data has no labels).

    Args:
        data: an `(x, y)` tuple of arrays (split into batches of `batch_size`), a
            `tf.data.Dataset`, a `keras.utils.PyDataset`, or any iterable of `(x, y)` or
            `(x, y, sample_weight)` batches (e.g. a torch DataLoader).
        steps: at most this many batches (None: all of them).
        batch_size: only for array data.
    """
    positive_int(steps, "steps", allow_none=True)
    if _is_array_tuple(data):
        x, y = _to_numpy(data[0]), _to_numpy(data[1])
        if len(x) != len(y):
            raise ValueError(f"x and y have different lengths: {len(x)} and {len(y)}.")
        starts = range(0, len(x), batch_size)
        gen = ((x[i:i + batch_size], y[i:i + batch_size]) for i in starts)
    elif hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        gen = (_split(b) for b in data.as_numpy_iterator())
    elif hasattr(data, "num_batches") and hasattr(data, "__getitem__"):  # PyDataset
        n = data.num_batches
        indices = itertools.count() if n is None else range(n)
        if n is None and steps is None:
            raise ValueError("An infinite PyDataset (num_batches is None) needs `steps`.")
        gen = (_split(data[i]) for i in indices)
    elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, np.ndarray)):
        gen = (_split(b) for b in data)
    else:
        raise TypeError(
            "keras_trt.analysis: `data` must be an (x, y) tuple of arrays, a "
            f"tf.data.Dataset, a keras PyDataset or an iterable of batches; got "
            f"{type(data).__name__}.")
    yield from itertools.islice(gen, steps)


def take_arrays(data, samples=None, batch_size=32):
    """Concatenates the first `samples` samples of `data` into `(x, y)` numpy arrays."""
    xs, ys, n = [], [], 0
    for x, y in iterate_batches(data, batch_size=batch_size):
        xs.append(x)
        ys.append(y)
        n += len(x)
        if samples is not None and n >= samples:
            break
    if not xs:
        raise ValueError("keras_trt.analysis: `data` yielded no batches.")
    x = np.concatenate(xs)[:samples]
    y = None if ys[0] is None else np.concatenate(ys)[:samples]
    return x, y


def labels_to_int(y, num_classes):
    """Integer labels (B,) from (B,), (B, 1) or one-hot (B, C)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[-1] == num_classes and num_classes > 1:
        return np.argmax(y, axis=-1).astype("int32")
    return y.reshape(-1).astype("int32")
