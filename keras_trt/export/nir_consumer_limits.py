"""What each simulator's NIR import cannot run, checked before `to_nir(target=...)` writes
its form (keras_trt.export.nir_targets): a ValueError naming the node and the field
rather than a graph that the consumer would run differently. docs/deployment.md,
Consumers, gives the reason behind each limit (read from the consumers' import code).

- snnTorch 1.0: `dt = 1e-4` (fixed there), `v_reset = 0` (it resets to 0 without
  reading `v_reset`), no `nir.IF` (run as a leaky neuron).
- Norse 1.1: `v_reset = 0` (as snnTorch), unpadded pools (its sum pool does not pad),
  IF neurons only at `dt = 1` (its IF adds its input without dt).
- Spyx 1.0: a chain (one edge into and out of each node), unpadded pools, no dilated or
  grouped convolutions; a warning that its neurons spike differently.
- SpikingJelly 2.0: a LIF must have `v_reset = 0` (its LIFNode decays towards `v_reset`,
  keras-trt's towards 0).

```python
import keras
import keras_trt as kt

inputs = keras.Input((2, 4))
h = kt.TimeDistributed(keras.layers.Dense(3, name="fc"), name="fc")(inputs)
model = kt.SpikingModel(inputs, kt.LIF(v_reset=0.5, name="lif")(h))
kt.export.to_nir(model, target="nir")                 # NIR itself has v_reset
try:
    kt.export.to_nir(model, target="spikingjelly")
except ValueError as error:
    print(error)                                      # ... LIF 'lif' has v_reset = 0.5; ...
```
"""

import math
import warnings

import numpy as np

__all__ = ["neuron_nodes", "check_consumer"]


def neuron_nodes(graph, nir):
    """[(name, node)] of the graph's LIF and IF nodes."""
    return [(n, node) for n, node in graph.nodes.items() if isinstance(node, (nir.LIF, nir.IF))]


def _first(values):
    return float(np.asarray(values, dtype="float64").reshape(-1)[0])


def _check_reset_zero(graph, nir, label, consumer):
    for name, node in neuron_nodes(graph, nir):
        if node.v_reset is not None and not np.allclose(node.v_reset, 0.0):
            raise ValueError(f"{label}: neuron '{name}' has v_reset = {_first(node.v_reset)}; "
                             f"{consumer}'s NIR import resets to 0 (it does not read "
                             "`v_reset`).")


def _check_unpadded_pools(graph, nir, label, consumer):
    for name, node in graph.nodes.items():
        if isinstance(node, nir.AvgPool2d) and np.any(np.asarray(node.padding) != 0):
            raise ValueError(f"{label}: pool '{name}' has padding {list(node.padding)}; "
                             f"{consumer}'s sum pool does not pad (`padding` must be 0).")


def _check_snntorch(graph, nir, dt, label):
    if not math.isclose(dt, 1e-4):
        raise ValueError(f"{label}: `dt` must be 1e-4, the step snnTorch's NIR import "
                         f"fixes; got {dt}.")
    _check_reset_zero(graph, nir, label, "snnTorch")
    for name, node in neuron_nodes(graph, nir):
        if isinstance(node, nir.IF):
            raise ValueError(f"{label}: IF '{name}': snnTorch 1.0's NIR import runs "
                             "nir.IF as a leaky neuron (beta 0.9); use target='norse', "
                             "'spikingjelly' or 'nir'.")


def _check_norse(graph, nir, dt, label):
    _check_reset_zero(graph, nir, label, "Norse")
    _check_unpadded_pools(graph, nir, label, "Norse")
    for name, node in neuron_nodes(graph, nir):
        if isinstance(node, nir.IF) and dt != 1.0:
            raise ValueError(
                f"{label}: IF '{name}' at dt={dt}: Norse's IF adds its input without dt "
                "(v += I), NIR's IF with r = 1 adds dt I. Export with dt=1.0 and run "
                "norse.torch.from_nir(graph, dt=1.0).")


def _check_spyx(graph, nir, label):
    _check_unpadded_pools(graph, nir, label, "Spyx")
    for name, node in graph.nodes.items():
        inputs = sum(dst == name for _, dst in graph.edges)
        outputs = sum(src == name for src, _ in graph.edges)
        if inputs > 1 or outputs > 1:
            raise ValueError(
                f"{label}: node '{name}' has {inputs} inputs and {outputs} outputs; Spyx's "
                "NIR import builds a chain (one edge out of each node), so residual "
                "connections are lost.")
        if isinstance(node, nir.Conv2d) and (
                np.any(np.asarray(node.dilation) != 1) or int(node.groups) != 1):
            raise ValueError(f"{label}: Conv2d '{name}' is dilated or grouped; Spyx's "
                             "NIR import reads neither `dilation` nor `groups`.")
    if neuron_nodes(graph, nir):
        warnings.warn(
            f"{label}: Spyx 1.0's LIF and IF spike on the previous step's membrane and "
            "subtract the threshold (spyx.nn.LIF), keras-trt's on the current membrane "
            "with a reset to v_reset: Spyx runs this graph but its spikes differ "
            "(docs/deployment.md, Consumers).", UserWarning, stacklevel=4)


def _check_spikingjelly(graph, nir, label):
    for name, node in neuron_nodes(graph, nir):
        if isinstance(node, nir.LIF) and not np.allclose(node.v_reset, 0.0):
            raise ValueError(
                f"{label}: LIF '{name}' has v_reset = {_first(node.v_reset)}; "
                "SpikingJelly's NIR import needs a LIF's v_leak to equal its v_reset (its "
                "LIFNode decays towards v_reset) and keras-trt's LIF decays towards 0 "
                "(v_leak = 0). IF neurons may reset to any value.")


def check_consumer(graph, nir, target, dt, label):
    """Raises a ValueError (prefixed `label`) if `target`'s consumer cannot run the
    canonical `graph` at step `dt` as keras-trt does; warns where it runs it differently
    (Spyx). "nir" has no limits beyond NIR's own."""
    if target == "snntorch":
        _check_snntorch(graph, nir, dt, label)
    elif target == "norse":
        _check_norse(graph, nir, dt, label)
    elif target == "spyx":
        _check_spyx(graph, nir, label)
    elif target == "spikingjelly":
        _check_spikingjelly(graph, nir, label)
