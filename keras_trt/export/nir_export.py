"""`to_nir`: a functional keras-trt model as a `nir.NIRGraph` (inference mode).

This module walks the model's graph; the per-layer converters are in `_nir_layers.py`.
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

import re

import keras
import numpy as np

from keras_trt import layers as kt_layers
from keras_trt import neurons
from keras_trt.export._nir import require_nir
from keras_trt.export._nir_layers import _LayerConverters, _nir_shape, _Value
from keras_trt.export.nir_targets import for_target, target_dt
from keras_trt.graph import layer_graph

__all__ = ["to_nir"]

_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Identity, kt_layers.RepeatTime,
                 kt_layers.TileTime)
_TIME_WRAPPERS = (kt_layers.TimeDistributed, keras.layers.TimeDistributed)


def _node_name(name):
    return re.sub(r"\W", "_", name)


class _Exporter(_LayerConverters):
    """The walk over a functional model's graph that builds the NIR graph."""

    def __init__(self, model, dt, nir):
        self.model = model
        self.dt = float(dt)
        self.nir = nir
        self.nodes = {}
        self.edges = []
        self.values = {}
        self.consumers = {}

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
        return self.values[tensor]

    def export(self):
        model = self.model
        if not isinstance(model, keras.Model):
            raise TypeError(f"to_nir: `model` must be a keras.Model, got "
                            f"{type(model).__name__}.")
        if not self.dt > 0:
            raise ValueError(f"to_nir: `dt` must be > 0 (seconds per timestep), got {self.dt}.")
        try:
            graph = layer_graph(model)
        except TypeError:
            raise TypeError(f"to_nir: model '{model.name}' is not functional; build it "
                            "with keras.Input and keras.Model(inputs, outputs).") from None
        inputs, outputs = graph.inputs, graph.outputs
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"to_nir: model '{model.name}' must have one input and one "
                             f"output, got {len(inputs)} and {len(outputs)}.")
        calls = [(model.get_layer(call.layer), list(call.inputs), list(call.outputs))
                 for call in graph.calls]
        for _, call_inputs, _ in calls:
            for tensor in call_inputs:
                self.consumers[tensor] = self.consumers.get(tensor, 0) + 1
        for layer, call_inputs, call_outputs in calls:
            if isinstance(layer, keras.layers.InputLayer):
                self.input_layer(call_outputs[0], calls)
                continue
            value = self.layer(layer, [self.value(t) for t in call_inputs], call_inputs)
            self.values[call_outputs[0]] = value
        out = self.value(outputs[0])
        self.no_pending_pad(out, _Named("output"))
        self.add_node("output", self.nir.Output(output_type=np.array(_nir_shape(out.frame))),
                      out)
        metadata = {"dt": self.dt, "timesteps": self.timesteps,
                    "static_input": int(self.static), "target": "nir"}
        return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata)

    def input_layer(self, tensor, calls):
        shape = tuple(tensor.shape[1:])
        users = [layer for layer, ins, _ in calls if tensor in ins]
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
        self.values[tensor] = _Value([name], frame)

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

    def frame_layer(self, layer, value, tensor):
        if isinstance(layer, keras.layers.Conv2D):
            return self.conv(layer, value, tensor)
        if isinstance(layer, keras.layers.Dense):
            return self.dense(layer, value)
        if isinstance(layer, keras.layers.ZeroPadding2D):
            return self.zero_padding(layer, value)
        if isinstance(layer, keras.layers.MaxPooling2D):
            self.max_pool_error(layer)
        if isinstance(layer, keras.layers.AveragePooling2D):
            return self.avg_pool(layer, value)
        if isinstance(layer, keras.layers.GlobalAveragePooling2D):
            return self.global_avg_pool(layer, value)
        if isinstance(layer, keras.layers.Flatten):
            return self.flatten(layer, value)
        if isinstance(layer, _PASS_THROUGH):
            return value
        raise ValueError(self.unsupported(layer))


class _Named:
    def __init__(self, name):
        self.name = name


def to_nir(model, dt=None, target="nir"):
    """Exports a functional keras-trt `model` to a `nir.NIRGraph` (inference mode).

    Args:
        model: a functional Keras model (e.g. from `keras_trt.models`) whose input is
            (batch, T, H, W, C), (batch, T, features), or a static (batch, H, W, C)
            repeated by `keras_trt.RepeatTime`.
        dt: the time step in seconds that one keras-trt timestep stands for; sets the
            NIR LIF/IF parameters (module docstring). Default: the step `target`'s
            consumer assumes (1e-4 for "nir", "snntorch" and "spikingjelly", 1e-3 for
            "norse", 1 for "spyx").
        target: the form of the graph: "nir" (canonical, NIR's semantics as written
            above), or the form that "snntorch", "norse", "spyx" or "spikingjelly" runs
            unchanged (`keras_trt.export.nir_targets`, docs/deployment.md). `from_nir`
            reads every form back to the same model.

    Returns:
        A `nir.NIRGraph` of one timestep, with nodes named after the Keras layers, an
        "input" node taking one channels-first frame and an "output" node; its metadata
        records `dt`, `timesteps`, `static_input` and `target` for `from_nir`.

    Raises:
        ImportError: `nir` is not installed (the `deploy` extra).
        ValueError: a layer or setting NIR (or the target's consumer) cannot express
            (module docstring), or an unknown `target`.
        TypeError: `model` is not a functional Keras model.
    """
    nir = require_nir("keras_trt.export.to_nir")
    dt = target_dt(target) if dt is None else dt
    graph = _Exporter(model, dt, nir).export()
    return graph if target == "nir" else for_target(graph, target)
