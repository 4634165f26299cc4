"""Every fast kernel of the current backend against its keras.ops twin.

`keras_trt.backend.KERNEL_TWINS` names each kernel's twin: the library code that runs
where the kernel is absent or disabled. `CASES` below pairs every name with that library
call on small random inputs; the test runs it once with the kernel (which must compute
the result, not decline) and once under `fast_kernels_disabled(name)`, and compares the
values and the gradients w.r.t. every input and weight. A kernel added to a backend's
`FAST_KERNELS` without a case here fails `test_every_kernel_has_a_twin_and_a_case`.
"""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import _neuron_dynamics as neuron_dynamics
from keras_trt import backend, regularizers
from tests.gradients import grad

ops = keras.ops
TABLE = backend.backend_module().FAST_KERNELS


def _normal(shape, mean=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(mean, scale, shape).astype("float32")


def _with_weights(layer, call, x):
    """`call(x)` as a function of x and of `layer`'s trainable weights (as values, via a
    StatelessScope), with the arrays to evaluate it at."""
    layer(x, training=True)   # build outside the scope
    variables = list(layer.trainable_variables)

    def fn(x_, *values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return call(x_)

    return fn, [x] + [ops.convert_to_numpy(v.value) for v in variables]


# -------------------------------------------------------------------- the twins' calls
# name -> list of (label, fn, arrays): fn(*arrays) is the library call that uses the
# kernel `name` where it is enabled and its keras.ops twin where it is disabled.

def _lif_multistep_fused():
    x = _normal((3, 6, 5), 0.6, 0.9)
    return [(f"tau={tau},v_reset={v_reset},detach={detach}",
             lambda x_, t=tau, r=v_reset, d=detach: neuron_dynamics.lif_multistep_fused(
                 x_, tau=t, v_reset=r, detach_reset=d), [x])
            for tau, v_reset, detach in ((2.0, 0.0, False), (3.0, None, False),
                                          (2.0, 0.3, True))]


def _chunked_remat_block():
    block = keras.Sequential([kt.TimeDistributed(keras.layers.Dense(4, use_bias=False)),
                              kt.TemporalBatchNorm(), kt.LIF(v_threshold=0.5)])
    remat = kt.Remat(block, time_chunk=2)
    fn, arrays = _with_weights(remat, lambda x_: remat(x_, training=True),
                               _normal((2, 5, 3), 0.5, 1.0, seed=1))
    return [("T=5,time_chunk=2", fn, arrays)]


def _batch_norm():
    cases = []
    for training in (True, False):
        norm = kt.TemporalBatchNorm()
        fn, arrays = _with_weights(norm, lambda x_, n=norm, t=training: n(x_, training=t),
                                   _normal((4, 3, 5), 1.0, 2.0, seed=2))
        cases.append((f"training={training}", fn, arrays))
    return cases


def _conv2d():
    if keras.backend.backend() == "jax":
        import jax
        if jax.default_backend() != "cpu":
            pytest.skip("JAX's conv2d kernel is for XLA:CPU only (declines elsewhere)")
    conv = kt.spatial.Conv2D(3, 3, padding="same", use_bias=False)
    x = _normal((8, 32, 32, 2), seed=3)   # on JAX: two chunks of four frames
    conv.build(x.shape)
    def call(x_, kernel):   # the layer's op, with its kernel as an argument
        return conv.convolution_op(ops.convert_to_tensor(x_), ops.convert_to_tensor(kernel))
    return [("3x3,same", call, [x, ops.convert_to_numpy(conv.kernel.value)])]


def _pool2d():
    x = _normal((2, 8, 8, 3), seed=4)
    return [(f"{layer.__name__},{padding}", lambda x_, p=layer(2, padding=padding): p(x_), [x])
            for layer in (kt.spatial.AveragePooling2D, kt.spatial.MaxPooling2D)
            for padding in ("valid", "same")]


def _trt_penalty():
    def penalty(w1, w2):
        return regularizers.temporal_weight_penalty([w1, w2], timesteps=4, lam=0.1,
                                                    decay=0.5, epsilon=1e-3)
    return [("two weights", penalty, [_normal((3, 4), seed=5), _normal((6,), seed=6)])]


CASES = {
    "lif_multistep_fused": _lif_multistep_fused,
    "lif_from_membrane": _chunked_remat_block,   # the LIF of each chunk
    "chunked_block": _chunked_remat_block,
    "batch_norm": _batch_norm,
    "conv2d": _conv2d,
    "pool2d": _pool2d,
    "trt_penalty": _trt_penalty,
}


# -------------------------------------------------------------------------- the tests
def test_every_kernel_has_a_twin_and_a_case():
    assert set(TABLE) <= set(backend.KERNEL_TWINS), "a kernel without a documented twin"
    assert set(backend.KERNEL_TWINS) == set(CASES), "a kernel without a test case"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_kernel_equals_its_keras_ops_twin(name, monkeypatch):
    results = []

    def spy(*args, **kwargs):
        out = kernel(*args, **kwargs)
        results.append(out is not None)
        return out

    kernel = TABLE[name]
    monkeypatch.setitem(TABLE, name, spy)
    for label, fn, arrays in CASES[name]():
        results.clear()
        fast = ops.convert_to_numpy(fn(*arrays))
        assert any(results), f"{name} ({label}): the kernel declined, nothing compared"
        with backend.fast_kernels_disabled(name):
            results.clear()
            twin = ops.convert_to_numpy(fn(*arrays))
            assert not results
        np.testing.assert_allclose(fast, twin, rtol=1e-5, atol=1e-5, err_msg=label)

        weights = _normal(fast.shape, seed=7)

        def projected(*tensors):
            return ops.sum(fn(*tensors) * ops.convert_to_tensor(weights))

        fast_value, fast_grads = grad(projected, *arrays)
        with backend.fast_kernels_disabled(name):
            twin_value, twin_grads = grad(projected, *arrays)
        np.testing.assert_allclose(fast_value, twin_value, rtol=1e-5, atol=1e-5)
        for i, (a, b) in enumerate(zip(fast_grads, twin_grads)):
            scale = np.abs(b).max()
            assert scale > 0, f"{name} ({label}): zero gradient {i}"
            # float rounding of another summation order, relative to the gradient's size
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale,
                                       err_msg=f"{label}: gradient {i}")


def test_fast_kernel_names():
    with pytest.raises(ValueError, match="unknown kernel 'lif'.*known: "):
        backend.fast_kernel("lif")
    for name in backend.KERNEL_TWINS:
        assert backend.fast_kernel(name) is TABLE.get(name)   # None: not on this backend
    with backend.fast_kernels_disabled():
        assert all(backend.fast_kernel(n) is None for n in backend.KERNEL_TWINS)
    with backend.fast_kernels_disabled("conv2d"):
        assert backend.fast_kernel("conv2d") is None
        assert backend.fast_kernel("pool2d") is TABLE.get("pool2d")
    assert backend.fast_kernel("conv2d") is TABLE.get("conv2d")
    with pytest.raises(ValueError, match="unknown kernels"):
        with backend.fast_kernels_disabled("conv"):
            pass
