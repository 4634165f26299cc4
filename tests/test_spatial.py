"""keras_trt.spatial against direct NumPy convolution and pooling (tests/reference.py):
values, input gradients and kernel gradients, on every backend (on torch through the
copy-free channels-last kernels of keras_trt.backend.torch where they apply)."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from tests.support import BACKEND
from tests import reference
from tests.gradients import grad

ops = keras.ops

# Input (2, 9, 8, 4): an odd and an even side, so "same" with stride 2 pads one side only
# on one axis and both evenly on the other.
CONV_CASES = {
    "k3_valid": dict(kernel_size=3, padding="valid"),
    "k3_same": dict(kernel_size=3, padding="same"),
    "k3_s2_valid": dict(kernel_size=3, strides=2, padding="valid"),
    "k3_s2_same": dict(kernel_size=3, strides=2, padding="same"),
    "k2_same": dict(kernel_size=2, padding="same"),
    "k4_s2_same": dict(kernel_size=4, strides=2, padding="same"),
    "k1_s2_valid": dict(kernel_size=1, strides=2, padding="valid"),
    "k3x2_s21_same": dict(kernel_size=(3, 2), strides=(2, 1), padding="same"),
    "k3x5_d2_same": dict(kernel_size=(3, 5), padding="same", dilation_rate=2),
    "k2_d2_valid": dict(kernel_size=2, padding="valid", dilation_rate=(2, 3)),
    "k3_groups2_same": dict(kernel_size=3, padding="same", groups=2),
}


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@pytest.mark.parametrize("kwargs", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_equals_numpy_values_and_gradients(kwargs, rng):
    x = rng.normal(size=(2, 9, 8, 4)).astype("float32")
    layer = kt.spatial.FastConv2D(6, use_bias=True, bias_initializer="random_normal", **kwargs)
    layer.build(x.shape)
    kernel, bias = (ops.convert_to_numpy(v) for v in (layer.kernel, layer.bias))
    geometry = dict(strides=_pair(kwargs.get("strides", 1)), padding=kwargs["padding"],
                    dilation=_pair(kwargs.get("dilation_rate", 1)),
                    groups=kwargs.get("groups", 1))
    expected = reference.conv2d(x, kernel, **geometry)
    assert expected.shape == tuple(layer.compute_output_shape(x.shape))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected + bias,
                               rtol=1e-5, atol=1e-5)

    upstream = rng.normal(size=expected.shape).astype("float32")
    _, (grad_x, grad_kernel) = grad(lambda x_, k_: ops.sum(
        layer.convolution_op(x_, k_) * ops.convert_to_tensor(upstream)), x, kernel)
    expected_x, expected_kernel = reference.conv2d(x, kernel, upstream=upstream, **geometry)
    np.testing.assert_allclose(grad_x, expected_x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad_kernel, expected_kernel, rtol=1e-4, atol=1e-4)


# Input (2, 9, 10, 3): with "same" the windows at the bottom / right edge hang over the
# padding, which average pooling does not count and max pooling never picks.
POOL_CASES = {
    "p2": dict(pool_size=2),
    "p3_s2": dict(pool_size=3, strides=2),
    "p2x3_s1x2": dict(pool_size=(2, 3), strides=(1, 2)),
    "p3_s2_same": dict(pool_size=3, strides=2, padding="same"),
    "p2_same": dict(pool_size=2, padding="same"),
    "p2_s1_same": dict(pool_size=2, strides=1, padding="same"),
}


# "p3_s2_same" is the case Keras 3.15's own torch pooling gets wrong (it replicates edge
# pixels into an uneven "same" padding and averages them in, keras-team/keras#23233);
# keras_trt.spatial's torch path pads without counting the padding, as TF and JAX do.


@pytest.mark.parametrize("mode", ["average", "max"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_equals_numpy_values_and_gradients(mode, case, rng):
    kwargs = POOL_CASES[case]
    x = rng.normal(size=(2, 9, 10, 3)).astype("float32")
    layer = {"average": kt.spatial.FastAveragePooling2D, "max": kt.spatial.FastMaxPooling2D}[mode](
        **kwargs)
    pool_size = _pair(kwargs["pool_size"])
    geometry = dict(pool_size=pool_size, strides=_pair(kwargs.get("strides", pool_size)),
                    padding=kwargs.get("padding", "valid"))
    expected = reference.pool2d(x, mode, **geometry)
    upstream = rng.normal(size=expected.shape).astype("float32")
    value, (grad_x,) = grad(lambda x_: ops.sum(layer(x_) * ops.convert_to_tensor(upstream)), x)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-6, atol=1e-6)
    assert value == pytest.approx(np.sum(expected * upstream), rel=1e-5, abs=1e-5)
    np.testing.assert_allclose(grad_x, reference.pool2d(x, mode, upstream=upstream, **geometry),
                               rtol=1e-5, atol=1e-6)


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

        monkeypatch.setitem(torch_kernels.FAST_KERNELS, name, counting)
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    y = kt.spatial.FastConv2D(5, 3, padding="same")(x)
    kt.spatial.FastAveragePooling2D(2)(y)
    kt.spatial.FastMaxPooling2D(2)(y)
    assert calls == [("conv2d", True), ("pool2d", True), ("pool2d", True)]


@pytest.mark.skipif(BACKEND != "jax", reason="the chunked kernel gradient is JAX's only")
def test_jax_conv_kernel_gradient_summed_over_chunks_equals_ops_conv(monkeypatch, rng):
    import jax
    from keras_trt.backend import jax as jax_kernels

    # 16 pixels per chunk: frames of 4x4 go one per chunk, so 5 frames make 5 chunks
    monkeypatch.setattr(jax_kernels, "_KERNEL_GRAD_CHUNK_PIXELS", 16)
    assert jax_kernels._kernel_grad_chunks(5, 4, 4) == ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5))
    assert jax_kernels._kernel_grad_chunks(5, 2, 4) == ((0, 2), (2, 4), (4, 5))
    assert jax_kernels._kernel_grad_chunks(1, 4, 4) is None        # one chunk: plain conv
    assert jax_kernels._kernel_grad_chunks(200, 4, 4)[0] == (0, 4)  # at most 64 chunks
    x = rng.normal(size=(5, 4, 4, 3)).astype("float32")
    for geometry in (dict(kernel_size=3, padding="same"),
                     dict(kernel_size=2, strides=2, padding="valid", dilation_rate=1),
                     dict(kernel_size=3, padding="same", dilation_rate=2)):
        layer = kt.spatial.FastConv2D(4, use_bias=False, **geometry)
        layer.build(x.shape)
        kernel = ops.convert_to_numpy(layer.kernel)
        args = (layer.strides, layer.padding, layer.dilation_rate, layer.groups)
        assert kt.backend.fast_kernel("conv2d") is jax_kernels.conv2d
        assert jax_kernels.conv2d(x, kernel, *args) is not None   # the chunked path runs
        expected = ops.conv(x, kernel, strides=layer.strides, padding=layer.padding,
                            dilation_rate=layer.dilation_rate)
        upstream = rng.normal(size=expected.shape).astype("float32")

        def loss(conv):
            return lambda x_, k_: ops.sum(conv(x_, k_) * upstream)

        value, grads = jax.jit(jax.value_and_grad(
            loss(layer.convolution_op), argnums=(0, 1)))(x, kernel)
        expected_value, expected_grads = jax.value_and_grad(loss(
            lambda x_, k_: ops.conv(x_, k_, strides=layer.strides, padding=layer.padding,
                                    dilation_rate=layer.dilation_rate)),
            argnums=(0, 1))(x, kernel)
        np.testing.assert_array_equal(layer.convolution_op(x, kernel), expected)
        assert float(value) == pytest.approx(float(expected_value), rel=1e-5, abs=1e-5)
        np.testing.assert_array_equal(grads[0], expected_grads[0])     # same input grad
        np.testing.assert_allclose(grads[1], expected_grads[1], rtol=1e-5, atol=1e-5)
    # grouped convolutions keep ops.conv
    assert jax_kernels.conv2d(np.ones((5, 4, 4, 4), "float32"),
                              np.ones((3, 3, 2, 4), "float32"), (1, 1), "same", (1, 1), 2) is None


@pytest.mark.parametrize("old,new", [("Conv2D", "FastConv2D"),
                                     ("AveragePooling2D", "FastAveragePooling2D"),
                                     ("MaxPooling2D", "FastMaxPooling2D")])
def test_former_names_still_load_and_warn(old, new):
    cls = getattr(kt.spatial, new)
    layer = cls(4, 3, name="x") if new == "FastConv2D" else cls(2, name="x")
    config = keras.saving.serialize_keras_object(layer)
    # as a file saved before the rename names it
    config.update(class_name=old, registered_name=f"keras_trt>{old}")
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is cls and restored.get_config() == layer.get_config()
    with pytest.warns(DeprecationWarning, match=f"keras_trt.spatial.{new}"):
        assert getattr(kt.spatial, old) is cls
