"""keras_trt.spatial: the same numbers as Keras' own layers on every backend (on torch
through the copy-free channels-last kernels of keras_trt.backend.torch)."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from tests.conftest import BACKEND
from tests.gradients import grad

ops = keras.ops


def _pair(kt_cls, keras_cls, x, **kwargs):
    ours, theirs = kt_cls(**kwargs), keras_cls(**kwargs)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


CONV_CASES = [
    dict(filters=6, kernel_size=3, padding="valid"),
    dict(filters=6, kernel_size=3, padding="same"),
    dict(filters=6, kernel_size=1, strides=2, padding="valid"),
    dict(filters=6, kernel_size=3, strides=2, padding="valid"),
    dict(filters=6, kernel_size=3, strides=2, padding="same"),     # asymmetric: fallback
    dict(filters=6, kernel_size=(3, 5), padding="same", dilation_rate=2),
    dict(filters=6, kernel_size=2, padding="same"),                # even kernel: fallback
    dict(filters=6, kernel_size=3, padding="same", groups=2, use_bias=True),
]


@pytest.mark.parametrize("kwargs", CONV_CASES)
def test_conv2d_equals_keras_conv2d_values_and_gradients(kwargs, rng):
    x = rng.normal(size=(3, 9, 11, 4)).astype("float32")
    ours, theirs = _pair(kt.spatial.Conv2D, keras.layers.Conv2D, x, **kwargs)
    np.testing.assert_allclose(ops.convert_to_numpy(ours(x)), ops.convert_to_numpy(theirs(x)),
                               rtol=1e-5, atol=1e-5)
    kernel = ops.convert_to_numpy(ours.kernel)
    up = rng.normal(size=tuple(theirs.compute_output_shape(x.shape))).astype("float32")
    grads = [grad(lambda x_, k_, layer=layer: ops.sum(
        layer.convolution_op(x_, k_) * ops.convert_to_tensor(up)), x, kernel)[1]
        for layer in (ours, theirs)]
    for g_ours, g_keras in zip(*grads):
        assert np.abs(g_keras).max() > 0
        np.testing.assert_allclose(g_ours, g_keras, rtol=1e-4, atol=1e-5)


POOL_CASES = [
    dict(pool_size=2),
    dict(pool_size=3, strides=2),
    dict(pool_size=(2, 3), strides=(1, 2)),
    dict(pool_size=3, strides=2, padding="same"),                  # fallback
]


@pytest.mark.parametrize("mode", ["average", "max"])
@pytest.mark.parametrize("kwargs", POOL_CASES)
def test_pooling_equals_keras_pooling_values_and_gradients(mode, kwargs, rng):
    x = rng.normal(size=(2, 9, 10, 3)).astype("float32")
    kt_cls, keras_cls = {
        "average": (kt.spatial.AveragePooling2D, keras.layers.AveragePooling2D),
        "max": (kt.spatial.MaxPooling2D, keras.layers.MaxPooling2D)}[mode]
    ours, theirs = kt_cls(**kwargs), keras_cls(**kwargs)
    up = rng.normal(size=tuple(theirs.compute_output_shape(x.shape))).astype("float32")
    results = [grad(lambda x_, layer=layer: ops.sum(layer(x_) * ops.convert_to_tensor(up)), x)
               for layer in (ours, theirs)]
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-5)
    assert np.abs(results[1][1][0]).max() > 0
    np.testing.assert_allclose(results[0][1][0], results[1][1][0], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "torch", reason="the copy-free kernels exist on torch only")
def test_torch_kernels_are_used_and_return_contiguous_channels_last(monkeypatch, rng):
    from keras_trt.backend import torch as torch_kernels

    calls = []
    for name in ("conv2d", "pool2d"):
        original = getattr(torch_kernels, name)

        def counting(*args, _original=original, _name=name):
            out = _original(*args)
            calls.append((_name, out is not None and out.is_contiguous()))
            return out

        monkeypatch.setattr(torch_kernels, name, counting)
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    y = kt.spatial.Conv2D(5, 3, padding="same")(x)
    kt.spatial.AveragePooling2D(2)(y)
    kt.spatial.MaxPooling2D(2)(y)
    assert calls == [("conv2d", True), ("pool2d", True), ("pool2d", True)]


def test_layers_serialize_as_keras_trt_classes():
    for layer in (kt.spatial.Conv2D(4, 3, padding="same", name="c"),
                  kt.spatial.AveragePooling2D(2, name="a"), kt.spatial.MaxPooling2D(2, name="m")):
        config = keras.saving.serialize_keras_object(layer)
        assert config["module"] == "keras_trt.spatial"
        restored = keras.saving.deserialize_keras_object(config)
        assert type(restored) is type(layer) and restored.get_config() == layer.get_config()
