"""Average spike firing rates (ASFR) of every LIF layer and the synaptic operations they imply.

`firing_rates(model, data)` runs the model in inference mode and returns, for every LIF
layer (any `keras_trt.LIF`, `IF` included) in execution order, the mean of its spike tensor
over batch, time and neurons: the fraction of (sample, timestep, neuron) slots holding a
spike (SPEC 6, "Firing rate"; the reference collects the spike tensors with forward hooks
and leaves the averaging to the user).

`synaptic_operations(model, rates)` turns rates into synaptic operations (SOPs) per sample,
the usual energy proxy of SNN papers. Definition used here: for every LIF layer l and every
weight layer W (a layer with a `kernel`: Conv, Dense, ...) that receives l's spikes,
possibly through weightless layers (pooling, padding, flatten, reshape, dropout, Add, ...):

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
import numpy as np, keras
import keras_trt as kt
from keras_trt.analysis import firing_rates, synaptic_operations

inputs = keras.Input((4, 8))
h = kt.LIF(name="lif1")(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
outputs = kt.TimeDistributed(keras.layers.Dense(3))(h)
model = kt.SpikingModel(inputs, outputs)
x = np.random.default_rng(0).normal(1, 1, (32, 4, 8)).astype("float32")
rates = firing_rates(model, (x, np.zeros(32, "int32")))   # {'lif1': 0.3...}
sops = synaptic_operations(model, rates)                  # {'per_layer': {...}, 'total': ...}
```
"""

import math
import weakref

import keras
import numpy as np
from keras import ops

from keras_trt import neurons
from keras_trt.analysis._data import iterate_batches, num_batches

__all__ = ["firing_rates", "synaptic_operations", "lif_layers"]


def lif_layers(model):
    """The LIF layers of `model` (recursively), in the model's layer order."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, neurons.LIF)]


# model -> its probe model (the LIF spike counts as outputs), so that repeated calls reuse
# the compiled predict function. Weak keys: the probe dies with the model.
_PROBES = weakref.WeakKeyDictionary()


def _probe(model, lifs):
    probe = _PROBES.get(model)
    if probe is None or probe[0] != [id(layer) for layer in lifs]:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        outputs = [_reduce_spikes(layer.output) for layer in lifs]
        probe = ([id(layer) for layer in lifs], keras.Model(inputs, outputs))
        _PROBES[model] = probe
    return probe[1]


def _pad_to(x, size):
    """Pads a partial last batch with zeros to `size` rows (one compiled shape)."""
    if len(x) >= size:
        return x
    return np.concatenate([x, np.zeros((size - len(x),) + x.shape[1:], x.dtype)])


def _reduce_spikes(spikes):
    """(B, T, ...) spikes -> (B, T) spike counts per sample and timestep."""
    spikes = ops.cast(spikes, "float32")
    axes = tuple(range(2, len(spikes.shape)))
    return ops.sum(spikes, axis=axes) if axes else spikes


def _is_flat_functional(model, lifs):
    direct = {id(layer) for layer in getattr(model, "layers", [])}
    return (getattr(model, "_is_graph_network", False) or hasattr(model, "_nodes_by_depth")) \
        and all(id(layer) in direct and len(layer._inbound_nodes) == 1 for layer in lifs)


class _Recorder:
    """Records LIF outputs of eager calls by wrapping the layers' `call` (subclassed models)."""

    def __init__(self, lifs):
        self.lifs = lifs
        self.records = []

    def __enter__(self):
        for layer in self.lifs:
            original = layer.call

            def call(*args, _layer=layer, _original=original, **kwargs):
                out = _original(*args, **kwargs)
                self.records.append((_layer.name, keras.ops.convert_to_numpy(
                    _reduce_spikes(out))))
                return out

            object.__setattr__(layer, "call", call)
        return self

    def __exit__(self, *exc):
        for layer in self.lifs:
            if "call" in layer.__dict__:
                object.__delattr__(layer, "call")


def firing_rates(model, data, steps=None, per_timestep=False, batch_size=32, verbose=0):
    """Average firing rate of every LIF layer of `model` on `data`, in execution order.

    Args:
        model: a keras model with `keras_trt.LIF` layers (functional, or subclassed: then
            the layers' calls are recorded during an eager forward pass).
        data: anything `model.evaluate` accepts: an `(x, y)` tuple of arrays, a
            `tf.data.Dataset`, a `keras.utils.PyDataset`, or an iterable of batches.
        steps: number of batches to use (None: all).
        per_timestep: return one rate per timestep (a (T,) array) instead of a float.
        batch_size: batch size for array data.
        verbose: 1 shows a progress bar.

    Returns:
        `{layer name: rate}`, rate = mean of the spikes over batch, time and neurons (a
        float in [0, 1]), or a (T,) numpy array per layer with `per_timestep=True`.
    """
    lifs = lif_layers(model)
    if not lifs:
        raise ValueError(f"firing_rates: model '{model.name}' has no keras_trt.LIF layers.")
    total = num_batches(data, batch_size) if steps is None else steps
    bar = keras.utils.Progbar(total, unit_name="batch") if verbose else None
    sums, neurons_per_layer, samples = {}, {}, 0
    order = []

    if _is_flat_functional(model, lifs):
        probe = _probe(model, lifs)
        first = []
        for layer in lifs:
            neurons_per_layer[layer.name] = math.prod(layer.output.shape[2:])
        order = [layer.name for layer in lifs]

        def run(x):
            n = len(x)
            if not first:
                first.append(n)
            outs = probe.predict_on_batch(_pad_to(x, first[0]))
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            return [(name, np.asarray(o)[:n]) for name, o in zip(order, outs)]
    else:
        recorder = _Recorder(lifs)

        def run(x):
            recorder.records = []
            with recorder:
                model(x, training=False)
            return recorder.records

    for i, (x, _) in enumerate(iterate_batches(data, steps=steps, batch_size=batch_size)):
        records = run(x)
        for name, counts in records:
            counts = np.asarray(counts, dtype=np.float64)
            if name not in sums:
                sums[name] = np.zeros(counts.shape[1])
                if name not in order:
                    order.append(name)
            sums[name] += counts.sum(axis=0)
        samples += len(x)
        if bar is not None:
            bar.update(i + 1)
    if samples == 0:
        raise ValueError("firing_rates: `data` yielded no batches.")
    if not neurons_per_layer:
        # Subclassed path: neuron counts from the layers' last output shapes.
        for layer in lifs:
            shape = _last_output_shape(layer, model, x)
            neurons_per_layer[layer.name] = math.prod(shape[2:])
    rates = {}
    for name in order:
        per_t = sums[name] / (samples * neurons_per_layer[name])
        rates[name] = per_t if per_timestep else float(per_t.mean())
    return rates


def _last_output_shape(layer, model, x):
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        shapes = {}
        with _ShapeRecorder([layer], shapes):
            model(x[:1], training=False)
        return shapes[layer.name]


class _ShapeRecorder(_Recorder):
    def __init__(self, lifs, shapes):
        super().__init__(lifs)
        self.shapes = shapes

    def __enter__(self):
        for layer in self.lifs:
            original = layer.call

            def call(*args, _layer=layer, _original=original, **kwargs):
                out = _original(*args, **kwargs)
                self.shapes[_layer.name] = tuple(out.shape)
                return out

            object.__setattr__(layer, "call", call)
        return self


# ------------------------------------------------------------------------------- SOPs
def _weight_layer(layer):
    """The layer holding a synaptic `kernel` (unwrapping TimeDistributed), or None."""
    inner = getattr(layer, "layer", None)
    for candidate in (layer, inner):
        if candidate is not None and getattr(candidate, "kernel", None) is not None \
                and not isinstance(candidate, keras.Model):
            return candidate
    return None


def _macs(layer, output_shape):
    """Dense multiply-accumulates of `layer` for one sample (all timesteps)."""
    weight = _weight_layer(layer)
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
    nodes_by_depth = getattr(model, "_nodes_by_depth", None)
    if nodes_by_depth is None:
        raise ValueError("synaptic_operations needs a functional model (a layer graph); "
                         f"'{model.name}' is subclassed.")
    model_nodes = {id(node) for nodes in nodes_by_depth.values() for node in nodes}
    lifs = {layer.name: layer for layer in model.layers if isinstance(layer, neurons.LIF)}
    per_layer, targets = {}, {}
    for name, rate in rates.items():
        if name not in lifs:
            raise ValueError(f"synaptic_operations: '{name}' is not a LIF layer of "
                             f"'{model.name}' (nested models are not followed).")
        rate = float(np.mean(rate))
        found = {}
        stack = [node for node in lifs[name]._outbound_nodes if id(node) in model_nodes]
        seen = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            op = node.operation
            if _weight_layer(op) is not None:
                found[op.name] = _macs(op, node.outputs[0].shape)
            elif isinstance(op, neurons.LIF):
                continue
            else:
                stack.extend(n for n in op._outbound_nodes if id(n) in model_nodes)
        per_layer[name] = rate * sum(found.values())
        targets[name] = sorted(found)
    return {"per_layer": per_layer, "targets": targets,
            "total": float(sum(per_layer.values()))}
