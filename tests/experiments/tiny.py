"""A tiny VGGSNN and array data it learns in a few steps, for the experiments tests."""

import numpy as np

import keras_trt as kt

T, SIZE, CLASSES = 2, 6, 2


def tiny_model():
    """A small VGGSNN of (T, 6, 6, 2) frames and two classes."""
    return kt.models.VGGSNN(num_classes=CLASSES, input_shape=(T, SIZE, SIZE, 2), widths=(2, 4))


def tiny_arrays(n, seed=0):
    """n samples whose class shows in the mean of the frames (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n).astype("int32")
    x = rng.random((n, T, SIZE, SIZE, 2)).astype("float32") * 0.5 + 0.5 * y[:, None, None,
                                                                            None, None]
    return x, y
