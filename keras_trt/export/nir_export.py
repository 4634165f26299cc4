"""`to_nir`: a functional keras-trt model as a `nir.NIRGraph` (inference mode).

One NIR graph describes one timestep: its Input takes one frame (channels first,
(C, H, W), or (features,)), and a simulator runs it T times carrying the neuron state.
The layers map as follows (docs/deployment.md, NIR export and import):

- Conv2D -> `nir.Conv2d` (weights (C_out, C_in, kH, kW), symmetric integer padding; a
  preceding ZeroPadding2D and Keras' "same" padding are folded into it when symmetric).
- Dense -> `nir.Affine` (or `nir.Linear` without bias); after a Flatten its weight
  columns are permuted from Keras' (H, W, C) order to NIR's (C, H, W) order.
- TemporalBatchNorm (or BatchNormalization) -> folded into the preceding Conv2D/Dense:
  `W' = W * s`, `b' = (b - mean) * s + beta`, `s = gamma / sqrt(moving_var + eps)`.
- AveragePooling2D -> `nir.AvgPool2d`; GlobalAveragePooling2D -> `nir.AvgPool2d` over the
  whole map + `nir.Flatten`; Flatten -> `nir.Flatten(start_dim=0)`.
- Add -> no node: NIR sums the signals of all edges entering a node, so each operand
  gets an edge to every consumer of the sum (ResNet-19's membrane shortcut gives a LIF
  node with two inputs; SEW's ADD gives each next convolution two inputs).
- LIF (tau > 1) -> `nir.LIF`, IF (tau = 1) -> `nir.IF`, with the time step `dt`
  (mapping below). RepeatTime/TileTime, Dropout and Identity -> no node.

keras-trt's LIF, per timestep: `u_t = u_{t-1} / tau + x_t`, spike when `u_t > v_th`,
hard reset to `v_reset`. NIR's LIF is `tau_n dv/dt = (v_leak - v) + r I`; forward Euler
with step dt gives `v_t = (1 - dt/tau_n) v_{t-1} + (dt/tau_n) v_leak + (dt r / tau_n) I_t`.
Matching the two: `1 - dt/tau_n = 1/tau`, `v_leak = 0`, `dt r / tau_n = 1`, so

    tau_n = dt * tau / (tau - 1),   r = tau / (tau - 1),   v_leak = 0,

with `v_threshold` and `v_reset` unchanged. NIR's IF is `dv/dt = r I`: forward Euler gives
`v_t = v_{t-1} + dt r I_t`, so `r = 1 / dt`.

Not expressible in NIR (a ValueError says so rather than exporting something else):
max pooling, a soft reset (`v_reset=None`), products of signals (SEW's AND/IAND),
average pooling with Keras' "same" padding (which leaves the padding out of the mean),
asymmetric padding, activations inside Conv2D/Dense, TimeAverage and any other layer.
Training-only settings (surrogate, detach_reset, time_loop, implementation) have no
meaning at inference and are not exported. keras-trt starts every membrane at
`v_reset`; NIR leaves the initial state to the simulator (snnTorch starts at 0), so the
two agree exactly when `v_reset = 0` (the default).

```python
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=10, input_shape=(4, 8, 8, 2), widths=(4, 8))
graph = kt.export.to_nir(model, dt=1e-4)
graph.nodes["block1_lif"]        # nir.LIF: tau = 2e-4 s, r = 2, v_leak = 0 (tau = 2)
```
"""

import math
import re

import keras
import numpy as np

from keras_trt import layers as kt_layers
from keras_trt import neurons
from keras_trt.export._nir import DEFAULT_DT, require_nir
from keras_trt.models._blocks import TileTime

__all__ = ["to_nir"]

_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Identity, kt_layers.RepeatTime, TileTime)
_TIME_WRAPPERS = (kt_layers.TimeDistributed, keras.layers.TimeDistributed)


class _Value:
    """What a Keras tensor is in the NIR graph under construction.

    sources: NIR node names whose outputs sum to this tensor (more than one after Add).
    frame: the per-timestep shape in Keras layout ((H, W, C) or (features,)).
    pad: a pending symmetric zero padding (pad_h, pad_w) not yet folded into a node.
    flat_from: the (H, W, C) a Flatten produced this vector from (its NIR order is C, H, W).
    """

    def __init__(self, sources, frame, pad=(0, 0), flat_from=None):
        self.sources = list(sources)
        self.frame = tuple(int(d) for d in frame)
        self.pad = pad
        self.flat_from = flat_from


def _nir_shape(frame):
    """Keras per-frame (H, W, C) -> NIR (C, H, W); 1-D unchanged."""
    if len(frame) == 3:
        return (frame[2], frame[0], frame[1])
    return tuple(frame)


def _node_name(name):
    return re.sub(r"\W", "_", name)


def _history(tensor):
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise TypeError("to_nir: `model` must be a functional Keras model (built with "
                        "keras.Input and keras.Model(inputs, outputs)).")
    return history


def _topological_calls(model):
    """[(layer, input tensors, output tensors)] of the functional graph, inputs first."""
    order, seen = [], set()

    def visit(tensor):
        operation, node_index, _ = _history(tensor)
        node = operation._inbound_nodes[node_index]
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.input_tensors:
            visit(parent)
        order.append((operation, list(node.input_tensors), list(node.output_tensors)))

    for output in model.outputs:
        visit(output)
    return order


def _tuple2(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _same_padding(size, kernel, stride, dilation, layer_name):
    """The symmetric padding equal to Keras' "same" on one axis, or a ValueError."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    if total % 2:
        raise ValueError(
            f"to_nir: layer '{layer_name}' uses padding=\"same\" that pads {total // 2} and "
            f"{total - total // 2} pixels on the two sides of an axis of size {size}; NIR "
            "padding is symmetric. Use an odd kernel with stride 1, or ZeroPadding2D + "
            "padding=\"valid\".")
    return total // 2


class _Exporter:
    def __init__(self, model, dt, nir):
        self.model = model
        self.dt = float(dt)
        self.nir = nir
        self.nodes = {}
        self.edges = []
        self.values = {}
        self.consumers = {}

    # ------------------------------------------------------------------ helpers
    def add_node(self, name, node, value):
        name = _node_name(name)
        if name in self.nodes:
            raise ValueError(f"to_nir: two NIR nodes would be named '{name}'; give the "
                             "layers distinct names.")
        self.nodes[name] = node
        for source in value.sources:
            self.edges.append((source, name))
        return name

    def value(self, tensor):
        return self.values[id(tensor)]

    def no_pending_pad(self, value, layer):
        if value.pad != (0, 0):
            raise ValueError(
                f"to_nir: layer '{layer.name}' ({type(layer).__name__}) follows a "
                "ZeroPadding2D; NIR can fold zero padding only into a following Conv2D or "
                "AveragePooling2D.")

    # ------------------------------------------------------------------- layers
    def export(self):
        model = self.model
        if not isinstance(model, keras.Model):
            raise TypeError(f"to_nir: `model` must be a keras.Model, got "
                            f"{type(model).__name__}.")
        if not self.dt > 0:
            raise ValueError(f"to_nir: `dt` must be > 0 (seconds per timestep), got {self.dt}.")
        try:
            inputs, outputs = model.inputs, model.outputs
        except (AttributeError, ValueError):
            inputs = outputs = None
        if not inputs or not outputs:
            raise TypeError(f"to_nir: model '{model.name}' is not functional; build it "
                            "with keras.Input and keras.Model(inputs, outputs).")
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"to_nir: model '{model.name}' must have one input and one "
                             f"output, got {len(inputs)} and {len(outputs)}.")
        calls = _topological_calls(model)
        for _, call_inputs, _ in calls:
            for tensor in call_inputs:
                self.consumers[id(tensor)] = self.consumers.get(id(tensor), 0) + 1
        for layer, call_inputs, call_outputs in calls:
            if isinstance(layer, keras.layers.InputLayer):
                self.input_layer(call_outputs[0], calls)
                continue
            value = self.layer(layer, [self.value(t) for t in call_inputs], call_inputs)
            self.values[id(call_outputs[0])] = value
        out = self.value(outputs[0])
        self.no_pending_pad(out, _Named("output"))
        self.add_node("output", self.nir.Output(output_type=np.array(_nir_shape(out.frame))),
                      out)
        metadata = {"dt": self.dt, "timesteps": self.timesteps,
                    "static_input": int(self.static)}
        return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata)

    def input_layer(self, tensor, calls):
        shape = tuple(tensor.shape[1:])
        users = [layer for layer, ins, _ in calls if any(t is tensor for t in ins)]
        self.static = bool(users) and all(isinstance(u, kt_layers.RepeatTime) for u in users)
        if self.static:
            # the output's time axis: a stem run once (RepeatTime(1) + TileTime) repeats later
            output_shape = self.model.outputs[0].shape
            frame = shape
            self.timesteps = output_shape[1] if len(output_shape) > 2 else users[0].timesteps
        else:
            if len(shape) < 2:
                raise ValueError(
                    f"to_nir: the model input must be (batch, T, ...) or a static input "
                    f"repeated by keras_trt.RepeatTime, got shape {tuple(tensor.shape)}.")
            frame, self.timesteps = shape[1:], shape[0]
        if any(d is None for d in frame) or len(frame) not in (1, 3):
            raise ValueError(
                f"to_nir: each input frame must have a known shape (H, W, C) or "
                f"(features,), got {frame} (model input shape {tuple(tensor.shape)}).")
        value = _Value([], frame)
        name = self.add_node("input", self.nir.Input(input_type=np.array(_nir_shape(frame))),
                             value)
        self.values[id(tensor)] = _Value([name], frame)

    def layer(self, layer, ins, tensors):
        if isinstance(layer, neurons.LIF):
            return self.neuron(layer, ins[0])
        if isinstance(layer, kt_layers.TemporalBatchNorm) or (
                isinstance(layer, keras.layers.BatchNormalization)):
            return self.batch_norm(layer, ins[0], tensors[0])
        if isinstance(layer, keras.layers.Add):
            return self.add(layer, ins)
        if isinstance(layer, _PASS_THROUGH):
            return ins[0]
        if isinstance(layer, _TIME_WRAPPERS):
            return self.frame_layer(layer.layer, ins[0], tensors[0])
        if isinstance(layer, keras.layers.MaxPooling2D):
            self.max_pool_error(layer)
        raise ValueError(self.unsupported(layer))

    def unsupported(self, layer):
        hints = {
            "TimeAverage": "NIR graphs run one timestep at a time; export the model "
                           "before the TimeAverage and average the outputs yourself",
            "Multiply": "NIR cannot multiply two signals (SEW's AND/IAND connections); "
                        "use connect=\"add\"",
            "Subtract": "NIR cannot multiply two signals (SEW's AND/IAND connections); "
                        "use connect=\"add\"",
        }
        hint = hints.get(type(layer).__name__, "it has no NIR equivalent")
        return (f"to_nir: cannot export layer '{layer.name}' ({type(layer).__name__}): "
                f"{hint}. Supported: Conv2D, Dense, AveragePooling2D, "
                "GlobalAveragePooling2D, Flatten, ZeroPadding2D, Add, TemporalBatchNorm, "
                "LIF, IF, RepeatTime, Dropout.")

    def max_pool_error(self, layer):
        raise ValueError(
            f"to_nir: cannot export layer '{layer.name}' (MaxPooling2D): NIR has no max "
            "pooling node (only AvgPool2d and SumPool2d). Replace it with "
            "AveragePooling2D and retrain, or export the part of the model after it.")

    def frame_layer(self, layer, value, tensor):
        if isinstance(layer, keras.layers.Conv2D):
            return self.conv(layer, value, tensor)
        if isinstance(layer, keras.layers.Dense):
            return self.dense(layer, value)
        if isinstance(layer, keras.layers.ZeroPadding2D):
            (top, bottom), (left, right) = layer.padding
            if top != bottom or left != right or layer.data_format != "channels_last":
                raise ValueError(
                    f"to_nir: ZeroPadding2D '{layer.name}' pads {layer.padding} "
                    f"({layer.data_format}); NIR padding is symmetric and keras-trt frames "
                    "are channels_last.")
            h, w, c = value.frame
            return _Value(value.sources, (h + 2 * top, w + 2 * left, c),
                          pad=(value.pad[0] + top, value.pad[1] + left),
                          flat_from=value.flat_from)
        if isinstance(layer, keras.layers.MaxPooling2D):
            self.max_pool_error(layer)
        if isinstance(layer, keras.layers.AveragePooling2D):
            return self.avg_pool(layer, value)
        if isinstance(layer, keras.layers.GlobalAveragePooling2D):
            return self.global_avg_pool(layer, value)
        if isinstance(layer, keras.layers.Flatten):
            self.no_pending_pad(value, layer)
            if len(value.frame) == 1:
                return value
            if len(value.frame) != 3:
                raise ValueError(f"to_nir: Flatten '{layer.name}' needs (H, W, C) or 1-D "
                                 f"frames, got {value.frame}.")
            node = self.nir.Flatten(input_type={"input": np.array(_nir_shape(value.frame))},
                                    start_dim=0, end_dim=-1)
            name = self.add_node(layer.name, node, value)
            return _Value([name], (math.prod(value.frame),), flat_from=value.frame)
        if isinstance(layer, _PASS_THROUGH):
            return value
        raise ValueError(self.unsupported(layer))

    def conv(self, layer, value, tensor):
        if layer.data_format != "channels_last":
            raise ValueError(f"to_nir: Conv2D '{layer.name}' must be channels_last, got "
                             f"{layer.data_format}.")
        self.linear_activation(layer)
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float32")
        kh, kw = kernel.shape[:2]
        strides, dilation = _tuple2(layer.strides), _tuple2(layer.dilation_rate)
        h, w, _ = value.frame  # includes a pending zero padding
        pad = list(value.pad)
        if layer.padding == "same":
            pad[0] += _same_padding(h, kh, strides[0], dilation[0], layer.name)
            pad[1] += _same_padding(w, kw, strides[1], dilation[1], layer.name)
        bias = (keras.ops.convert_to_numpy(layer.bias).astype("float32") if layer.use_bias
                else np.zeros(kernel.shape[-1], "float32"))
        input_hw = (h - 2 * value.pad[0], w - 2 * value.pad[1])
        node = self.nir.Conv2d(
            input_shape=input_hw, weight=np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)),
            stride=strides, padding=tuple(pad), dilation=dilation, groups=int(layer.groups),
            bias=bias)
        name = self.add_node(layer.name, node, _Value(value.sources, ()))
        c_out = kernel.shape[-1]
        out_h, out_w = (int(d) for d in node.output_type["output"][1:])
        return _Value([name], (out_h, out_w, c_out))

    def dense(self, layer, value):
        self.no_pending_pad(value, layer)
        self.linear_activation(layer)
        if len(value.frame) != 1:
            raise ValueError(
                f"to_nir: Dense '{layer.name}' gets frames of shape {value.frame}; NIR's "
                "Affine maps vectors: Flatten first.")
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float32")
        if value.flat_from is not None:
            h, w, c = value.flat_from
            # Keras flattened (h, w, c); NIR's Flatten of (C, H, W) orders (c, h, w)
            kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
        weight = np.ascontiguousarray(kernel.T)
        if layer.use_bias:
            bias = keras.ops.convert_to_numpy(layer.bias).astype("float32")
            node = self.nir.Affine(weight=weight, bias=bias)
        else:
            node = self.nir.Linear(weight=weight)
        name = self.add_node(layer.name, node, value)
        return _Value([name], (weight.shape[0],))

    def linear_activation(self, layer):
        activation = getattr(layer, "activation", None)
        if activation is not None and activation is not keras.activations.linear:
            raise ValueError(
                f"to_nir: layer '{layer.name}' has activation "
                f"{getattr(activation, '__name__', activation)!r}; NIR's Conv2d/Affine are "
                "linear. Use activation=None (the spiking neurons are the non-linearity).")

    def avg_pool(self, layer, value):
        if layer.data_format != "channels_last":
            raise ValueError(f"to_nir: AveragePooling2D '{layer.name}' must be channels_last.")
        kernel, strides = _tuple2(layer.pool_size), _tuple2(layer.strides)
        h, w, c = value.frame
        if layer.padding == "same":
            needs = [max((math.ceil(n / s) - 1) * s + k - n, 0)
                     for n, k, s in zip((h, w), kernel, strides)]
            if any(needs):
                raise ValueError(
                    f"to_nir: AveragePooling2D '{layer.name}' uses padding=\"same\", whose "
                    "mean leaves the padded pixels out; NIR's AvgPool2d counts them. Use "
                    "ZeroPadding2D + padding=\"valid\", or sizes that need no padding.")
        node = self.nir.AvgPool2d(kernel_size=np.array(kernel), stride=np.array(strides),
                                  padding=np.array(value.pad))
        name = self.add_node(layer.name, node, value)
        out = [(n - k) // s + 1 for n, k, s in zip((h, w), kernel, strides)]
        return _Value([name], (out[0], out[1], c))

    def global_avg_pool(self, layer, value):
        self.no_pending_pad(value, layer)
        h, w, c = value.frame
        pool = self.nir.AvgPool2d(kernel_size=np.array((h, w)), stride=np.array((h, w)),
                                  padding=np.array((0, 0)))
        name = self.add_node(layer.name, pool, value)
        if getattr(layer, "keepdims", False):
            return _Value([name], (1, 1, c))
        flatten = self.nir.Flatten(input_type={"input": np.array((c, 1, 1))}, start_dim=0,
                                   end_dim=-1)
        name = self.add_node(f"{layer.name}_flatten", flatten, _Value([name], ()))
        return _Value([name], (c,))

    def batch_norm(self, layer, value, tensor):
        axis = getattr(layer, "axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, len(tensor.shape) - 1):
            raise ValueError(f"to_nir: BatchNormalization '{layer.name}' must normalise the "
                             "last (channel) axis.")
        target = self.nodes.get(value.sources[0]) if len(value.sources) == 1 else None
        if (not isinstance(target, (self.nir.Conv2d, self.nir.Affine, self.nir.Linear))
                or self.consumers.get(id(tensor), 0) != 1 or value.pad != (0, 0)):
            raise ValueError(
                f"to_nir: {type(layer).__name__} '{layer.name}' can be exported only folded "
                "into the Conv2D or Dense layer right before it (whose output nothing else "
                "reads); NIR has no batch-normalisation node.")
        gamma = (keras.ops.convert_to_numpy(layer.gamma).astype("float64") if layer.scale
                 else 1.0)
        beta = (keras.ops.convert_to_numpy(layer.beta).astype("float64") if layer.center
                else 0.0)
        mean = keras.ops.convert_to_numpy(layer.moving_mean).astype("float64")
        var = keras.ops.convert_to_numpy(layer.moving_variance).astype("float64")
        scale = gamma / np.sqrt(var + layer.epsilon)
        shift = beta - mean * scale
        name = value.sources[0]
        weight = target.weight.astype("float64")
        bias = (np.zeros(weight.shape[0]) if isinstance(target, self.nir.Linear)
                else target.bias.astype("float64"))
        weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
        bias = (bias * scale + shift).astype("float32")
        weight = weight.astype("float32")
        if isinstance(target, self.nir.Conv2d):
            target.weight, target.bias = weight, bias
        else:
            self.nodes[name] = self.nir.Affine(weight=weight, bias=bias)
        return value

    def add(self, layer, ins):
        sources = []
        for value in ins:
            self.no_pending_pad(value, layer)
            sources.extend(value.sources)
        if len(set(sources)) != len(sources):
            raise ValueError(
                f"to_nir: Add '{layer.name}' sums the same signal twice; NIR edges cannot "
                "carry a weight of 2.")
        if len({v.frame for v in ins}) != 1 or len({v.flat_from for v in ins}) != 1:
            raise ValueError(f"to_nir: Add '{layer.name}' sums tensors of different "
                             "shapes or layouts.")
        return _Value(sources, ins[0].frame, flat_from=ins[0].flat_from)

    def neuron(self, layer, value):
        self.no_pending_pad(value, layer)
        if layer.v_reset is None:
            raise ValueError(
                f"to_nir: {type(layer).__name__} '{layer.name}' uses a soft reset "
                "(v_reset=None, subtract the threshold); NIR's LIF and IF reset to "
                "v_reset. Use a hard reset (v_reset=0.0) to export.")
        shape = _nir_shape(value.frame)
        full = lambda v: np.full(shape, v, dtype="float64")  # noqa: E731
        if layer.tau == 1.0:
            node = self.nir.IF(r=full(1.0 / self.dt), v_threshold=full(layer.v_threshold),
                               v_reset=full(layer.v_reset))
        else:
            tau = layer.tau
            node = self.nir.LIF(tau=full(self.dt * tau / (tau - 1.0)), r=full(tau / (tau - 1.0)),
                                v_leak=full(0.0), v_threshold=full(layer.v_threshold),
                                v_reset=full(layer.v_reset))
        name = self.add_node(layer.name, node, value)
        return _Value([name], value.frame, flat_from=value.flat_from)


class _Named:
    def __init__(self, name):
        self.name = name


def to_nir(model, dt=DEFAULT_DT):
    """Exports a functional keras-trt `model` to a `nir.NIRGraph` (inference mode).

    Args:
        model: a functional Keras model (e.g. from `keras_trt.models`) whose input is
            (batch, T, H, W, C), (batch, T, features), or a static (batch, H, W, C)
            repeated by `keras_trt.RepeatTime`.
        dt: the time step in seconds that one keras-trt timestep stands for; sets the
            NIR LIF/IF parameters (module docstring). 1e-4 is what snnTorch's NIR import
            assumes.

    Returns:
        A `nir.NIRGraph` of one timestep, with nodes named after the Keras layers, an
        "input" node taking one channels-first frame and an "output" node; its metadata
        records `dt`, `timesteps` and `static_input` for `from_nir`.

    Raises:
        ImportError: `nir` is not installed (the `deploy` extra).
        ValueError: a layer or setting NIR cannot express (module docstring).
        TypeError: `model` is not a functional Keras model.
    """
    nir = require_nir("keras_trt.export.to_nir")
    return _Exporter(model, dt, nir).export()
