"""NumPy implementations of SPEC 1 and 3, written independently of keras_trt, that the
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
    """SPEC 1.1, time on axis 1. Returns spikes, membrane after reset, membrane before."""
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


def lif_backward(x, upstream, tau=2.0, v_th=1.0, v_reset=0.0, surrogate_grad=triangle_grad):
    """Hand-written BPTT of SPEC 1.1 + 1.3 (reset path through the spike included):
    dL/dx for dL/ds = upstream."""
    spikes, _, before = lif_forward(x, tau, v_th, v_reset)
    grad_x = np.zeros_like(x, dtype=np.float64)
    du = np.zeros_like(x[:, 0], dtype=np.float64)  # dL/du_t flowing in from t + 1
    for t in reversed(range(x.shape[1])):
        v, s = before[:, t].astype(np.float64), spikes[:, t]
        if v_reset is None:
            ds = upstream[:, t] + du * (-v_th)
            dv = du * 1.0
        else:
            ds = upstream[:, t] + du * (v_reset - v)
            dv = du * (1.0 - s)
        dv = dv + ds * surrogate_grad(v - v_th)
        grad_x[:, t] = dv
        du = dv / tau
    return grad_x


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
