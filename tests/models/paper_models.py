"""Tiny and full configurations of the paper's models, shared by the model tests."""

import functools

import numpy as np

import keras_trt as kt
from keras_trt.testing import randomise_bn_statistics, to_numpy  # noqa: F401 (tests import it from here)

# The tiny models use the unrolled time loop: the tests call them eagerly, where JAX's
# `scan` would compile its body at every call (the full-width models keep "auto").
TINY_LOOP = "unroll"


def tiny_vggsnn(**kwargs):
    kwargs.setdefault("time_loop", TINY_LOOP)
    kwargs.setdefault("num_classes", 5)
    kwargs.setdefault("input_shape", (2, 16, 16, 2))
    kwargs.setdefault("widths", (4, 8, 8, 8))
    return kt.models.VGGSNN(**kwargs)


def tiny_resnet19(**kwargs):
    kwargs.setdefault("time_loop", TINY_LOOP)
    kwargs.setdefault("num_classes", 5)
    kwargs.setdefault("timesteps", 2)
    kwargs.setdefault("input_shape", (8, 8, 3))
    kwargs.setdefault("widths", (4, 8, 8, 16))
    kwargs.setdefault("hidden_units", 8)
    return kt.models.ResNet19(**kwargs)


def tiny_sew_resnet34(**kwargs):
    kwargs.setdefault("time_loop", TINY_LOOP)
    kwargs.setdefault("num_classes", 5)
    kwargs.setdefault("timesteps", 2)
    kwargs.setdefault("input_shape", (16, 16, 3))
    kwargs.setdefault("widths", (4, 4, 8, 8))
    return kt.models.SEWResNet34(**kwargs)


TINY_BUILDERS = {
    "vggsnn": tiny_vggsnn,
    "resnet19": tiny_resnet19,
    "sew_resnet34": tiny_sew_resnet34,
}


def random_input(model, batch=2, seed=0, scale=2.0):
    """A float32 input batch for `model`, with values that make the first LIFs fire."""
    shape = (batch,) + tuple(model.input_shape[1:])
    rng = np.random.default_rng(seed)
    return (scale * rng.random(shape)).astype("float32")


def random_labels(model, batch=2, seed=1):
    return np.random.default_rng(seed).integers(0, model.output_shape[-1], batch)


def trainable_count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def lif_layers(model):
    return [layer for layer in model.layers if isinstance(layer, kt.LIF)]


@functools.lru_cache(maxsize=None)
def full_model(builder, num_classes):
    """A full-size reference model, built once per test process (structure tests only:
    never train or modify it)."""
    return getattr(kt.models, builder)(num_classes=num_classes)


def predict(model, x, training=False):
    """An eager forward pass as NumPy (cheaper than `predict`, which compiles)."""
    return to_numpy(model(x, training=training))

