"""NumPy implementations of the LIF neuron and the losses (docs/method.md), written
independently of keras_trt, that the
tests compare against."""

import numpy as np


def triangle_grad(u, gamma=1.0):
    return (1.0 / gamma) ** 2 * np.maximum(0.0, gamma - np.abs(u))


def sigmoid_grad(u, alpha=4.0):
    s = 1.0 / (1.0 + np.exp(-alpha * u))
    return alpha * s * (1.0 - s)


def atan_grad(u, alpha=2.0):
    return alpha / 2.0 / (1.0 + (np.pi / 2.0 * alpha * u) ** 2)


def lif_forward(x, tau=2.0, v_th=1.0, v_reset=0.0):
    """The LIF neuron (docs/method.md), time on axis 1. Returns spikes, membrane after
    reset, membrane before."""
    x = np.asarray(x)
    u = np.full_like(x[:, 0], 0.0 if v_reset is None else v_reset)
    spikes, after, before = [], [], []
    for t in range(x.shape[1]):
        u = u / np.asarray(tau, x.dtype) + x[:, t]
        before.append(u)
        s = (u - v_th > 0).astype(x.dtype)
        u = u - s * v_th if v_reset is None else (1 - s) * u + v_reset * s
        spikes.append(s)
        after.append(u)
    return np.stack(spikes, 1), np.stack(after, 1), np.stack(before, 1)


def lif_backward(x, upstream, tau=2.0, v_th=1.0, v_reset=0.0, surrogate_grad=triangle_grad,
                 detach_reset=False):
    """Hand-written BPTT of the LIF neuron with its surrogate (docs/method.md): dL/dx for
    dL/ds = upstream.

    The chain rule, step t (v_t the membrane before the reset, u_t after it):

        v_t = u_{t-1} / tau + x_t
        s_t = H(v_t - v_th),             ds_t/dv_t := surrogate_grad(v_t - v_th)
        u_t = R(v_t, s_t) = (1 - s_t) v_t + v_reset s_t     (hard reset)
                          = v_t - v_th s_t                   (soft reset, v_reset None)

    so with dL/du_t (from step t + 1, zero after the last step) and g_t = dL/ds_t
    (the upstream gradient of the spike output):

        dL/ds_t = g_t + dR/ds_t dL/du_t,   dR/ds_t = v_reset - v_t  or  -v_th
        dL/dv_t = dR/dv_t dL/du_t + dL/ds_t ds_t/dv_t,
                                          dR/dv_t = 1 - s_t (hard)  or  1 (soft)
        dL/dx_t = dL/dv_t,   dL/du_{t-1} = dL/dv_t / tau

    `detach_reset=True` treats the s_t inside R as a constant: the reset still multiplies
    the membrane path by dR/dv_t = 1 - s_t, but the term dR/ds_t dL/du_t is gone, so
    dL/ds_t = g_t.
    """
    spikes, _, before = lif_forward(x, tau, v_th, v_reset)
    grad_x = np.zeros_like(x, dtype=np.float64)
    du = np.zeros_like(x[:, 0], dtype=np.float64)  # dL/du_t flowing in from t + 1
    for t in reversed(range(x.shape[1])):
        v, s = before[:, t].astype(np.float64), spikes[:, t]
        if v_reset is None:
            dr_ds, dr_dv = -v_th, 1.0
        else:
            dr_ds, dr_dv = v_reset - v, 1.0 - s
        ds = upstream[:, t] + (0.0 if detach_reset else dr_ds * du)
        dv = dr_dv * du + ds * surrogate_grad(v - v_th)
        grad_x[:, t] = dv
        du = dv / tau
    return grad_x


def lif_straight_through(x, x_at, tau=2.0, v_th=1.0, v_reset=0.0, smooth_spike=None,
                         detach_reset=False):
    """A forward whose exact derivative at `x = x_at` is the surrogate BPTT: the spikes are
    frozen at their values for `x_at` plus `smooth_spike(v - v_th)` minus its value at
    `x_at` (the straight-through form of a surrogate whose derivative is
    `smooth_spike'`). With `detach_reset` the reset uses the frozen spikes only. Finite
    differences of this function check `lif_backward` without its chain rule."""
    frozen_v = lif_forward(x_at, tau, v_th, v_reset)[2].astype(np.float64)
    u = np.full_like(x[:, 0], 0.0 if v_reset is None else v_reset, dtype=np.float64)
    spikes = []
    for t in range(x.shape[1]):
        v = u / tau + x[:, t]
        frozen = (frozen_v[:, t] - v_th > 0).astype(np.float64)
        s = frozen + smooth_spike(v - v_th) - smooth_spike(frozen_v[:, t] - v_th)
        s_reset = frozen if detach_reset else s
        u = v - s_reset * v_th if v_reset is None else (1 - s_reset) * v + v_reset * s_reset
        spikes.append(s)
    return np.stack(spikes, 1)


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def cross_entropy(logits, labels):
    return -log_softmax(logits)[np.arange(len(labels)), labels].mean()


def sdt_loss(logits, labels):
    return cross_entropy(logits.mean(1), labels)


def tet_loss(logits, labels, lam=1e-3, phi=1.0):
    T = logits.shape[1]
    tet = sum(cross_entropy(logits[:, t], labels) for t in range(T)) / T
    return (1 - lam) * tet + lam * ((logits - phi) ** 2).mean()


def trt_data_loss(logits, labels, eta=0.05):
    B, T, C = logits.shape
    one_hot = np.eye(C)[labels]
    total = 0.0
    for t in range(T):
        total += (1 - eta) * cross_entropy(logits[:, t], labels)
        total += eta * ((logits[:, t] - one_hot) ** 2).mean()
    return total / T


def trt_penalty(weights, T, lam=1e-5, decay=0.25, eps=1e-5):
    """The reference's double loop: for t, for every weight."""
    total = 0.0
    for t in range(T):
        for w in weights:
            w = np.asarray(w, np.float64)
            total += (lam * w**2 / (1 + (np.exp(decay * t) - 1) * (np.abs(w) + eps))).sum()
    return total / T


def trt_penalty_grad(w, T, lam=1e-5, decay=0.25, eps=1e-5):
    w = np.asarray(w, np.float64)
    g = np.zeros_like(w)
    for t in range(T):
        a = np.exp(decay * t) - 1
        d = 1 + a * (np.abs(w) + eps)
        g += lam * (2 * w * d - w**2 * a * np.sign(w)) / d**2
    return g / T


# ------------------------------------------------------------- convolution and pooling
# Channels-last (B, H, W, C) arrays, written as explicit sums over the kernel taps, with
# Keras' / TensorFlow's padding: "valid" pads nothing; "same" gives ceil(size / stride)
# outputs and pads the total needed, the odd pixel at the end (bottom / right).


def same_padding(size, kernel, stride, dilation=1):
    """(before, after) padding of one spatial axis under "same"."""
    span = (kernel - 1) * dilation + 1
    outputs = -(-size // stride)
    total = max((outputs - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _pads(shape, kernel, strides, dilation, padding):
    if padding == "valid":
        return [(0, 0), (0, 0)]
    return [same_padding(shape[1 + a], kernel[a], strides[a], dilation[a]) for a in (0, 1)]


def _taps(padded_shape, kernel, strides, dilation):
    """Output size and, per kernel tap (p, q), the strided window of the padded input it
    reads: out[:, i, j] += padded[:, i s + p d, j s + q d]."""
    out = [(padded_shape[1 + a] - ((kernel[a] - 1) * dilation[a] + 1)) // strides[a] + 1
           for a in (0, 1)]
    taps = {}
    for p in range(kernel[0]):
        for q in range(kernel[1]):
            rows = slice(p * dilation[0], p * dilation[0] + (out[0] - 1) * strides[0] + 1,
                         strides[0])
            cols = slice(q * dilation[1], q * dilation[1] + (out[1] - 1) * strides[1] + 1,
                         strides[1])
            taps[p, q] = (slice(None), rows, cols)
    return out, taps


def conv2d(x, kernel, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1,
           upstream=None):
    """Cross-correlation out[b, i, j, o] = sum_{p, q, c} x_pad[b, i s + p d, j s + q d,
    c in o's group] kernel[p, q, c, o] in float64 (kernel (kh, kw, C_in / groups, C_out)).

    With `upstream` (dL/d out) returns (dL/dx, dL/dkernel) instead: the same sums read
    backwards, dx_pad[window(p, q)] += upstream kernel[p, q]^T and dkernel[p, q] +=
    window(p, q)^T upstream, then the padding cut off.
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    pads = _pads(x.shape, kernel.shape, strides, dilation, padding)
    padded = np.pad(x, [(0, 0), *pads, (0, 0)])
    (out_h, out_w), taps = _taps(padded.shape, kernel.shape, strides, dilation)
    c_in, c_out = kernel.shape[2], kernel.shape[3] // groups
    groups_io = [(slice(g * c_in, (g + 1) * c_in), slice(g * c_out, (g + 1) * c_out))
                 for g in range(groups)]
    if upstream is None:
        out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]))
        for (p, q), window in taps.items():
            for ci, co in groups_io:
                out[..., co] += padded[window][..., ci] @ kernel[p, q][:, co]
        return out
    upstream = np.asarray(upstream, np.float64)
    d_padded, d_kernel = np.zeros_like(padded), np.zeros_like(kernel)
    for (p, q), window in taps.items():
        for ci, co in groups_io:
            d_padded[window][..., ci] += upstream[..., co] @ kernel[p, q][:, co].T
            d_kernel[p, q][:, co] += np.einsum("bhwc,bhwo->co", padded[window][..., ci],
                                               upstream[..., co])
    (top, _), (left, _) = pads
    return d_padded[:, top:top + x.shape[1], left:left + x.shape[2]], d_kernel


def pool2d(x, mode, pool_size, strides, padding="valid", upstream=None):
    """Average (over the input pixels in the window: padding is not counted) or max
    pooling in float64; with `upstream` returns dL/dx instead: each output's gradient
    spread evenly over its window's pixels (average), or all of it to the window's
    largest pixel (max)."""
    x = np.asarray(x, np.float64)
    pads = _pads(x.shape, pool_size, strides, (1, 1), padding)
    fill = -np.inf if mode == "max" else 0.0
    padded = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    real = np.pad(np.ones_like(x), [(0, 0), *pads, (0, 0)])
    _, taps = _taps(padded.shape, pool_size, strides, (1, 1))
    windows = np.stack([padded[w] for w in taps.values()])  # (taps, B, H', W', C)
    if mode == "max":
        winner = np.argmax(windows, axis=0)
        if upstream is None:
            return windows.max(axis=0)
        d_padded = np.zeros_like(padded)
        for k, window in enumerate(taps.values()):
            d_padded[window] += np.where(winner == k, upstream, 0.0)
    else:
        count = np.stack([real[w] for w in taps.values()]).sum(axis=0)
        if upstream is None:
            return windows.sum(axis=0) / count
        d_padded = np.zeros_like(padded)
        for window in taps.values():
            d_padded[window] += real[window] * upstream / count
    (top, _), (left, _) = pads
    return d_padded[:, top:top + x.shape[1], left:left + x.shape[2]]
