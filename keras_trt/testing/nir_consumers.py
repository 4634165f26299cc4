"""Runners of other simulators' NIR imports (snnTorch, Norse, Spyx, SpikingJelly), to check
that a graph exported by `keras_trt.export.to_nir` computes what the keras-trt model
computes.

Each runner takes a NIR graph (or a file path) and keras-trt frames (B, T, ...), channels
last, runs the graph in that simulator one timestep at a time, and returns
`(logits (B, T, ...), {neuron node name: spikes (B, T, ...)})` with spikes channels
first, NIR's layout. `keras_outputs(model, x)` returns the same of a keras-trt model, so
the two compare directly (tests/export/test_nir_consumers.py,
tools/measure_nir_consumers.py).

Framework imports. keras-trt's library code uses keras.ops, and torch/JAX are imported
only in keras_trt/backend/ (tests/test_layout.py). These runners are the exception
listed in that test: they drive external simulators that are torch (snnTorch, Norse,
SpikingJelly) or JAX (Spyx) programs whatever KERAS_BACKEND is, so they belong to no Keras
backend, and they import the simulator and its framework inside each function, so
importing keras_trt (or this module) imports neither. They need the simulators of the
`test` extra (Spyx: the `dev` extra).

```python
import numpy as np
import keras_trt as kt
from keras_trt.testing import nir_consumers

model = kt.models.VGGSNN(num_classes=5, input_shape=(2, 8, 8, 2), widths=(4, 8))
x = np.random.default_rng(0).uniform(0, 2, (2, 2, 8, 8, 2)).astype("float32")
graph = kt.export.to_nir(model, target="snntorch")
logits, spikes = nir_consumers.run("snntorch", graph, x)    # or "norse", "spyx", ...
expected_logits, expected_spikes = nir_consumers.keras_outputs(model, x)
print(logits.shape, spikes["block1_lif"].shape)              # (2, 2, 5) (2, 2, 4, 8, 8)
```
"""

import contextlib
import io
import keyword
import logging

import keras
import numpy as np

from keras_trt import neurons
from keras_trt.export import require_nir

__all__ = ["CONSUMERS", "run", "keras_outputs", "snntorch_outputs", "norse_outputs",
           "spyx_outputs", "spikingjelly_outputs"]


def _graph(graph):
    nir = require_nir("keras_trt.testing.nir_consumers")
    return nir.read(graph) if isinstance(graph, str) else graph


def _dt(graph, default):
    metadata = graph.metadata if isinstance(graph.metadata, dict) else {}
    return float(np.asarray(metadata.get("dt", default)).item())


def _channels_first(frames):
    """(B, T, H, W, C) -> (B, T, C, H, W); (B, T, F) unchanged."""
    return np.moveaxis(frames, -1, 2) if frames.ndim == 5 else frames


def _stack(per_sample):
    """[{name: (T, ...)} per sample] -> {name: (B, T, ...)}."""
    return {name: np.stack([sample[name] for sample in per_sample])
            for name in per_sample[0]}


def _torch_graph_outputs(make_net, frames, neuron_types):
    """Runs the nirtorch GraphExecutor that `make_net()` builds (snnTorch's and Norse's
    imports build one) on channels-first frames, one sample at a time: both map NIR's
    Flatten(start_dim=0) to torch.nn.Flatten(0, -1), which also flattens a batch axis. A
    new network per sample: snnTorch's neurons keep their membrane inside."""
    import torch

    def record(recorded, name):
        def hook(module, inputs, output):
            value = (output[0] if isinstance(output, tuple) else output).detach().numpy()
            # a batch axis of 1, except after Flatten(0, -1), which removed it
            recorded.setdefault(name, []).append(value[0] if value.ndim in (2, 4) else value)
        return hook

    logits, spikes = [], []
    for sample in frames:
        net, net_state, recorded = make_net(), None, {}
        hooks = [module.register_forward_hook(record(recorded, name))
                 for name, module in net.named_modules() if isinstance(module, neuron_types)]
        steps = []
        with torch.no_grad():
            for frame in sample:
                x = torch.from_numpy(np.ascontiguousarray(frame[None]))
                out, net_state = net(x, net_state)
                steps.append(out.numpy().reshape(-1))
        logits.append(np.stack(steps))
        spikes.append({name: np.stack(values) for name, values in recorded.items()})
    return np.stack(logits), _stack(spikes)


def snntorch_outputs(graph, frames):
    """Runs `graph` (a `nir.NIRGraph` or a path) in snnTorch 1.0's NIR import
    (`snntorch.import_nir.import_from_nir`, dt = 1e-4 fixed) on keras-trt `frames`
    (B, T, ...): (logits, {neuron node: spikes}), module docstring."""
    import snntorch as snn
    from snntorch.import_nir import import_from_nir

    graph = _graph(graph)

    def make_net():
        with contextlib.redirect_stdout(io.StringIO()):   # it prints progress
            return import_from_nir(graph)

    return _torch_graph_outputs(make_net, _channels_first(frames).astype("float32"),
                                (snn.Leaky,))


def norse_outputs(graph, frames, dt=None):
    """Runs `graph` in Norse 1.1's NIR import (`norse.torch.from_nir`) at `dt` (default:
    the graph's metadata, else Norse's 1e-3) on keras-trt `frames` (B, T, ...)."""
    import norse.torch as norse

    graph = _graph(graph)
    # Norse logs a warning per neuron whose r is not 1 (graphs other than target="norse")
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    dt = _dt(graph, 1e-3) if dt is None else dt
    return _torch_graph_outputs(lambda: norse.from_nir(graph, dt=dt), _channels_first(frames).astype("float32"),
                                (norse.LIFBoxCell, norse.IAFCell))


def _chain(graph):
    """The node names from "input" along the first edge out of each node, the order in
    which Spyx's NIR import builds its layers."""
    names, current = [], "input"
    while True:
        following = [dst for src, dst in graph.edges if src == current]
        if not following or following[0] == "output":
            return names
        current = following[0]
        names.append(current)


def spyx_outputs(graph, frames, dt=None):
    """Runs `graph` in Spyx 1.0's NIR import (`spyx.nir.from_nir`, channels last) at `dt`
    (default: the graph's metadata, else Spyx's 1) on keras-trt `frames` (B, T, ...).
    The layers it builds are run step by step as its `Sequential` runs them, to record
    each neuron layer's spikes."""
    import jax.numpy as jnp
    import spyx
    import spyx.nir

    graph = _graph(graph)
    frames = np.asarray(frames, "float32")
    time_major = jnp.asarray(np.swapaxes(frames, 0, 1))
    model, _ = spyx.nir.from_nir(graph, time_major, dt=_dt(graph, 1.0) if dt is None else dt)
    nir = require_nir("keras_trt.testing.nir_consumers")
    built = [name for name in _chain(graph)
             if not isinstance(graph.nodes[name], (nir.Input, nir.Output))]
    names = dict(zip(range(len(model.layers)), built))
    state = model.initial_state(frames.shape[0])
    logits, recorded = [], {}
    for x in time_major:
        new_state = []
        for index, (layer, layer_state) in enumerate(zip(model.layers, state)):
            if layer_state is None:
                x = layer(x)
            else:
                x, layer_state = layer(x, layer_state)
            new_state.append(layer_state)
            if isinstance(layer, (spyx.nn.LIF, spyx.nn.IF)):
                recorded.setdefault(names[index], []).append(np.asarray(x))
        state = new_state
        logits.append(np.asarray(x))
    spikes = {name: _channels_first(np.swapaxes(np.stack(v), 0, 1))
              for name, v in recorded.items()}
    return np.swapaxes(np.stack(logits), 0, 1), spikes


def spikingjelly_outputs(graph, frames, dt=None):
    """Runs `graph` in SpikingJelly 2.0's NIR import
    (`spikingjelly.activation_based.nir_exchange.import_from_nir`, a torch.fx module that
    nirtorch's `nir_to_torch` builds) at `dt` (default: the graph's metadata, else
    SpikingJelly's 1e-4) on keras-trt `frames` (B, T, ...), the whole batch at once: its
    Flatten keeps the batch axis, and its neurons' state is passed from step to step."""
    import torch
    from spikingjelly.activation_based import neuron
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    graph = _graph(graph)
    net = import_from_nir(graph, dt=_dt(graph, 1e-4) if dt is None else dt)
    # nirtorch names each module after its node, with '.' as '_' and keywords prefixed
    node_of = {("nir_node_" if keyword.iskeyword(n) else "") + n.replace(".", "_"): n
               for n in graph.nodes}
    recorded = {}

    def record(name):
        def hook(module, inputs, output):   # a neuron's wrapper returns (spikes, state)
            recorded.setdefault(name, []).append(output[0].detach().numpy())
        return hook

    for name, module in net.named_modules():
        if isinstance(getattr(module, "module", None), neuron.BaseNode):
            module.register_forward_hook(record(node_of.get(name, name)))
    steps, state = [], None
    with torch.no_grad():
        for t in range(frames.shape[1]):
            x = torch.from_numpy(np.ascontiguousarray(_channels_first(frames)[:, t], "float32"))
            out, state = net(x, state)
            steps.append(out.numpy())
    spikes = {name: np.stack(values, axis=1) for name, values in recorded.items()}
    return np.stack(steps, axis=1), spikes


CONSUMERS = {"snntorch": snntorch_outputs, "norse": norse_outputs, "spyx": spyx_outputs,
             "spikingjelly": spikingjelly_outputs}


def run(consumer, graph, frames):
    """`CONSUMERS[consumer](graph, frames)`: (logits, {neuron node: spikes})."""
    if consumer not in CONSUMERS:
        raise ValueError(f"run: `consumer` must be one of {tuple(CONSUMERS)}, got "
                         f"{consumer!r}.")
    return CONSUMERS[consumer](graph, frames)


def keras_outputs(model, x):
    """(logits (B, T, ...), {LIF layer name: spikes (B, T, ...) channels first}) of a
    functional keras-trt model in inference mode, from one call."""
    lifs = [layer for layer in model.layers if isinstance(layer, neurons.LIF)]
    probe = keras.Model(model.input, [model.output] + [layer.output for layer in lifs])
    outputs = [keras.ops.convert_to_numpy(y) for y in probe(x, training=False)]
    return outputs[0], {layer.name: _channels_first(s) for layer, s in zip(lifs, outputs[1:])}
