"""torch helpers: gradients with autograd on the variables' `.value` parameters, whether
a value is concrete, and the fast kernels of `FAST_KERNELS` (at the end)."""

import math

import keras
import torch

from keras_trt import surrogates
from keras_trt.backend.torch_remat import chunked_block


def is_concrete(x):
    # torch tensors hold values except while torch.compile traces (fake tensors) and on the
    # "meta" device, which Keras uses to infer output shapes.
    if torch.compiler.is_compiling():
        return False
    return not (isinstance(x, torch.Tensor) and x.device.type == "meta")


class DifferentiableScalar(torch.Tensor):
    """A tensor in the autograd graph that `float()` reads without torch's "Converting a
    tensor with requires_grad=True to a scalar" warning: reading a value to print or log
    it is what float() is for. Operations on it give plain tensors."""

    __torch_function__ = torch._C._disabled_torch_function_impl   # no subclass propagation

    def __float__(self):
        return float(self.detach())


def readable_scalar(value):
    if not (isinstance(value, torch.Tensor) and value.requires_grad and is_concrete(value)):
        return value
    return value.as_subclass(DifferentiableScalar)


def make_gradient_function(model, losses_fn, grad_transform=None, training=False):
    def fn(x, y):
        variables = model.trainable_variables
        params = [v.value for v in variables]
        with torch.enable_grad():
            y_pred = model(x, training=training)
            y_t = torch.as_tensor(y, device=y_pred.device) if y is not None else None
            losses = list(losses_fn(y_t, y_pred))
            results = []
            for i, loss in enumerate(losses):
                grads = torch.autograd.grad(
                    loss, params, retain_graph=i < len(losses) - 1, allow_unused=True)
                grads = [torch.zeros_like(p) if g is None else g.detach()
                         for g, p in zip(grads, params)]
                results.append(grad_transform(grads) if grad_transform else grads)
        return [loss.detach() for loss in losses], results

    return fn



def global_rng_state():
    """torch's global generators (CPU, and CUDA when initialised) as base64 strings: Keras'
    torch data loaders shuffle arrays with them."""
    import base64

    def encode(t):
        return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")

    state = {"cpu": encode(torch.get_rng_state())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [encode(t) for t in torch.cuda.get_rng_state_all()]
    return state


def set_global_rng_state(state):
    import base64

    def decode(text):
        return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)

    torch.set_rng_state(decode(state["cpu"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([decode(t) for t in state["cuda"]])

# --------------------------------------------------------------------- fast kernels
# The multi-step LIF, tdBN, channels-last convolution and pooling, and the TRT penalty
# written directly in torch: the same arithmetic as their keras.ops forms
# (keras_trt._neuron_dynamics.lif_multistep_fused, TemporalBatchNorm, keras_trt.spatial,
# keras_trt.regularizers), but without Keras' per-op dispatch and layout copies and with
# in-place updates, which measured faster on the torch backend (benchmarks/train_step.py).
# Tests check they equal the keras.ops forms.


def _is_power_of_two(value):
    return value > 0 and math.frexp(value)[0] == 0.5


class _MultistepLIF(torch.autograd.Function):
    """The multi-step LIF of `_neuron_dynamics.lif_multistep_fused` with in-place updates.

    Each step writes straight into the output buffers: the charge into the saved
    membrane, the comparison into the spikes (as 0/1 in x's dtype), and the reset as one
    fused pass. The forward pass is bit-exact with the keras.ops form: `u / tau` becomes
    `u * (1 / tau)` only when tau is a power of two (both exact then), and the hard reset
    to 0, `(1 - s) v`, is computed as `v - v s`, whose products are exact for s in {0, 1}.
    The backward pass fuses multiply-adds (`addcmul`), so gradients agree with the
    keras.ops form to rounding in the state's dtype, not bit for bit.

    The membrane is kept in `state_dtype` (float32 under mixed precision) while x, the
    spikes and x's gradient stay in x's dtype (bfloat16 or float16): each frame of x is
    promoted as it is charged and each frame of the gradient rounded as it is written,
    so no full-size cast is made either way. Only the pre-reset membrane is saved for
    the backward pass; the spikes are recomputed from it (`v > v_threshold`).

    The membrane starts from `u0` (None: v_reset, or 0 for a soft reset) and the one
    after the last step's reset is returned too, both differentiable, so a sequence cut
    into chunks (a chunked `keras_trt.Remat` block) gives the whole sequence's spikes.
    """

    @staticmethod
    def forward(ctx, x, u0, tau, v_threshold, v_reset, surrogate, detach_reset,
                state_dtype):
        ctx.set_materialize_grads(False)  # an unused final membrane sends no gradient
        steps = x.shape[1]
        frame_shape = x.shape[:1] + x.shape[2:]
        if u0 is None:
            u = torch.full(frame_shape, 0.0 if v_reset is None else v_reset,
                           dtype=state_dtype, device=x.device)
        else:
            u = u0.to(state_dtype, copy=True)   # updated in place below
        spikes = torch.empty_like(x)
        # The pre-reset membrane per step, kept for the backward pass as T frame-sized
        # tensors rather than one (B, T, ...) buffer: the allocator recycles frame-sized
        # blocks from step to step, where a buffer that large is mapped and zeroed anew.
        membrane = []
        exact_scale = _is_power_of_two(tau)
        reset_value = None if not v_reset else torch.tensor(v_reset, dtype=state_dtype,
                                                            device=x.device)
        for t in range(steps):
            s = spikes[:, t]
            # x's frame is promoted to the state's dtype by the add itself
            if exact_scale:
                v = torch.add(x[:, t], u, alpha=1.0 / tau)
            else:
                v = torch.add(u.div_(tau), x[:, t])
            membrane.append(v)
            torch.gt(v, v_threshold, out=s)
            if v_reset is None:
                torch.sub(v, s, alpha=v_threshold, out=u)
            elif v_reset == 0.0:
                torch.addcmul(v, v, s, value=-1.0, out=u)
            else:
                torch.where(s.bool(), reset_value, v, out=u)
        ctx.save_for_backward(*membrane)
        ctx.params = (tau, v_threshold, v_reset, surrogate, detach_reset, u0 is not None)
        ctx.x_dtype = x.dtype
        return spikes, u

    @staticmethod
    def backward(ctx, grad_spikes, grad_end):
        membrane = ctx.saved_tensors
        tau, v_threshold, v_reset, surrogate, detach_reset, has_u0 = ctx.params
        if grad_spikes is None:
            grad_spikes = torch.zeros(membrane[0].shape[:1] + (len(membrane),)
                                      + membrane[0].shape[1:], dtype=ctx.x_dtype,
                                      device=membrane[0].device)
        grad_x = torch.empty_like(grad_spikes, memory_format=torch.contiguous_format)
        # In mixed precision dL/dx_t is formed in the state's dtype (it also feeds
        # dL/du_{t-1}) and rounded into grad_x; otherwise written there directly.
        same_dtype = grad_x.dtype == membrane[0].dtype
        fired = torch.empty_like(membrane[0])  # s_t recomputed, as 0/1 in the state's dtype
        # dL/du_t flowing back from t + 1 (after the last step: the final membrane's)
        du = None if grad_end is None else grad_end.to(membrane[0].dtype, copy=True)
        for t in reversed(range(len(membrane))):
            g, v = grad_spikes[:, t], membrane[t]
            if not same_dtype:  # promoted once per frame (mixed-dtype ops are slower)
                g = g.to(v.dtype)
            slope = _surrogate_derivative(surrogate, torch.sub(v, v_threshold))
            dx = grad_x[:, t] if same_dtype else torch.empty_like(v)
            if du is None:
                torch.mul(g, slope, out=dx)
            else:
                if detach_reset:
                    ds = g
                elif v_reset is None:
                    ds = torch.sub(g, du, alpha=v_threshold)
                else:  # g + du (v_reset - v)
                    ds = torch.addcmul(g, du, v, value=-1.0)
                    if v_reset != 0.0:
                        ds.add_(du, alpha=v_reset)
                # du (1 - s) as du - du s: a float 0/1 frame (a boolean mask_fill is
                # an order of magnitude slower on the CPU)
                dv = du if v_reset is None else du.addcmul_(
                    du, torch.gt(v, v_threshold, out=fired), value=-1.0)
                torch.addcmul(dv, ds, slope, out=dx)
            if not same_dtype:
                grad_x[:, t].copy_(dx)
            du = torch.div(dx, tau)
        return grad_x, (du if has_u0 else None), None, None, None, None, None, None


def _surrogate_derivative(surrogate, z):
    """The surrogate's dS/du at z; the default triangle in place on z (z is a temporary)."""
    if isinstance(surrogate, surrogates.Triangle):
        gamma = surrogate.gamma
        z.abs_().neg_().add_(gamma).clamp_(min=0.0)
        return z if gamma == 1.0 else z.mul_(1.0 / (gamma * gamma))
    return surrogate.derivative(z)


def lif_multistep_fused(x, tau, v_threshold, v_reset, surrogate, detach_reset,
                        state_dtype=None):
    """Spikes of a multi-step LIF with a hand-written BPTT (see _neuron_dynamics), in x's
    dtype, with the membrane in `state_dtype` (default: x's dtype)."""
    if x.device.type == "meta":
        return None
    state_dtype = x.dtype if state_dtype is None else keras.backend.standardize_dtype(
        state_dtype)
    if isinstance(state_dtype, str):
        state_dtype = getattr(torch, state_dtype)
    spikes, _ = _MultistepLIF.apply(x, None, tau, v_threshold, v_reset, surrogate,
                                    detach_reset, state_dtype)
    return spikes


def lif_from_membrane(x, membrane, tau, v_threshold, v_reset, surrogate, detach_reset):
    """(spikes, membrane after the last reset) of a multi-step LIF over axis 1 of `x`
    that starts from `membrane` (None: v_reset, or 0 for a soft reset), or None."""
    if x.device.type == "meta" or (membrane is not None and membrane.dtype != x.dtype):
        return None
    return _MultistepLIF.apply(x, membrane, tau, v_threshold, v_reset, surrogate,
                               detach_reset, x.dtype)


def conv2d(inputs, kernel, strides, padding, dilation_rate, groups):
    """A channels-last 2-D convolution without Keras' layout copies, or None.

    Keras' torch backend copies a (B, H, W, C) input to (B, C, H, W) and then back to
    channels-last memory before calling torch. The permuted view of a contiguous
    (B, H, W, C) tensor already is channels-last memory, which torch's CPU and GPU
    convolutions take as it is, and their output permuted back is a contiguous
    (B, H, W, C) tensor: no copy in either direction. Returns None (use `ops.conv`) for
    "same" padding that is not symmetric (strides > 1 or an even kernel).
    """
    if inputs.device.type == "meta" or inputs.ndim != 4:
        return None
    if padding == "same":
        span = [(k - 1) * d for k, d in zip(kernel.shape[:2], dilation_rate)]
        if any(s != 1 for s in strides) or any(e % 2 for e in span):
            return None
        padding = (span[0] // 2, span[1] // 2)
    else:
        padding = 0
    kernel = keras.ops.convert_to_tensor(kernel)  # a Variable's value (autocast applied)
    weight = kernel.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    out = torch.nn.functional.conv2d(inputs.permute(0, 3, 1, 2), weight, None,
                                     tuple(strides), padding, tuple(dilation_rate), groups)
    return out.permute(0, 2, 3, 1)


def pool2d(inputs, mode, pool_size, strides, padding):
    """Channels-last 2-D average or max pooling without layout copies (see conv2d), or
    None (use keras.ops).

    "same" padding is TensorFlow's: the padded pixels never count, in the maximum nor in
    the average, and an odd pixel of padding goes at the end. (Keras' own torch pooling
    replicates edge pixels into an uneven "same" padding and averages them in.)
    """
    if inputs.device.type == "meta" or inputs.ndim != 4:
        return None
    x = inputs.permute(0, 3, 1, 2)
    pool_size, strides = tuple(pool_size), tuple(strides)
    if padding == "same":
        pads = []
        for size, k, s in zip(x.shape[2:], pool_size, strides):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            amounts = (left, right, top, bottom)
            if mode == "max":
                padded = torch.nn.functional.pad(x, amounts, value=-math.inf)
                out = torch.nn.functional.max_pool2d(padded, pool_size, strides)
            else:
                total = torch.nn.functional.avg_pool2d(
                    torch.nn.functional.pad(x, amounts), pool_size, strides,
                    divisor_override=1)
                ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
                count = torch.nn.functional.avg_pool2d(
                    torch.nn.functional.pad(ones, amounts), pool_size, strides,
                    divisor_override=1)
                out = total / count
            return out.permute(0, 2, 3, 1)
    elif padding != "valid":
        return None
    pool = (torch.nn.functional.avg_pool2d if mode == "average"
            else torch.nn.functional.max_pool2d)
    out = pool(x, pool_size, strides)
    return out.permute(0, 2, 3, 1)


def batch_norm(x, gamma, beta, moving_mean, moving_variance, training, momentum, epsilon):
    """tdBN over every axis but the last with torch's fused kernel on an (M, C) view.

    In training the moving statistics are updated in place with PyTorch's own rule
    (momentum on the new value, unbiased variance), exactly TemporalBatchNorm's.
    """
    if x.device.type == "meta":  # Keras' symbolic shape inference: use the generic path
        return None
    flat = x.reshape(-1, x.shape[-1])
    out = torch.nn.functional.batch_norm(
        flat, moving_mean.value, moving_variance.value,
        None if gamma is None else gamma.value, None if beta is None else beta.value,
        training=bool(training), momentum=momentum, eps=epsilon)
    return out.reshape(x.shape)


class _TRTPenalty(torch.autograd.Function):
    """sum_t lam/T w^2 / (1 + a_t (|w| + eps)) with its closed-form gradient (regularizers).

    The gradient `scale (2 w G - w |w| H)` is formed in the forward pass, where G and H
    are at hand, so only it is kept for the backward pass (instead of G and H); every
    pass over the weight writes into one of four scratch buffers (|w|, G, H and r).
    """

    @staticmethod
    def forward(ctx, w, offsets, scale, epsilon):
        magnitude = w.abs().add_(epsilon)
        g = torch.ones_like(w)
        h = torch.zeros_like(w)
        r = torch.empty_like(w)
        for a in offsets[1:]:
            torch.mul(magnitude, a, out=r).add_(1.0).reciprocal_()
            g.add_(r)
            h.addcmul_(r, r, value=a)
        wg = torch.mul(w, g, out=r)
        value = torch.dot(wg.reshape(-1), w.reshape(-1)) * scale
        h.mul_(torch.abs(w, out=magnitude)).mul_(w)      # w |w| H
        ctx.save_for_backward(wg.mul_(2.0).sub_(h).mul_(scale))
        return value

    @staticmethod
    def backward(ctx, upstream):
        (grad,) = ctx.saved_tensors
        return grad * upstream, None, None, None


def trt_penalty(weights, offsets, scale, epsilon):
    """TRT's weight penalty of `weights` (see keras_trt.regularizers)."""
    if any(w.device.type == "meta" for w in weights):
        return None
    return sum(_TRTPenalty.apply(w, offsets, scale, epsilon) for w in weights)


def has_gpu():
    return torch.cuda.is_available()


# keras_trt.backend.fast_kernel(name) looks kernels up here, by the names of
# keras_trt.backend.KERNEL_TWINS, which names each one's keras.ops twin.
FAST_KERNELS = {
    "lif_multistep_fused": lif_multistep_fused,   # twin: _neuron_dynamics' keras.ops BPTT
    "lif_from_membrane": lif_from_membrane,       # twin: lif_multistep(initial_membrane=)
    "chunked_block": chunked_block,               # twin: remat's chunked keras.remat path
    "batch_norm": batch_norm,                     # twin: TemporalBatchNorm's ops path
    "conv2d": conv2d,                             # twin: ops.conv (keras Conv2D)
    "pool2d": pool2d,                             # twin: ops.average_pool / ops.max_pool
    "trt_penalty": trt_penalty,                   # twin: regularizers' custom_gradient
}
