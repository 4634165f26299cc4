"""Gradients on the torch backend: autograd on the variables' `.value` parameters."""

import torch


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


# --------------------------------------------------------------------- fast kernels
# The multi-step LIF and tdBN written directly in torch: the same arithmetic as their
# keras.ops forms (keras_trt.neuron_dynamics.lif_multistep_fused, TemporalBatchNorm), but
# without Keras' per-op dispatch and with in-place updates, which measured faster on the
# torch backend (benchmarks/train_step.py). Tests check they equal the keras.ops forms.


class _MultistepLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, tau, v_threshold, v_reset, derivative, detach_reset):
        u = torch.full_like(x[:, 0], 0.0 if v_reset is None else v_reset)
        spikes = torch.empty_like(x)
        membrane = torch.empty_like(x)  # before the reset: all the backward pass needs
        for t in range(x.shape[1]):
            v = u / tau + x[:, t]
            s = (v > v_threshold).to(x.dtype)
            membrane[:, t] = v
            spikes[:, t] = s
            if v_reset is None:
                u = v - s * v_threshold
            elif v_reset == 0.0:
                u = (1.0 - s) * v
            else:
                u = (1.0 - s) * v + v_reset * s
        ctx.save_for_backward(spikes, membrane)
        ctx.params = (tau, v_threshold, v_reset, derivative, detach_reset)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        spikes, membrane = ctx.saved_tensors
        tau, v_threshold, v_reset, derivative, detach_reset = ctx.params
        grad_x = torch.empty_like(membrane)
        du = torch.zeros_like(membrane[:, 0])
        for t in reversed(range(membrane.shape[1])):
            g, s, v = grad_spikes[:, t], spikes[:, t], membrane[:, t]
            if v_reset is None:
                ds = g if detach_reset else g - du * v_threshold
                dv = du
            else:
                ds = g if detach_reset else g + du * (v_reset - v)
                dv = du * (1.0 - s)
            dv = dv + ds * derivative(v - v_threshold)
            grad_x[:, t] = dv
            du = dv / tau
        return grad_x, None, None, None, None, None


def lif_multistep_fused(x, tau, v_threshold, v_reset, surrogate, detach_reset):
    """Spikes of a multi-step LIF with a hand-written BPTT (see neuron_dynamics)."""
    if x.device.type == "meta":
        return None
    return _MultistepLIF.apply(x, tau, v_threshold, v_reset, surrogate.derivative,
                               detach_reset)


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
    """sum_t lam/T w^2 / (1 + a_t (|w| + eps)) with its closed-form gradient (regularizers)."""

    @staticmethod
    def forward(ctx, w, offsets, scale, epsilon):
        magnitude = w.abs().add_(epsilon)
        g = torch.ones_like(w)
        h = torch.zeros_like(w)
        for a in offsets[1:]:
            r = torch.reciprocal(magnitude * a + 1.0)
            g.add_(r)
            h.add_(r.square_(), alpha=a)
        ctx.save_for_backward(w, g, h)
        ctx.scale = scale
        return (w.square() * g).sum() * scale

    @staticmethod
    def backward(ctx, upstream):
        w, g, h = ctx.saved_tensors
        grad = (2.0 * w * g).sub_(w.square() * w.sign() * h).mul_(upstream * ctx.scale)
        return grad, None, None, None


def trt_penalty(weights, offsets, scale, epsilon):
    """TRT's weight penalty of `weights` (see keras_trt.regularizers)."""
    if any(w.device.type == "meta" for w in weights):
        return None
    return sum(_TRTPenalty.apply(w, offsets, scale, epsilon) for w in weights)
