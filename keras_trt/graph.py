"""The layer graph of a functional Keras model, read from its public serialization.

Firing rates, synaptic operations, the energy estimate, streaming, NIR export and
time-chunked rematerialisation all follow a model's graph: which layer feeds which, in
which order. They read it here, from `model.get_config()` - what a `.keras` file stores
and what Keras must keep reading to load saved models. Each layer of a functional config
lists its calls ("inbound_nodes"), and each input tensor of a call names the call that
made it ("keras_history": layer name, call index, output index) and its shape. Keras'
own graph attributes of layers and tensors are internal and change between releases.

`layer_graph(model)` returns a `LayerGraph`: the calls in topological order (a layer
called twice gives two calls, an input layer one call without inputs), the model's input
and output tensors, and the producer/consumer relations between layers. A nested model
is one call, like any layer (its own graph is `layer_graph(model.get_layer(name))`).
Subclassed and Sequential models have no graph in their config (a TypeError).

```python
import keras
from keras_trt.graph import layer_graph

inputs = keras.Input((4,), name="x")
h = keras.layers.Dense(4, name="fc")(inputs)
outputs = keras.layers.Add(name="add")([inputs, h])
graph = layer_graph(keras.Model(inputs, outputs))
print([call.layer for call in graph.calls])    # ['x', 'fc', 'add']
print(graph.parents("add"))                     # ['x', 'fc']
print(graph.outputs[0].shape)                   # (None, 4)
```
"""

import dataclasses

import keras

from keras_trt._keras_compat import Functional

__all__ = ["LayerGraph", "Call", "TensorRef", "layer_graph"]


@dataclasses.dataclass(frozen=True)
class TensorRef:
    """A tensor of the graph: output `index` of call `node` of the layer named `layer`.
    Equal refs name the same tensor; `shape` (with the batch axis) is not compared."""
    layer: str
    node: int
    index: int
    shape: tuple = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of a layer: the `node`-th call of layer `layer` (a name) on `inputs`
    (TensorRefs, in the order the call's arguments list them); `outputs` are the
    outputs of the call that the graph reads (consumed or model outputs)."""
    layer: str
    node: int
    inputs: tuple
    outputs: tuple


class LayerGraph:
    """The calls of a functional model in topological order (see the module docstring)."""

    def __init__(self, calls, inputs, outputs):
        self.calls = list(calls)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self._consumers = {}
        for call in self.calls:
            for ref in call.inputs:
                self._consumers.setdefault(ref.layer, []).append(call)

    def calls_of(self, name):
        """The calls of layer `name`, in order."""
        return [call for call in self.calls if call.layer == name]

    def parents(self, name):
        """Names of the layers whose outputs the calls of layer `name` read (in argument
        order, repeated when read several times)."""
        return [ref.layer for call in self.calls_of(name) for ref in call.inputs]

    def consumers(self, name):
        """The calls that read an output of layer `name` (a call reading two of them is
        listed twice)."""
        return list(self._consumers.get(name, []))

    def call_counts(self):
        """`{layer name: number of calls}`."""
        counts = {}
        for call in self.calls:
            counts[call.layer] = counts.get(call.layer, 0) + 1
        return counts


def layer_graph(model):
    """The `LayerGraph` of a functional `model`: a `keras.Model`, or the config of one
    (`model.get_config()`, or the "config" of `keras.saving.serialize_keras_object`).

    Raises:
        TypeError: `model` has no layer graph in its config (a subclassed or Sequential
            model).
    """
    is_model = isinstance(model, keras.Model)
    try:
        config = model.get_config() if is_model else model
    except NotImplementedError:   # a subclassed model without get_config
        config = None
    layers = config.get("layers") if isinstance(config, dict) else None
    if not layers or any("inbound_nodes" not in layer for layer in layers) \
            or "output_layers" not in config:
        name = model.name if is_model else (config or {}).get("name")
        raise TypeError(f"'{name}' is not a functional model: its config has no layer "
                        "graph (subclassed and Sequential models have none).")
    by_name = {layer["name"]: layer for layer in layers}
    raw = {}                                    # (layer, node) -> input TensorRefs
    for layer in layers:
        nodes = layer["inbound_nodes"] or ([None] if _is_input(layer) else [])
        for node, data in enumerate(nodes):
            raw[(layer["name"], node)] = tuple(_tensor_refs(data))
    outputs = [_output_ref(model if is_model else None, by_name, entry, i)
               for i, entry in enumerate(_entries(config["output_layers"]))]
    inputs = [TensorRef(name, node, index, _input_shape(by_name[name]))
              for name, node, index in _entries(config.get("input_layers", []))]
    read = {}                                   # (layer, node) -> {index: TensorRef}
    for ref in [r for refs in raw.values() for r in refs] + outputs + inputs:
        known = read.setdefault((ref.layer, ref.node), {})
        if known.get(ref.index) is None or known[ref.index].shape is None:
            known[ref.index] = ref
    calls = [Call(name, node, refs, tuple(ref for _, ref in sorted(
                 read.get((name, node), {}).items())))
             for (name, node), refs in raw.items()]
    return LayerGraph(_topological(calls), inputs, outputs)


def _is_input(layer_config):
    return layer_config.get("class_name") == "InputLayer"


def _input_shape(layer_config):
    shape = layer_config.get("config", {}).get("batch_shape")
    return None if shape is None else tuple(shape)


def _entries(value):
    """`[(layer, node, index)]` of a config's "input_layers"/"output_layers" (one entry,
    or a list or dict of them, as the model's inputs/outputs are structured)."""
    if isinstance(value, dict):
        # in the order of `model.outputs`: keras flattens a dict by its sorted keys
        return [entry for key in sorted(value) for entry in _entries(value[key])]
    if len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return [tuple(value)]
    return [entry for item in value for entry in _entries(item)]


def _tensor_refs(value):
    """The TensorRefs of the serialized Keras tensors in a call's arguments."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            config = value["config"]
            name, node, index = config["keras_history"]
            yield TensorRef(name, node, index, tuple(config["shape"]))
            return
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensor_refs(item)


def _output_ref(model, by_name, entry, position):
    name, node, index = entry
    # Keras numbers the calls of a nested functional model from 1 in "output_layers"
    # (from 0 in "inbound_nodes"), as if it kept the call that built it.
    if model is not None and isinstance(model.get_layer(name), Functional) or \
            model is None and by_name[name].get("class_name") == "Functional":
        node -= 1
    shape = tuple(model.outputs[position].shape) if model is not None else None
    return TensorRef(name, node, index, shape)


def _topological(calls):
    """`calls` reordered so that every call follows the calls making its inputs (the
    config lists a shared layer's calls together, before layers that feed later ones)."""
    by_key = {(call.layer, call.node): call for call in calls}
    order, done = [], set()
    for root in calls:
        stack = [(root, False)]
        while stack:
            call, expanded = stack.pop()
            key = (call.layer, call.node)
            if key in done:
                continue
            if expanded:
                done.add(key)
                order.append(call)
                continue
            stack.append((call, True))
            for ref in reversed(call.inputs):
                parent = by_key.get((ref.layer, ref.node))
                if parent is not None and (ref.layer, ref.node) not in done:
                    stack.append((parent, False))
    return order
