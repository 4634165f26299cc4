"""`from_nir`: a `keras_trt.SpikingModel` from a `nir.NIRGraph` of one timestep.

The inverse of `keras_trt.export.to_nir` (same mapping, docs/deployment.md; a graph
written for a consumer, `to_nir(target=...)`, is first rewritten back to the canonical
form its metadata names, `nir_targets.canonical_form`): Conv2d ->
`keras_trt.spatial.FastConv2D` (with bias; asymmetric-free integer padding as
ZeroPadding2D or "same"), Affine/Linear -> `keras_trt.dense.Float64ExactDense`, AvgPool2d ->
AveragePooling2D (NIR's padding as zeros counted in the mean), SumPool2d -> the same times
kH*kW, Flatten of a (C, H, W) frame -> Permute to (C, H, W) + Flatten (NIR's element
order), LIF -> `keras_trt.LIF`, IF -> `keras_trt.IF`. Every per-frame layer runs inside
`keras_trt.TimeDistributed`; a node with several incoming edges gets their sum (Add).

A NIR LIF `(tau_n, r, v_leak=0, v_threshold, v_reset)` with step dt becomes the keras-trt
LIF with `tau = 1 / (1 - dt / tau_n)` (forward Euler), its input scaled by
`w = r dt / tau_n`. The scale is moved onto the threshold and reset (`v_threshold / w`,
`v_reset / w`): the membrane is then v / w, and the spikes are the same. A NIR IF
`(r, v_threshold, v_reset)` becomes `keras_trt.IF` with the same scaling, `w = r dt`.

Not importable (ValueError): neurons whose parameters differ between neurons (keras-trt's
take one value per layer), a non-zero v_leak, CubaLIF/CubaLI/LI/I (keras-trt neurons
have no synaptic current and always spike), Conv1d, Delay, Scale, Threshold, nested
graphs and recurrent (cyclic) graphs.

```python
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=10, input_shape=(4, 8, 8, 2), widths=(4, 8))
rebuilt = kt.export.from_nir(kt.export.to_nir(model))   # (B, 4, 8, 8, 2) -> (B, 4, 10)
```
"""

import os
import re

import keras
import numpy as np

from keras_trt import dense as kt_dense
from keras_trt import layers as kt_layers
from keras_trt import neurons, spatial, training
from keras_trt.export._nir import require_nir
from keras_trt.export.nir_targets import canonical_form
from keras_trt.validation import positive_int

__all__ = ["from_nir"]


def _uniform(node_name, field, values):
    values = np.asarray(values, dtype="float64")
    first = float(values.reshape(-1)[0])
    if not np.allclose(values, first, rtol=1e-6, atol=0.0):
        raise ValueError(
            f"from_nir: node '{node_name}' has a different `{field}` per neuron; keras-trt "
            "neurons take one value per layer.")
    return first


def _pair(value):
    value = np.asarray(value).reshape(-1)
    return (int(value[0]), int(value[0])) if value.size == 1 else (int(value[0]), int(value[1]))


def _topological_order(graph):
    """Node names in an order where every edge goes forward, or a ValueError on cycles."""
    incoming = {name: 0 for name in graph.nodes}
    for _, dst in graph.edges:
        incoming[dst] += 1
    ready = [name for name, count in incoming.items() if count == 0]
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for src, dst in graph.edges:
            if src == name:
                incoming[dst] -= 1
                if incoming[dst] == 0:
                    ready.append(dst)
    if len(order) != len(graph.nodes):
        raise ValueError("from_nir: the graph has a cycle (a recurrent connection); "
                         "keras-trt models are feed-forward.")
    return order


class _Importer:
    def __init__(self, nir, graph, timesteps, dt, static_input, surrogate):
        self.nir = nir
        self.graph = graph
        self.timesteps = timesteps
        self.dt = dt
        self.static = static_input
        self.surrogate = surrogate

    def keras_name(self, name):
        return re.sub(r"\W", "_", str(name))

    def td(self, layer, x):
        return kt_layers.TimeDistributed(layer, name=layer.name)(x)

    def build(self, name):
        graph, nir = self.graph, self.nir
        inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
        outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"from_nir: the graph must have one Input and one Output node, "
                             f"got {len(inputs)} and {len(outputs)}.")
        tensors, model_input = {}, None
        for node_name in _topological_order(graph):
            node = graph.nodes[node_name]
            sources = [src for src, dst in graph.edges if dst == node_name]
            if isinstance(node, nir.Input):
                model_input, tensors[node_name] = self.input(node)
                continue
            if not sources:
                raise ValueError(f"from_nir: node '{node_name}' has no input edge.")
            x = [tensors[src] for src in sources]
            x = x[0] if len(x) == 1 else keras.layers.Add(
                name=f"{self.keras_name(node_name)}_sum")(x)
            tensors[node_name] = x if isinstance(node, nir.Output) else self.node(
                node_name, node, x)
        return training.SpikingModel(model_input, tensors[outputs[0]], name=name)

    def input(self, node):
        shape = tuple(int(d) for d in np.asarray(node.input_type["input"]).reshape(-1))
        if len(shape) in (2, 4) and shape[0] == 1:
            shape = shape[1:]   # a batch axis of 1, as tracing exporters (Norse) write
        if len(shape) == 3:
            frame = (shape[1], shape[2], shape[0])
        elif len(shape) == 1:
            frame = shape
        else:
            raise ValueError(f"from_nir: the Input node must take (C, H, W) or (features,) "
                             f"frames, got shape {shape}.")
        if self.static:
            inputs = keras.Input(frame, name="input")
            return inputs, kt_layers.RepeatTime(self.timesteps, name="repeat_time")(inputs)
        inputs = keras.Input((self.timesteps,) + frame, name="input")
        return inputs, inputs

    def node(self, node_name, node, x):
        nir, name = self.nir, self.keras_name(node_name)
        if isinstance(node, nir.Conv2d):
            return self.conv(name, node, x)
        if isinstance(node, (nir.Affine, nir.Linear)):
            weight = np.asarray(node.weight, "float32")
            if weight.ndim != 2:
                raise ValueError(f"from_nir: node '{node_name}' has a weight of shape "
                                 f"{weight.shape}; only 2-D weights are supported.")
            with_bias = isinstance(node, nir.Affine)
            layer = kt_dense.Float64ExactDense(weight.shape[0], use_bias=with_bias, name=name)
            y = self.td(layer, x)
            layer.set_weights([weight.T] + ([np.asarray(node.bias, "float32")] if with_bias
                                            else []))
            return y
        if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            kernel, stride, padding = (_pair(node.kernel_size), _pair(node.stride),
                                       _pair(node.padding))
            if any(padding):
                x = self.td(keras.layers.ZeroPadding2D(padding, name=f"{name}_pad"), x)
            y = self.td(spatial.FastAveragePooling2D(kernel, strides=stride, padding="valid",
                                                 name=name), x)
            if isinstance(node, nir.SumPool2d):
                y = keras.layers.Rescaling(float(kernel[0] * kernel[1]), name=f"{name}_sum")(y)
            return y
        if isinstance(node, nir.Flatten):
            return self.flatten(node_name, node, x)
        if isinstance(node, nir.LIF):
            return self.lif(node_name, node, x)
        if isinstance(node, nir.IF):
            w = _uniform(node_name, "r", node.r) * self.require_dt(node_name)
            return neurons.IF(
                v_threshold=_uniform(node_name, "v_threshold", node.v_threshold) / w,
                v_reset=_uniform(node_name, "v_reset", node.v_reset) / w,
                surrogate=self.surrogate, name=name)(x)
        raise ValueError(
            f"from_nir: cannot import node '{node_name}' ({type(node).__name__}): keras-trt "
            "has no equivalent. Supported: Input, Output, Conv2d, Affine, Linear, AvgPool2d, "
            "SumPool2d, Flatten, LIF (v_leak = 0), IF.")

    def require_dt(self, node_name):
        if self.dt is None:
            raise ValueError(
                f"from_nir: node '{node_name}' is a spiking neuron and the graph records no "
                "time step: pass `dt` (seconds per timestep; 1e-4 for graphs exported by "
                "snnTorch).")
        return self.dt

    def conv(self, name, node, x):
        weight = np.asarray(node.weight, "float32")
        if weight.ndim != 4:
            raise ValueError(f"from_nir: Conv2d '{name}' has a weight of shape {weight.shape}.")
        kh, kw = weight.shape[2:]
        stride, dilation = _pair(node.stride), _pair(node.dilation)
        padding = node.padding
        if isinstance(padding, (str, bytes)):
            padding = padding.decode() if isinstance(padding, bytes) else padding
            if padding == "same" and stride != (1, 1):
                raise ValueError(f"from_nir: Conv2d '{name}' has padding 'same' with stride "
                                 f"{stride}; give integer padding.")
            keras_padding = padding
        else:
            padding = _pair(padding)
            keras_padding = "valid"
            if padding == (0, 0):
                pass
            elif stride == (1, 1) and all(2 * p == (k - 1) * d for p, k, d
                                          in zip(padding, (kh, kw), dilation)):
                keras_padding = "same"
            else:
                x = self.td(keras.layers.ZeroPadding2D(padding, name=f"{name}_pad"), x)
        layer = spatial.FastConv2D(weight.shape[0], (kh, kw), strides=stride, padding=keras_padding,
                               dilation_rate=dilation, groups=int(node.groups), use_bias=True,
                               name=name)
        y = self.td(layer, x)
        layer.set_weights([weight.transpose(2, 3, 1, 0), np.asarray(node.bias, "float32")])
        return y

    def flatten(self, node_name, node, x):
        frame = tuple(x.shape[2:])
        name = self.keras_name(node_name)
        if len(frame) == 1:
            return x
        end_dim = int(node.end_dim)
        if int(node.start_dim) != 0 or end_dim not in (-1, len(frame) - 1) or len(frame) != 3:
            raise ValueError(
                f"from_nir: Flatten '{node_name}' (start_dim={node.start_dim}, end_dim="
                f"{node.end_dim}) of a frame {frame}: only flattening a whole (C, H, W) frame "
                "(start_dim=0, end_dim=-1) is supported.")
        # NIR flattens (C, H, W); Keras frames are (H, W, C)
        x = self.td(keras.layers.Permute((3, 1, 2), name=f"{name}_chw"), x)
        return self.td(keras.layers.Flatten(name=name), x)

    def lif(self, node_name, node, x):
        dt = self.require_dt(node_name)
        if not np.allclose(np.asarray(node.v_leak, "float64"), 0.0):
            raise ValueError(
                f"from_nir: LIF '{node_name}' leaks towards v_leak != 0; keras-trt's LIF "
                "leaks towards 0.")
        tau_n = _uniform(node_name, "tau", node.tau)
        r = _uniform(node_name, "r", node.r)
        decay = 1.0 - dt / tau_n if tau_n > 0 else -1.0
        w = r * dt / tau_n if tau_n > 0 else 0.0
        if not 0.0 < decay <= 1.0 or not w > 0:
            raise ValueError(
                f"from_nir: LIF '{node_name}' with tau={tau_n}, r={r} at dt={dt}: forward "
                "Euler needs 0 < dt < tau and r > 0 (keras-trt's leak 1/tau_kt = 1 - dt/tau).")
        return neurons.LIF(
            tau=1.0 / decay,
            v_threshold=_uniform(node_name, "v_threshold", node.v_threshold) / w,
            v_reset=_uniform(node_name, "v_reset", node.v_reset) / w,
            surrogate=self.surrogate, name=self.keras_name(node_name))(x)


def _metadata_value(metadata, key):
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return None if value is None else np.asarray(value).item()


def from_nir(graph, timesteps=None, dt=None, static_input=None, surrogate="triangle",
             name="nir_model"):
    """Builds a `keras_trt.SpikingModel` that runs `graph` for `timesteps` steps.

    Args:
        graph: a `nir.NIRGraph` (e.g. from `to_nir` or `nir.read`), or a path to a NIR
            file.
        timesteps: T, the static length of the model's time axis. Default: the graph's
            metadata["timesteps"] (written by `to_nir`); required otherwise.
        dt: seconds per timestep for the LIF/IF mapping. Default: metadata["dt"];
            required otherwise when the graph has neurons (1e-4 for snnTorch's graphs).
        static_input: True: the model takes one frame (B, H, W, C) and repeats it T
            times; False: it takes (B, T, H, W, C). Default: metadata["static_input"],
            else False.
        surrogate: the surrogate gradient of the rebuilt neurons (NIR does not store
            one; it matters only for further training).
        name: the model name.

    Returns:
        A functional `keras_trt.SpikingModel` (channels-last frames, like every keras-trt
        model), whose output is the Output node's value at every timestep, (B, T, ...).

    Raises:
        ImportError: `nir` is not installed (the `deploy` extra).
        ValueError: a node NIR describes that keras-trt cannot run (module docstring),
            or `timesteps`/`dt` missing.
    """
    nir = require_nir("keras_trt.export.from_nir")
    if isinstance(graph, (str, bytes, os.PathLike)):
        graph = nir.read(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir: `graph` must be a nir.NIRGraph or a path, got "
                        f"{type(graph).__name__}.")
    graph = canonical_form(graph)   # a consumer's form (to_nir's `target`) back to NIR's
    metadata = graph.metadata
    timesteps = _metadata_value(metadata, "timesteps") if timesteps is None else timesteps
    timesteps = positive_int(timesteps, "timesteps", "from_nir",
                             hint="the graph's metadata has none")
    dt = _metadata_value(metadata, "dt") if dt is None else dt
    if dt is not None and not float(dt) > 0:
        raise ValueError(f"from_nir: `dt` must be > 0 seconds, got {dt!r}.")
    if static_input is None:
        static_input = bool(_metadata_value(metadata, "static_input") or False)
    importer = _Importer(nir, graph, int(timesteps), None if dt is None else float(dt),
                         bool(static_input), surrogate)
    return importer.build(name)
