"""Synaptic operations (SOPs) per sample implied by firing rates, and the weight-layer
arithmetic they and the energy estimate (`keras_trt.analysis.energy`) count.

`synaptic_operations(model, rates)` turns rates (`keras_trt.analysis.firing_rates`) into
SOPs per sample, the usual energy proxy of SNN papers. Definition used here: for every
LIF layer l and every weight layer W (a layer with a `kernel`: Conv, Dense, ...) that
receives l's spikes, possibly through weightless layers (pooling, padding, flatten,
reshape, dropout, Add, ...):

    SOPs(l -> W) = rate_l * MACs(W)

where MACs(W) is the dense multiply-accumulate count of W for one sample over all T
timesteps. When W reads the spikes directly, MACs(W) = N_l * fanout_W * T (N_l neurons,
fanout_W the average number of outputs each input feeds), so SOPs = rate_l * N_l *
fanout_W * T = the expected number of spike-triggered accumulations, summed over T. With
pooling in between it assumes the pooled input is non-zero as often as the spikes. The
first layer (fed by the encoded input, not by spikes) and the BatchNorm/LIF arithmetic are
not counted. A spike reaching W through an Add of two spike tensors counts once per
operand (SEW's ADD: 1 + 1 spikes = 2 accumulations).

```python
import keras
import keras_trt as kt
from keras_trt.analysis import synaptic_operations

inputs = keras.Input((4, 8))
h = kt.LIF(name="lif1")(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
outputs = kt.TimeDistributed(keras.layers.Dense(3, name="head"), name="head")(h)
model = kt.SpikingModel(inputs, outputs)
sops = synaptic_operations(model, {"lif1": 0.25})
print(sops["per_layer"]["lif1"])   # 48.0 = 0.25 x (16 x 3 MACs) x 4 steps
```
"""

import math

import keras
import numpy as np

from keras_trt import neurons
from keras_trt.graph import layer_graph

__all__ = ["synaptic_operations", "weight_layer", "dense_macs"]


def weight_layer(layer):
    """The layer holding a synaptic `kernel` (unwrapping TimeDistributed), or None."""
    inner = getattr(layer, "layer", None)
    for candidate in (layer, inner):
        if candidate is not None and getattr(candidate, "kernel", None) is not None \
                and not isinstance(candidate, keras.Model):
            return candidate
    return None


def dense_macs(layer, output_shape):
    """Dense multiply-accumulates of weight layer `layer` for one sample (all timesteps)
    given its output shape (with the batch axis)."""
    weight = weight_layer(layer)
    kernel = weight.kernel
    channels_first = getattr(weight, "data_format", "channels_last") == "channels_first"
    out = list(output_shape[1:])
    out_channels_axis = -1
    if channels_first:
        # Under a time wrapper the frame's channel axis is axis 2 of (B, T, C, ...).
        out_channels_axis = 1 if weight is not layer else 0
    out_channels = out[out_channels_axis]
    return math.prod(out) * math.prod(kernel.shape) / out_channels


def synaptic_operations(model, rates):
    """SOPs per sample implied by `rates` (from `firing_rates`); see the module docstring.

    Args:
        model: a functional keras model (the layer graph is followed from each LIF).
        rates: `{LIF layer name: rate}` as returned by `firing_rates` (floats, or (T,)
            arrays, which are averaged over T).

    Returns:
        `{"per_layer": {lif name: SOPs per sample}, "targets": {lif name: [weight layer
        names]}, "total": float}`.
    """
    try:
        graph = layer_graph(model)
    except TypeError:
        raise ValueError("synaptic_operations needs a functional model (a layer graph "
                         f"in its config); '{model.name}' is subclassed or Sequential.") \
            from None
    lifs = {layer.name for layer in model.layers if isinstance(layer, neurons.LIF)}
    per_layer, targets = {}, {}
    for name, rate in rates.items():
        if name not in lifs:
            raise ValueError(f"synaptic_operations: '{name}' is not a LIF layer of "
                             f"'{model.name}' (nested models are not followed).")
        rate = float(np.mean(rate))
        found, seen = {}, set()
        stack = graph.consumers(name)
        while stack:
            call = stack.pop()
            if call.layer in seen:
                continue
            seen.add(call.layer)
            layer = model.get_layer(call.layer)
            if weight_layer(layer) is not None:
                found[call.layer] = dense_macs(
                    layer, layer.compute_output_shape(call.inputs[0].shape))
            elif not isinstance(layer, neurons.LIF):
                stack.extend(graph.consumers(call.layer))
        per_layer[name] = rate * sum(found.values())
        targets[name] = sorted(found)
    return {"per_layer": per_layer, "targets": targets,
            "total": float(sum(per_layer.values()))}
