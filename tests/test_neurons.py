import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.neurons import lif_multistep
from keras_trt.testing import many_spike_input
from tests import reference
from tests.gradients import grad

ops = keras.ops


@pytest.mark.parametrize("time_loop", ["unroll", "auto"])
@pytest.mark.parametrize("v_reset", [0.0, -0.25, None])
@pytest.mark.parametrize("tau", [2.0, 1.0, 4.0])
def test_spikes_and_membrane_equal_numpy_exactly(tau, v_reset, time_loop):
    x = many_spike_input((4, 12, 5, 3))
    spikes, membrane = lif_multistep(ops.convert_to_tensor(x), tau=tau, v_threshold=1.0,
                                     v_reset=v_reset, time_loop=time_loop,
                                     return_membrane=True)
    ref_spikes, ref_membrane, _ = reference.lif_forward(x, tau, 1.0, v_reset)
    assert 0.2 < ref_spikes.mean() < 0.6  # the input really exercises firing and reset
    np.testing.assert_array_equal(ops.convert_to_numpy(spikes), ref_spikes)
    np.testing.assert_array_equal(ops.convert_to_numpy(membrane), ref_membrane)


@pytest.mark.parametrize("implementation", ["fused", "autodiff"])
@pytest.mark.parametrize("v_reset", [0.0, 0.3, None])
@pytest.mark.parametrize("time_loop", ["unroll", "auto"])
def test_layer_output_equals_numpy_on_rank_5_input(implementation, v_reset, time_loop):
    x = many_spike_input((2, 6, 4, 4, 3), seed=1)
    out = kt.LIF(tau=2.0, v_reset=v_reset, implementation=implementation,
                 time_loop=time_loop)(x)
    np.testing.assert_array_equal(ops.convert_to_numpy(out),
                                  reference.lif_forward(x, 2.0, 1.0, v_reset)[0])


@pytest.mark.parametrize("detach_reset", [False, True])
def test_fused_and_autodiff_gradients_agree(detach_reset):
    x = many_spike_input((2, 10, 5, 3), seed=8)
    up = np.random.default_rng(9).normal(size=x.shape).astype("float32")
    grads = []
    for implementation in ("fused", "autodiff"):
        lif = kt.LIF(implementation=implementation, detach_reset=detach_reset)
        grads.append(grad(lambda x_: ops.sum(lif(x_) * ops.convert_to_tensor(up)), x)[1][0])
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", [0.0, 0.3, None])
@pytest.mark.parametrize("tau", [3.0, 1.5])
def test_fused_lif_with_any_tau_and_triangle_width(tau, v_reset, detach_reset):
    """The fused LIF (on torch: the backend kernel, whose u / tau takes another route
    when tau is not a power of two) against NumPy, with a triangle of width 0.5."""
    x = many_spike_input((3, 7, 4, 5), seed=11)
    upstream = np.random.default_rng(12).normal(size=x.shape).astype("float32")
    lif = kt.LIF(tau=tau, v_reset=v_reset, detach_reset=detach_reset,
                 surrogate=kt.surrogates.Triangle(0.5), implementation="fused")
    spikes, (g,) = grad(lambda x_: ops.sum(lif(x_) * ops.convert_to_tensor(upstream)), x)
    ref_spikes = reference.lif_forward(x, tau, 1.0, v_reset)[0]
    assert 0.1 < ref_spikes.mean() < 0.7
    np.testing.assert_array_equal(ops.convert_to_numpy(lif(x)), ref_spikes)
    expected = reference.lif_backward(x, upstream, tau, 1.0, v_reset,
                                      lambda u: reference.triangle_grad(u, 0.5), detach_reset)
    np.testing.assert_allclose(g, expected, atol=1e-5, rtol=1e-5)


def test_value_at_threshold_does_not_fire():
    x = np.zeros((1, 3, 2), "float32")
    x[0, 0, 0] = 1.0          # u_0 == v_threshold exactly: silent
    x[0, 0, 1] = 1.0 + 1e-6   # just above: fires
    out = ops.convert_to_numpy(kt.LIF(tau=2.0, v_threshold=1.0)(x))
    assert out[0, 0, 0] == 0.0 and out[0, 0, 1] == 1.0


def test_state_starts_at_v_reset_every_call():
    lif = kt.LIF(tau=2.0)
    x = many_spike_input((3, 5, 7), seed=2)
    first = ops.convert_to_numpy(lif(x))
    second = ops.convert_to_numpy(lif(x))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("implementation", ["fused", "autodiff"])
@pytest.mark.parametrize("time_loop", ["unroll", "auto"])
@pytest.mark.parametrize("v_reset", [0.0, -0.25, None])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate,surrogate_grad", [
    ("triangle", reference.triangle_grad),
    (kt.surrogates.Sigmoid(4.0), reference.sigmoid_grad),
])
def test_input_gradient_equals_numpy_bptt(v_reset, time_loop, surrogate, surrogate_grad,
                                         implementation, detach_reset):
    x = many_spike_input((3, 8, 6), seed=3)
    upstream = np.random.default_rng(4).normal(size=x.shape).astype("float32")
    lif = kt.LIF(tau=2.0, v_reset=v_reset, surrogate=surrogate, time_loop=time_loop,
                 implementation=implementation, detach_reset=detach_reset)
    _, (g,) = grad(lambda x_: ops.sum(lif(x_) * ops.convert_to_tensor(upstream)), x)
    expected = reference.lif_backward(x, upstream, 2.0, 1.0, v_reset, surrogate_grad,
                                      detach_reset)
    np.testing.assert_allclose(g, expected, atol=1e-6, rtol=1e-6)


@pytest.mark.backend_independent
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", [0.0, -0.25, None])
def test_numpy_bptt_equals_finite_differences_of_a_straight_through_lif(v_reset,
                                                                        detach_reset):
    """The NumPy reference's chain rule, checked without it: central differences of a
    forward that has the surrogate as its exact derivative (a sigmoid spike whose
    derivative is reference.sigmoid_grad, added to the frozen spikes)."""
    x = many_spike_input((2, 6, 3), seed=13).astype(np.float64)
    upstream = np.random.default_rng(14).normal(size=x.shape)

    def smooth_spike(u):
        return 1.0 / (1.0 + np.exp(-4.0 * u))

    def loss(x_):
        spikes = reference.lif_straight_through(x_, x, 2.0, 1.0, v_reset, smooth_spike,
                                                detach_reset)
        return np.sum(spikes * upstream)

    eps = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        numeric[index] = (loss(x + step) - loss(x - step)) / (2 * eps)
    bptt = reference.lif_backward(x, upstream, 2.0, 1.0, v_reset, reference.sigmoid_grad,
                                  detach_reset)
    other = reference.lif_backward(x, upstream, 2.0, 1.0, v_reset, reference.sigmoid_grad,
                                   not detach_reset)
    assert np.abs(bptt - other).max() > 1e-2  # the reset path matters for this input
    np.testing.assert_allclose(bptt, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("implementation", ["fused", "autodiff"])
def test_reset_gradient_path_matters(implementation):
    """Detaching the reset changes the gradient: the default keeps the reset path."""
    x = many_spike_input((2, 8, 6), seed=5)
    up = ops.convert_to_tensor(np.ones_like(x))
    lifs = [kt.LIF(implementation=implementation, detach_reset=d) for d in (False, True)]
    _, (g_attached,) = grad(lambda x_: ops.sum(lifs[0](x_) * up), x)
    _, (g_detached,) = grad(lambda x_: ops.sum(lifs[1](x_) * up), x)
    assert np.abs(g_attached - g_detached).max() > 1e-3


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_state_in_float32_output_in_compute_dtype(policy):
    keras.config.set_dtype_policy(policy)
    lif = kt.LIF(tau=2.0)
    x = many_spike_input((2, 6, 8), seed=6)
    out = lif(x)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    # float32 state: spikes equal the float32 reference on float16-representable input
    x16 = x.astype(policy.split("_")[1] if policy != "mixed_bfloat16" else "float32")
    if policy == "mixed_float16":
        np.testing.assert_array_equal(ops.convert_to_numpy(ops.cast(out, "float32")),
                                      reference.lif_forward(x16.astype("float32"))[0])


def _bfloat16_round(a):
    import ml_dtypes

    return np.asarray(a, "float32").astype(ml_dtypes.bfloat16).astype("float32")


@pytest.mark.parametrize("v_reset", [0.0, 0.3, None])
def test_fused_lif_bfloat16_input_float32_state(v_reset):
    """bfloat16 in, bfloat16 out, float32 membrane: the spikes are the float32 LIF's on the
    same input and x's gradient is the float32 gradient rounded to bfloat16."""
    from keras_trt._neuron_dynamics import lif_multistep_fused

    x = _bfloat16_round(many_spike_input((2, 9, 5, 3), seed=21))
    up = _bfloat16_round(np.random.default_rng(22).normal(size=x.shape))

    def loss(dtype):
        def fn(x_):
            spikes = lif_multistep_fused(ops.cast(x_, dtype), v_reset=v_reset,
                                         state_dtype="float32")
            assert keras.backend.standardize_dtype(spikes.dtype) == dtype
            return ops.sum(ops.cast(spikes, "float32") * ops.convert_to_tensor(up))
        return fn

    _, (g16,) = grad(loss("bfloat16"), x)
    _, (g32,) = grad(loss("float32"), x)
    spikes = lif_multistep_fused(ops.cast(x, "bfloat16"), v_reset=v_reset,
                                 state_dtype="float32")
    ref_spikes = reference.lif_forward(x, 2.0, 1.0, v_reset)[0]
    assert 0.2 < ref_spikes.mean() < 0.7
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.cast(spikes, "float32")),
                                  ref_spikes)
    assert np.abs(g32).max() > 0.1 and not np.array_equal(g32, _bfloat16_round(g32))
    np.testing.assert_array_equal(g16, _bfloat16_round(g32))


@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="the fused LIF kernel exists on torch only")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_torch_lif_kernel_saves_only_the_float32_membrane(dtype):
    """The kernel keeps T float32 membrane frames for the backward pass and nothing else
    (the spikes are recomputed from them), and makes no full-size cast of x."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from keras_trt.backend import torch as torch_kernels

    x = torch.tensor(many_spike_input((2, 6, 4, 3), seed=23)).to(getattr(torch, dtype))
    x.requires_grad_(True)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    class Casts(TorchDispatchMode):
        sizes = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__.startswith("_to_copy"):
                self.sizes.append(args[0].numel())
            return func(*args, **(kwargs or {}))

    surrogate = kt.surrogates.Triangle(1.0)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), Casts():
        spikes = torch_kernels.lif_multistep_fused(x, 2.0, 1.0, 0.0, surrogate, False,
                                                   state_dtype="float32")
        spikes.backward(torch.ones_like(spikes))
    assert spikes.dtype == x.dtype and x.grad.dtype == x.dtype
    assert saved == [2 * 4 * 3 * 4] * 6  # one float32 (B, ...) frame per time step
    assert not [n for n in Casts.sizes if n >= x.numel()]


@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="the torch kernel: other backends use keras.ops")
@pytest.mark.parametrize("v_reset", [0.0, None, 0.25])
def test_torch_lif_kernel_continued_from_a_membrane_is_the_whole_sequence(v_reset):
    """Two chunks chained through the returned membrane give the whole sequence's spikes,
    input gradient and the start membrane's gradient (a chunked Remat block's LIF)."""
    import torch

    from keras_trt.backend import torch as torch_kernels

    surrogate = kt.surrogates.Triangle(1.0)
    args = (1.5, 1.0, v_reset, surrogate, False)
    x = torch.tensor(many_spike_input((2, 7, 5), seed=29), requires_grad=True)
    upstream = torch.tensor(np.random.default_rng(3).normal(size=(2, 7, 5)),
                            dtype=torch.float32)
    whole = torch_kernels.lif_multistep_fused(x, *args)
    (grad_whole,) = torch.autograd.grad(whole, x, upstream)

    u0 = torch.zeros(2, 5) if v_reset is None else torch.full((2, 5), v_reset)
    u0.requires_grad_(True)
    first, u = torch_kernels.lif_from_membrane(x[:, :3], u0, *args)
    second, _ = torch_kernels.lif_from_membrane(x[:, 3:], u, *args)
    chunked = torch.cat([first, second], dim=1)
    grad_x, grad_u0 = torch.autograd.grad(chunked, [x, u0], upstream)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=0)
    torch.testing.assert_close(grad_x, grad_whole, rtol=1e-6, atol=1e-7)
    # u0 enters the first charge as u0 / tau, exactly as x_0 does with weight 1
    torch.testing.assert_close(grad_u0, grad_whole[:, 0] / 1.5, rtol=1e-6, atol=1e-7)


def test_if_is_lif_with_tau_one():
    x = many_spike_input((2, 5, 4), seed=7)
    np.testing.assert_array_equal(ops.convert_to_numpy(kt.IF()(x)),
                                  ops.convert_to_numpy(kt.LIF(tau=1.0)(x)))
    assert kt.IF().tau == 1.0
    assert kt.IF.from_config(kt.IF().get_config()).tau == 1.0   # its config holds tau=1.0


@pytest.mark.parametrize("tau", [2.0, 0.5, "2"])
def test_if_refuses_a_tau(tau):
    """IF(tau=2.0) silently ran without a leak (tau 1): refused, pointing at LIF."""
    with pytest.raises(ValueError, match=r"IF: `tau` must be 1 \(an integrate-and-fire "
                                         r"neuron has no leak\), got tau=" + repr(tau) +
                                         r"; for a leaky neuron use kt\.LIF\(tau="):
        kt.IF(tau=tau)


@pytest.mark.parametrize("kwargs,match", [
    (dict(tau=0.5), "tau"), (dict(v_threshold=0.0), "v_threshold"),
    (dict(v_threshold=-1.0), "v_threshold"), (dict(surrogate="relu"), "surrogate"),
    (dict(time_loop="while"), "time_loop"), (dict(implementation="cuda"), "implementation"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kt.LIF(**kwargs)


def test_rank_2_input_rejected():
    with pytest.raises(ValueError, match="rank >= 3"):
        kt.LIF()(np.zeros((4, 5), "float32"))


def test_scan_time_loop_is_deprecated_and_runs_the_unrolled_loop():
    # The unrolled loop is the faster one measured on every backend (docs/performance.md);
    # under jax.jit, scan's forward+backward took about 1.7x as long at full size.
    with pytest.warns(DeprecationWarning, match="time_loop='scan' is deprecated"):
        lif = kt.LIF(time_loop="scan")
    assert lif.time_loop == "unroll" and lif.get_config()["time_loop"] == "unroll"
    x = many_spike_input((2, 5, 3))
    with pytest.warns(DeprecationWarning, match="lif_multistep: time_loop='scan'"):
        spikes = lif_multistep(x, time_loop="scan")
    np.testing.assert_array_equal(ops.convert_to_numpy(spikes),
                                  reference.lif_forward(x, 2.0, 1.0, 0.0)[0])
