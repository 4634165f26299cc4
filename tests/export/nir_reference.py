"""A NumPy simulator of NIR graphs, written from NIR's definitions, as the reference the
NIR tests compare keras-trt and the consumers with (float64, one timestep at a time).

NIR's LIF is `tau dv/dt = (v_leak - v) + r I` and its IF `dv/dt = r I`; both spike
when `v > v_threshold` and then reset to `v_reset`. Forward Euler over a step dt:

    LIF: v <- v + (dt / tau) (v_leak - v + r I)        IF: v <- v + dt r I

The membrane starts at v_reset (keras-trt's convention; NIR leaves it to the simulator).
`rule="spyx"` runs Spyx 1.0's neurons instead (spyx.nn.LIF/IF): the spike is taken from
the previous step's membrane and the threshold subtracted, `s = [V > th]`,
`V <- beta V + I - s th` with `beta = 1 - dt/tau` (1 for IF), starting at 0.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import nir


def _pair(value):
    value = np.asarray(value).reshape(-1)
    return (int(value[0]),) * 2 if value.size == 1 else (int(value[0]), int(value[1]))


def _windows(x, kernel, stride, padding, dilation=(1, 1)):
    """(B, C, H, W) -> (B, C, H_out, W_out, kH, kW) zero-padded windows."""
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    views = sliding_window_view(x, span, axis=(2, 3))
    return views[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]


def _conv(node, x):
    if int(node.groups) != 1:
        raise NotImplementedError("grouped Conv2d")
    weight = np.asarray(node.weight, "float64")
    windows = _windows(x, weight.shape[2:], _pair(node.stride), _pair(node.padding),
                       _pair(node.dilation))
    y = np.einsum("bihwkl,oikl->bohw", windows, weight)
    return y + np.asarray(node.bias, "float64")[None, :, None, None]


def _pool(node, x):
    kernel = _pair(node.kernel_size)
    summed = _windows(x, kernel, _pair(node.stride), _pair(node.padding)).sum(axis=(4, 5))
    return summed / (kernel[0] * kernel[1]) if isinstance(node, nir.AvgPool2d) else summed


def _flatten(x, order):
    if x.ndim == 4 and order == "hwc":   # Spyx flattens channels-last frames
        x = x.transpose(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


def _order(graph):
    incoming = {name: sum(dst == name for _, dst in graph.edges) for name in graph.nodes}
    ready, order = [n for n, k in incoming.items() if k == 0], []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for src, dst in graph.edges:
            if src == name:
                incoming[dst] -= 1
                if incoming[dst] == 0:
                    ready.append(dst)
    return order


def _param(node, field, shape):
    value = getattr(node, field, None)
    value = 0.0 if value is None else np.asarray(value, "float64")
    return np.broadcast_to(np.reshape(value, np.shape(value)), shape)


def _neuron(node, current, v, dt, rule):
    """One step of a LIF/IF population: (spikes, new membrane)."""
    shape = current.shape[1:]
    threshold = _param(node, "v_threshold", shape)
    leaky = isinstance(node, nir.LIF)
    if rule == "spyx":
        beta = 1.0 - dt / _param(node, "tau", shape) if leaky else 1.0
        spikes = (v > threshold).astype("float64")
        return spikes, beta * v + current - spikes * threshold
    r = _param(node, "r", shape)
    if leaky:
        v = v + dt / _param(node, "tau", shape) * (_param(node, "v_leak", shape) - v + r * current)
    else:
        v = v + dt * r * current
    spikes = (v > threshold).astype("float64")
    return spikes, np.where(spikes > 0, _param(node, "v_reset", shape), v)


def simulate(graph, frames, dt, rule="nir", flatten="chw"):
    """Runs `graph` on channels-first `frames` (B, T, ...) at step `dt`.

    Returns (outputs (B, T, ...), {neuron node: spikes (B, T, ...)}).
    """
    frames = np.asarray(frames, "float64")
    order = _order(graph)
    membranes, outputs, spikes = {}, [], {}
    for t in range(frames.shape[1]):
        values = {}
        for name in order:
            node = graph.nodes[name]
            sources = [values[src] for src, dst in graph.edges if dst == name]
            x = frames[:, t] if isinstance(node, nir.Input) else sum(sources)
            if isinstance(node, (nir.Input, nir.Output)):
                values[name] = x
            elif isinstance(node, nir.Conv2d):
                values[name] = _conv(node, x)
            elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
                values[name] = _pool(node, x)
            elif isinstance(node, nir.Flatten):
                values[name] = _flatten(x, flatten)
            elif isinstance(node, (nir.Affine, nir.Linear)):
                y = x @ np.asarray(node.weight, "float64").T
                values[name] = y + np.asarray(node.bias) if isinstance(node, nir.Affine) else y
            elif isinstance(node, (nir.LIF, nir.IF)):
                start = 0.0 if rule == "spyx" else _param(node, "v_reset", x.shape[1:])
                v = membranes.get(name, np.broadcast_to(start, x.shape))
                values[name], membranes[name] = _neuron(node, x, v, dt, rule)
                spikes.setdefault(name, []).append(values[name])
            else:
                raise NotImplementedError(type(node).__name__)
            if isinstance(node, nir.Output):
                outputs.append(x)
    return (np.stack(outputs, axis=1),
            {name: np.stack(steps, axis=1) for name, steps in spikes.items()})
