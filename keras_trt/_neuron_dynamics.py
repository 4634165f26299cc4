"""LIF dynamics over the time axis as functions: the autodiff form and a fused form whose
backward pass is a hand-written BPTT.

Both compute the LIF dynamics of docs/method.md exactly (see `keras_trt.neurons`); they
differ in how gradients are
obtained:

- `lif_multistep`: each timestep is differentiated by the framework (the surrogate
  spike through `keras.ops.custom_gradient`).
- `lif_multistep_fused`: one `custom_gradient` around the whole sequence. The forward
  loop records nothing for autodiff and keeps only the pre-reset membrane; the backward
  loop applies the BPTT of the dynamics and the surrogate (docs/method.md, LIF neuron)
  directly. Same values and gradients (to
  rounding in the input's dtype), fewer tensors kept for the backward pass.

```python
import numpy as np
from keras_trt._neuron_dynamics import lif_multistep, lif_multistep_fused

x = np.random.default_rng(0).normal(0.6, 0.9, (2, 8, 16)).astype("float32")
np.testing.assert_array_equal(np.asarray(lif_multistep(x)), np.asarray(lif_multistep_fused(x)))
```
"""

import warnings

import keras
from keras import ops

from keras_trt import backend
from keras_trt import surrogates as surrogates_lib

__all__ = ["lif_multistep", "lif_multistep_fused", "TIME_LOOPS", "check_time_loop"]

TIME_LOOPS = ("auto", "unroll")


def check_time_loop(time_loop, owner="lif_multistep"):
    """`time_loop` checked: "auto" or "unroll" (the same loop); the former "scan" is
    deprecated and gives "unroll" with a DeprecationWarning (saved models keep loading).

    The unrolled loop was measured the faster everywhere (benchmarks/profile_subgraphs.py,
    docs/performance.md): under jax.jit the full-size VGGSNN forward+backward took about
    1.7x as long with `ops.scan` (the while loop's stacking and reversed slicing of whole
    (T, B, H, W, C) tensors); eagerly, JAX's scan compiles its body at every call;
    TensorFlow's XLA path cannot compile scan's gradient. Same values either way.
    """
    if time_loop == "scan":
        warnings.warn(f"{owner}: time_loop='scan' is deprecated and runs the unrolled "
                      f"loop (the faster on every backend, same values); pass "
                      f"time_loop='auto' or 'unroll'.", DeprecationWarning, stacklevel=3)
        return "unroll"
    if time_loop not in TIME_LOOPS:
        raise ValueError(f"{owner}: time_loop must be one of {TIME_LOOPS}, "
                         f"got time_loop={time_loop!r}.")
    return time_loop


def lif_multistep(
    x,
    tau=2.0,
    v_threshold=1.0,
    v_reset=0.0,
    spike_fn=None,
    detach_reset=False,
    time_loop="auto",
    return_membrane=False,
    initial_membrane=None,
):
    """Runs LIF dynamics over axis 1 of `x` (B, T, ...) and returns the spikes.

    Args:
        x: input current, rank >= 3, time on axis 1. Computed in x's dtype (the LIF layer
            casts to float32 first, or float64 under a float64 policy).
        tau: membrane time constant (leak factor 1/tau); 1.0 gives an IF neuron.
        v_threshold: firing threshold.
        v_reset: reset potential for a hard reset; `None` for a soft reset (subtract).
        spike_fn: a `keras_trt.surrogates.Surrogate` (default `Triangle(1.0)`).
        detach_reset: stop the gradient through the spike in the reset (the reference
            code does not: default False).
        time_loop: "unroll" or "auto" (the same: a Python loop over the static T; the
            former "scan" is deprecated, see `check_time_loop`).
        return_membrane: also return the membrane potential after each reset.
        initial_membrane: the membrane before the first timestep, shaped like one frame
            (B, ...) (default: `v_reset`, or 0 for a soft reset). A stateful `LIF` passes
            the membrane its previous call ended with.

    Returns:
        spikes (same shape as x), or (spikes, membrane) when `return_membrane`.
    """
    check_time_loop(time_loop)
    spike_fn = spike_fn or surrogates_lib.Triangle(1.0)
    x = ops.convert_to_tensor(x)

    def step(u, x_t):
        u = u / tau + x_t
        s = spike_fn(u - v_threshold)
        s_reset = ops.stop_gradient(s) if detach_reset else s
        return _reset(u, s_reset, v_threshold, v_reset), s

    if initial_membrane is None:
        u0 = ops.full_like(x[:, 0], 0.0 if v_reset is None else v_reset)
    else:
        u0 = ops.cast(initial_membrane, x.dtype)
    u, spikes, membrane = u0, [], []
    for x_t in ops.unstack(x, axis=1):
        u, s = step(u, x_t)
        spikes.append(s)
        membrane.append(u)
    spikes = ops.stack(spikes, axis=1)
    if return_membrane:
        return spikes, ops.stack(membrane, axis=1)
    return spikes


def _reset(u, s, v_threshold, v_reset):
    if v_reset is None:
        return u - s * v_threshold
    if v_reset == 0.0:
        return (1.0 - s) * u  # == (1 - s) u + 0 s exactly, two ops fewer per step
    return (1.0 - s) * u + v_reset * s


def lif_multistep_fused(x, tau=2.0, v_threshold=1.0, v_reset=0.0, spike_fn=None,
                        detach_reset=False, time_loop="auto", state_dtype=None):
    """`lif_multistep` with a hand-written BPTT backward (same arguments, spikes only).

    `state_dtype` (default: x's dtype) is the dtype of the membrane and of the arithmetic;
    the spikes and x's gradient come back in x's dtype. Under mixed precision the LIF
    layer passes its bfloat16/float16 input with `state_dtype="float32"`: the torch kernel
    then promotes one frame at a time, the keras.ops form casts x as a whole.
    """
    check_time_loop(time_loop, "lif_multistep_fused")
    spike_fn = spike_fn or surrogates_lib.Triangle(1.0)
    x = ops.convert_to_tensor(x)  # NumPy input too: the torch kernel needs a tensor
    kernel = backend.fast_kernel("lif_multistep_fused")
    if kernel is not None:
        spikes = kernel(x, tau, v_threshold, v_reset, spike_fn, detach_reset,
                        state_dtype=state_dtype)
        if spikes is not None:
            return spikes
    if state_dtype is not None and keras.backend.standardize_dtype(state_dtype) != \
            keras.backend.standardize_dtype(x.dtype):
        spikes = lif_multistep_fused(ops.cast(x, state_dtype), tau, v_threshold, v_reset,
                                     spike_fn, detach_reset)
        return ops.cast(spikes, x.dtype)

    @ops.custom_gradient
    def lif(inputs):
        u0 = ops.full_like(inputs[:, 0], 0.0 if v_reset is None else v_reset)

        def forward_step(u, x_t):
            v = u / tau + x_t
            s = ops.cast(ops.greater(v, v_threshold), v.dtype)
            return _reset(v, s, v_threshold, v_reset), s, v

        u, spike_list, v_list = u0, [], []
        for x_t in ops.unstack(inputs, axis=1):
            u, s, v = forward_step(u, x_t)
            spike_list.append(s)
            v_list.append(v)
        spikes = ops.stack(spike_list, axis=1)

        def backward_step(du, g_t, s_t, v_t):
            """dL/du_{t-1} and dL/dx_t from dL/du_t (du), dL/ds_t (g_t)."""
            if v_reset is None:
                ds = g_t if detach_reset else g_t - du * v_threshold
                dv = du
            else:
                ds = g_t if detach_reset else g_t + du * (v_reset - v_t)
                dv = du * (1.0 - s_t)
            dv = dv + ds * spike_fn.derivative(v_t - v_threshold)
            return dv / tau, dv

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            upstream = ops.cast(upstream, spikes.dtype)
            du, dxs = ops.zeros_like(u0), []
            g_list = ops.unstack(upstream, axis=1)
            for t in reversed(range(len(v_list))):
                du, dx = backward_step(du, g_list[t], spike_list[t], v_list[t])
                dxs.append(dx)
            return ops.stack(dxs[::-1], axis=1)

        return spikes, grad

    return lif(x)
