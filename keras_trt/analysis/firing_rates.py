"""Average spike firing rates (ASFR) of every LIF layer.

`firing_rates(model, data)` runs the model in inference mode and returns, for every LIF
layer (any `keras_trt.LIF`, `IF` included) in execution order, the mean of its spike tensor
over batch, time and neurons: the fraction of (sample, timestep, neuron) slots holding a
spike (docs/method.md, Firing rates; the reference collects the spike tensors with forward hooks
and leaves the averaging to the user).

`synaptic_operations(model, rates)` (defined in `keras_trt.analysis.synapses`) turns
the rates into synaptic operations (SOPs) per sample.

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
# defined in synapses.py; kept importable from here, where it was first
from keras_trt.analysis.synapses import synaptic_operations
from keras_trt.graph import layer_graph

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


def _calls_in_graph(model):
    """`{layer name: number of calls}` in a functional model ({} without a layer graph)."""
    try:
        return layer_graph(model).call_counts()
    except (NotImplementedError, TypeError, ValueError):  # no graph, or unserializable
        return {}
