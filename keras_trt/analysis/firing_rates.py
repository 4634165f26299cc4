"""Average spike firing rates (ASFR) of every LIF layer and the synaptic operations they imply.

`firing_rates(model, data)` runs the model in inference mode and returns, for every LIF
layer (any `keras_trt.LIF`, `IF` included) in execution order, the mean of its spike tensor
over batch, time and neurons: the fraction of (sample, timestep, neuron) slots holding a
spike (docs/method.md, Firing rates; the reference collects the spike tensors with forward hooks
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

A functional (or Sequential) model is read through a probe model,
`keras.Model(model.inputs, [lif.output for lif in LIF layers])`; a subclassed model is
first traced into that form by calling its `call` on a `keras.Input` shaped like the first
batch (the functional API over the same layers), so its LIF layers must be called as
layers in `call`, on a path Keras can trace symbolically. Only public Keras API is used.
"""

import inspect
import math
import weakref

import keras
import numpy as np
from keras import ops

from keras_trt import neurons
from keras_trt.analysis._batches import iterate_batches, num_batches

__all__ = ["firing_rates", "synaptic_operations", "lif_layers"]


def _sublayers(layer):
    """The layers directly inside `layer`, from public attributes only: a model's
    `layers`; for any other layer, the layers (or lists of layers) among its attributes
    (where Keras keeps the sublayers it tracks), so that LIF layers hidden in custom
    layers are found and reported rather than silently skipped."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    found = []
    for value in vars(layer).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        found.extend(item for item in items if isinstance(item, keras.layers.Layer))
    return found


def lif_layers(model):
    """The LIF layers of `model` (recursively), in the model's layer order."""
    found, seen = [], set()

    def visit(layer):
        for sub in _sublayers(layer):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            if isinstance(sub, neurons.LIF):
                found.append(sub)
            else:
                visit(sub)

    visit(model)
    return found


def _model_inputs(model):
    """`model.inputs` of a functional or Sequential model, None for a subclassed one."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return inputs or None


def _trace(model, x):
    """A subclassed model's functional view: `model.call` applied to a `keras.Input`
    shaped like the batch `x`, so that its layers record their symbolic inputs and
    outputs. Returns (inputs, the traced functional model)."""
    inputs = keras.Input(shape=x.shape[1:], dtype=str(x.dtype))
    parameters = inspect.signature(model.call).parameters
    accepts_training = "training" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    try:
        outputs = model.call(inputs, training=False) if accepts_training \
            else model.call(inputs)
        traced = keras.Model(inputs, outputs)
    except Exception as error:
        raise TypeError(
            f"firing_rates: could not trace the subclassed model '{model.name}' "
            f"symbolically (its `call` on a keras.Input of shape {inputs.shape}): "
            f"{type(error).__name__}: {error}. Pass a functional model instead "
            "(built with keras.Input and keras.Model(inputs, outputs)).") from error
    return inputs, traced


# model -> its probe model (the LIF spike counts as outputs), so that repeated calls reuse
# the compiled predict function (and a subclassed model is traced once). Weak keys: the
# probe dies with the model.
_PROBES = weakref.WeakKeyDictionary()


def _probe(model, lifs, x):
    """(probe model, LIF layers in execution order) for `model`."""
    cached = _PROBES.get(model)
    if cached is not None and cached[0] == [id(layer) for layer in lifs]:
        return cached[1], cached[2]
    inputs = _model_inputs(model)
    if inputs is not None:
        graph = model
        inputs = inputs[0] if len(inputs) == 1 else inputs
    else:
        inputs, graph = _trace(model, x)
    graph_layers = list(graph.layers)  # a functional model's layers: execution order
    on_graph = {id(layer) for layer in graph_layers}
    hidden = [layer.name for layer in lifs if id(layer) not in on_graph]
    if hidden:
        raise TypeError(
            f"firing_rates: the LIF layers {hidden} of '{model.name}' are not layers of "
            "its functional graph (they sit inside a nested model or a custom layer, or "
            "are never called), so their spikes cannot be read. Call every LIF layer "
            "directly in the outer model.")
    ordered = [layer for layer in graph_layers if isinstance(layer, neurons.LIF)]
    calls = _calls_in_graph(graph)
    shared = [layer.name for layer in ordered if calls.get(layer.name, 1) > 1]
    if shared:
        raise TypeError(
            f"firing_rates: the LIF layers {shared} are called more than once in "
            f"'{model.name}': give each call its own LIF layer, so that each has one rate.")
    try:
        # `layer.output` is the layer's first call: the one in this graph unless the
        # layer was called before in another graph (then Keras reports it disconnected).
        probe = keras.Model(inputs, [_reduce_spikes(layer.output) for layer in ordered])
    except ValueError as error:
        raise TypeError(
            f"firing_rates: the LIF layers of '{model.name}' must be called once, in this "
            f"model (the first call of each is read): {error}") from error
    _PROBES[model] = ([id(layer) for layer in lifs], probe, ordered)
    return probe, ordered


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


def firing_rates(model, data, steps=None, per_timestep=False, batch_size=32, verbose=0):
    """Average firing rate of every LIF layer of `model` on `data`, in execution order.

    Args:
        model: a keras model with `keras_trt.LIF` layers: functional, Sequential, or
            subclassed (traced once through its `call` on a `keras.Input` shaped like the
            first batch; every LIF layer must be called directly in `call`).
        data: anything `model.evaluate` accepts: an `(x, y)` tuple of arrays, a
            `tf.data.Dataset`, a `keras.utils.PyDataset`, or an iterable of batches.
        steps: number of batches to use (None: all).
        per_timestep: return one rate per timestep (a (T,) array) instead of a float.
        batch_size: batch size for array data.
        verbose: 1 shows a progress bar.

    Returns:
        `{layer name: rate}`, rate = mean of the spikes over batch, time and neurons (a
        float in [0, 1]), or a (T,) numpy array per layer with `per_timestep=True`.

    Raises:
        ValueError: the model has no LIF layer, or `data` yields no batch.
        TypeError: a LIF layer cannot be read from the model's functional graph (inside
            a nested model or custom layer, called more than once or in another model),
            or a subclassed model cannot be traced symbolically.
    """
    lifs = lif_layers(model)
    if not lifs:
        raise ValueError(f"firing_rates: model '{model.name}' has no keras_trt.LIF layers.")
    total = num_batches(data, batch_size) if steps is None else steps
    bar = keras.utils.Progbar(total, unit_name="batch") if verbose else None
    sums, samples, first_batch_size = None, 0, None
    probe = ordered = None
    for i, (x, _) in enumerate(iterate_batches(data, steps=steps, batch_size=batch_size)):
        if probe is None:
            probe, ordered = _probe(model, lifs, x)
            first_batch_size = len(x)
        outs = probe.predict_on_batch(_pad_to(x, first_batch_size))
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        counts = [np.asarray(o, dtype=np.float64)[:len(x)].sum(axis=0) for o in outs]
        sums = counts if sums is None else [s + c for s, c in zip(sums, counts)]
        samples += len(x)
        if bar is not None:
            bar.update(i + 1)
    if samples == 0:
        raise ValueError("firing_rates: `data` yielded no batches.")
    rates = {}
    for layer, spike_sums in zip(ordered, sums):
        per_t = spike_sums / (samples * math.prod(layer.output.shape[2:]))
        rates[layer.name] = per_t if per_timestep else float(per_t.mean())
    return rates


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


def _tensor_configs(value):
    """The serialized KerasTensors (their configs) in a serialized call's arguments."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            yield value["config"]
            return
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensor_configs(item)


def _graph_calls(model):
    """`[(layer name, [serialized input tensors])]`, one entry per call of a layer in
    the functional `model`, or None when the model has no functional config.

    The layer graph is read from `model.get_config()`, the public serialization of a
    functional model (what `.keras` files store): every layer lists its calls
    ("inbound_nodes") with their input tensors, and each of those names the layer that
    produced it ("keras_history") and its shape. Keras must keep reading this format to
    load saved models, where the graph attributes of layers are internal and change
    between releases.
    """
    try:
        config = model.get_config()
    except NotImplementedError:  # a subclassed model without a config
        return None
    layers = config.get("layers") if isinstance(config, dict) else None
    if not layers or any("inbound_nodes" not in layer for layer in layers):
        return None  # subclassed, or Sequential (whose config lists no graph)
    return [(layer["name"], list(_tensor_configs(node)))
            for layer in layers for node in layer["inbound_nodes"]]


def _calls_in_graph(model):
    """`{layer name: number of calls}` in a functional model ({} if it has no config)."""
    try:
        calls = _graph_calls(model) or []
    except (NotImplementedError, TypeError, ValueError):  # an unserializable layer: no check
        calls = []
    counts = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    return counts


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
    calls = _graph_calls(model)
    if calls is None:
        raise ValueError("synaptic_operations needs a functional model (a layer graph "
                         f"in its config); '{model.name}' is subclassed or Sequential.")
    # producer name -> [(consumer name, the consumer's input shape in that call)]
    consumers = {}
    for name, tensors in calls:
        for tensor in tensors:
            consumers.setdefault(tensor["keras_history"][0], []).append(
                (name, tuple(tensors[0]["shape"])))
    lifs = {layer.name for layer in model.layers if isinstance(layer, neurons.LIF)}
    per_layer, targets = {}, {}
    for name, rate in rates.items():
        if name not in lifs:
            raise ValueError(f"synaptic_operations: '{name}' is not a LIF layer of "
                             f"'{model.name}' (nested models are not followed).")
        rate = float(np.mean(rate))
        found, seen = {}, set()
        stack = list(consumers.get(name, []))
        while stack:
            consumer, input_shape = stack.pop()
            if consumer in seen:
                continue
            seen.add(consumer)
            layer = model.get_layer(consumer)
            if _weight_layer(layer) is not None:
                found[consumer] = _macs(layer, layer.compute_output_shape(input_shape))
            elif not isinstance(layer, neurons.LIF):
                stack.extend(consumers.get(consumer, []))
        per_layer[name] = rate * sum(found.values())
        targets[name] = sorted(found)
    return {"per_layer": per_layer, "targets": targets,
            "total": float(sum(per_layer.values()))}
