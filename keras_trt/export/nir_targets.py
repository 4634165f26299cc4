"""Consumer forms of a NIR graph: rewrites of keras-trt's canonical graph into the form a
simulator's NIR import runs unchanged, and back.

`to_nir(model, target=...)` exports the canonical graph (nir_export.py) and passes it
through `for_target`; `from_nir` passes a graph whose metadata names a form other than
"nir" through `canonical_form` first, so every form imports as the same keras-trt model.
The rewrites are graph to graph and exact (up to the float32 rounding of a product and
its inverse: none for r = 2 and pools of 2^n pixels). docs/deployment.md, Consumers,
derives each mapping:

- "nir": the canonical graph. A LIF has `r = tau_n / dt` (input weight `dt r / tau_n =
  1`), pools are `AvgPool2d`, Flatten orders (C, H, W).
- "snntorch": the canonical graph at snnTorch's fixed `dt = 1e-4` (its import computes
  `beta = 1 - dt/tau_n` and divides the threshold by `r dt / tau_n`, here 1). It resets
  to 0 and runs `nir.IF` as a leaky neuron, so `v_reset != 0` and IF are refused.
- "norse": `dt = 1e-3` (the default of `norse.torch.from_nir`). Norse ignores `r` (its
  LIF is `dv = dt/tau_n (v_leak - v + I)`), so r is folded into the incoming weights and
  biases (`W' = r W`, `b' = r b`, then `r = 1`; the same forward-Euler update), or, where
  those weights also feed something else or the input is spikes (a ResNet-19 identity
  shortcut), into the threshold and reset (`v_threshold / r`, `v_reset / r`: the
  membrane is v / r, the spikes the same). It has no `AvgPool2d`: an average pool
  becomes a `SumPool2d` and its `1/(kH kW)` is folded into the Conv2d/Affine/Linear
  reading it (through a Flatten). It reads no `v_reset` (resets to 0) and its IF adds its
  input without `dt` (`v += I`), so `v_reset != 0` is refused and IF needs `dt = 1`. Its
  importer runs the nodes in depth-first order, so the edges are ordered longer branch
  first, and a residual block whose shortcut holds nodes (a downsample) is refused.
- "spyx": `dt = 1` (the default of `spyx.nir.from_nir`). Spyx's LIF is `V = beta V + I`
  with `beta = 1 - dt/tau_n`: an input weight of 1, the canonical r (which it does not
  read). Pools become sums as for Norse; Spyx runs channels-last frames and its Flatten
  orders (H, W, C), so the columns of an Affine/Linear after a Flatten are permuted to
  that order. Its import builds a chain (one edge out of each node), so residual graphs,
  dilated or grouped convolutions and padded pools are refused; its neurons spike on the
  previous step's membrane and subtract the threshold, so a warning says its spikes
  differ from keras-trt's.
- "spikingjelly": the canonical graph at `dt = 1e-4` (the default of SpikingJelly's
  `import_from_nir`). Its import reads `tau / dt` as its LIFNode's tau and, with the
  canonical `r = tau_n / dt`, builds `LIFNode(decay_input=False)`: `v += (v_reset - v) /
  (tau_n / dt) + I`, which is keras-trt's `u / tau + x` for `v_reset = 0`; an IF
  (`r = 1 / dt`) is `IFNode`, `v += I`; both reset to `v_reset`. Nothing is rewritten;
  a LIF with `v_reset != 0` is refused (`nir_consumer_limits`).

```python
import keras_trt as kt
from keras_trt.export import nir_targets

model = kt.models.VGGSNN(num_classes=10, input_shape=(4, 8, 8, 2), widths=(4, 8))
graph = kt.export.to_nir(model, target="norse")      # = for_target(canonical, "norse")
type(graph.nodes["block2_pool"]).__name__            # 'SumPool2d'
canonical = nir_targets.canonical_form(graph)        # what from_nir imports
```
"""

import copy
import math

import numpy as np

from keras_trt.export._nir import DEFAULT_DT, require_nir
from keras_trt.export.nir_consumer_limits import check_consumer, neuron_nodes

__all__ = ["TARGETS", "target_dt", "for_target", "canonical_form"]

# name -> (default dt in seconds, fold r, average pools as sums, Flatten in (H, W, C) order)
_FORMS = {
    "nir": (DEFAULT_DT, False, False, False),
    "snntorch": (1e-4, False, False, False),
    "norse": (1e-3, True, True, False),
    "spyx": (1.0, False, True, True),
    "spikingjelly": (1e-4, False, False, False),
}
TARGETS = tuple(_FORMS)


def _check_target(target, caller):
    if target not in _FORMS:
        raise ValueError(f"{caller}: `target` must be one of {TARGETS}, got {target!r}.")
    return _FORMS[target]


def target_dt(target):
    """The default seconds per timestep of `target`: the step its consumer assumes."""
    return _check_target(target, "to_nir")[0]


def _incoming(graph, name):
    return [src for src, dst in graph.edges if dst == name]


def _outgoing(graph, name):
    return [dst for src, dst in graph.edges if src == name]


def _uniform(values, node_name, field, label):
    values = np.asarray(values, dtype="float64").reshape(-1)
    if not np.allclose(values, values[0], rtol=1e-6, atol=0.0):
        raise ValueError(f"{label}: node '{node_name}' has a different `{field}` per "
                         "neuron; it must be one value per node.")
    return float(values[0])


def _scale(node, factor, bias):
    node.weight = (np.asarray(node.weight, "float64") * factor).astype("float32")
    if bias and getattr(node, "bias", None) is not None:
        node.bias = (np.asarray(node.bias, "float64") * factor).astype("float32")


# ---------------------------------------------------------------------- r into weights
def _canonical_r(node, nir, dt):
    """The r of the canonical form: input weight dt r / tau_n = 1 (LIF), dt r = 1 (IF)."""
    if isinstance(node, nir.IF):
        return 1.0 / dt
    return _uniform(node.tau, "", "tau", "from_nir") / dt


def _weights_take_r(graph, nir, name, r_of):
    """Whether the neuron `name`'s r can go into the weights feeding it: every source is
    a Conv2d/Affine/Linear that feeds only neurons of the same r."""
    for src in _incoming(graph, name):
        if not isinstance(graph.nodes[src], (nir.Conv2d, nir.Affine, nir.Linear)):
            return False
        for dst in _outgoing(graph, src):
            if dst not in r_of or not math.isclose(r_of[dst], r_of[name], rel_tol=1e-9):
                return False
    return True


def _fold_r(graph, nir, label, dt, inverse):
    """r = 1, with r folded into the weights and biases feeding each neuron, or (where
    those weights also feed something else, e.g. a ResNet-19 identity shortcut into a
    LIF) into its threshold and reset (v_threshold / r, v_reset / r: the membrane is
    then v / r, the spikes the same). Each neuron's metadata["keras_trt_r"] records
    which ("weights" or "v_threshold"); `inverse` undoes it."""
    neurons = dict(neuron_nodes(graph, nir))
    if inverse:
        r_of = {name: _canonical_r(node, nir, dt) for name, node in neurons.items()}
    else:
        r_of = {name: _uniform(node.r, name, "r", label) for name, node in neurons.items()}
    scaled = set()
    for name, node in neurons.items():
        r = r_of[name]
        into = (node.metadata.pop("keras_trt_r", "weights") if inverse else
                "weights" if _weights_take_r(graph, nir, name, r_of) else "v_threshold")
        factor = 1.0 / r if inverse else r
        if into == "weights":
            for src in set(_incoming(graph, name)) - scaled:
                _scale(graph.nodes[src], factor, bias=True)
                scaled.add(src)
        else:
            node.v_threshold = np.asarray(node.v_threshold, "float64") / factor
            if node.v_reset is not None:
                node.v_reset = np.asarray(node.v_reset, "float64") / factor
        if not inverse:
            node.metadata = dict(node.metadata, keras_trt_r=into)
        node.r = np.full(np.shape(node.r), r if inverse else 1.0)


# ------------------------------------------------------------- average pools as sums
def _absorbers(graph, name, nir, label):
    """The Conv2d/Affine/Linear nodes that read the pool `name` (through Flatten nodes)
    and nothing else, or a ValueError."""
    found, frontier = [], _outgoing(graph, name)
    while frontier:
        dst = frontier.pop()
        node = graph.nodes[dst]
        if len(_incoming(graph, dst)) == 1 and isinstance(node, nir.Flatten):
            frontier.extend(_outgoing(graph, dst))
        elif len(_incoming(graph, dst)) == 1 and isinstance(
                node, (nir.Conv2d, nir.Affine, nir.Linear)):
            found.append(dst)
        else:
            raise ValueError(
                f"{label}: the average pool '{name}' feeds '{dst}' ({type(node).__name__}"
                f"{' with several inputs' if len(_incoming(graph, dst)) > 1 else ''}); the "
                "consumer has no AvgPool2d, and only a Conv2d/Affine/Linear that reads the "
                "pool alone (possibly through a Flatten) can absorb a sum pool's 1/(kH kW).")
    return found


def _pools(graph, nir, label, inverse):
    source = nir.SumPool2d if inverse else nir.AvgPool2d
    for name, node in list(graph.nodes.items()):
        if not isinstance(node, source):
            continue
        kernel = np.asarray(node.kernel_size).reshape(-1)
        size = float(kernel[0] ** 2 if kernel.size == 1 else np.prod(kernel))
        for absorber in _absorbers(graph, name, nir, label):
            _scale(graph.nodes[absorber], size if inverse else 1.0 / size, bias=False)
        cls = nir.AvgPool2d if inverse else nir.SumPool2d
        graph.nodes[name] = cls(kernel_size=node.kernel_size, stride=node.stride,
                                padding=node.padding)


# ------------------------------------------------------------ Flatten in (H, W, C) order
def _flatten_order(graph, nir, label, inverse):
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.Flatten):
            continue
        shape = tuple(int(d) for d in np.asarray(node.input_type["input"]).reshape(-1))
        if len(shape) != 3:
            continue
        c, h, w = shape
        for dst in _outgoing(graph, name):
            reader = graph.nodes[dst]
            if not isinstance(reader, (nir.Affine, nir.Linear)):
                raise ValueError(
                    f"{label}: Flatten '{name}' of a (C, H, W) frame feeds '{dst}' "
                    f"({type(reader).__name__}); the consumer flattens (H, W, C), which only "
                    "an Affine/Linear right after the Flatten can be permuted for.")
            weight = np.asarray(reader.weight)
            out = weight.shape[0]
            if inverse:
                weight = weight.reshape(out, h, w, c).transpose(0, 3, 1, 2)
            else:
                weight = weight.reshape(out, c, h, w).transpose(0, 2, 3, 1)
            reader.weight = np.ascontiguousarray(weight.reshape(out, -1))


# ------------------------------------------------- Norse: a depth-first execution order
def _depth_first_edges(graph, label):
    """The edges reordered so that a depth-first walk from "input" (the order in which
    Norse's nirtorch GraphExecutor runs the nodes; an input not run yet in this step is
    read from the previous one) visits every node after all its inputs: the longer
    branch first, so that a shortcut edge straight into a later node comes last. A
    ValueError where no order works (both branches of a residual block hold nodes)."""
    depth = {}

    def longest(name):   # the longest path from `name` to a sink, in edges
        if name not in depth:
            depth[name] = max((1 + longest(dst) for dst in _outgoing(graph, name)), default=0)
        return depth[name]

    edges = sorted(graph.edges, key=lambda edge: -longest(edge[1]))
    order, seen = [], set()

    def visit(name):
        seen.add(name)
        order.append(name)
        for src, dst in edges:
            if src == name and dst not in seen:
                visit(dst)

    visit("input")
    position = {name: i for i, name in enumerate(order)}
    for src, dst in edges:
        if position.get(src, len(order)) > position.get(dst, -1):
            raise ValueError(
                f"{label}: Norse's NIR import runs the nodes in depth-first order, which "
                f"would run '{dst}' before its input '{src}' (read one step late): a "
                "residual block whose shortcut holds nodes (a downsample convolution) "
                "cannot run there; shortcuts straight into a later node can.")
    return edges


def for_target(graph, target):
    """`graph` (keras-trt's canonical form, as `to_nir` writes it) rewritten for `target`.

    Args:
        graph: a canonical `nir.NIRGraph` whose metadata holds `dt`; not modified.
        target: one of `TARGETS` (module docstring).

    Returns:
        A new `nir.NIRGraph` whose metadata also records `target`.

    Raises:
        ValueError: `target` is unknown, or the graph holds something its consumer cannot
            run (the message names the node and the field).

    ```python
    import keras_trt as kt
    from keras_trt.export.nir_targets import for_target

    model = kt.models.VGGSNN(num_classes=10, input_shape=(4, 8, 8, 2), widths=(4, 8))
    graph = kt.export.to_nir(model, dt=1e-3)            # canonical, target "nir"
    norse_graph = for_target(graph, "norse")            # r folded, sum pools
    ```
    """
    nir = require_nir("keras_trt.export.to_nir")
    fold_r, sum_pools, flatten_hwc = _check_target(target, "to_nir")[1:]
    label = f"to_nir(target={target!r})"
    dt = float(np.asarray(graph.metadata["dt"]).item())
    graph = copy.deepcopy(graph)
    check_consumer(graph, nir, target, dt, label)
    if target == "norse":
        graph.edges = _depth_first_edges(graph, label)
    if fold_r:
        _fold_r(graph, nir, label, dt, inverse=False)
    if sum_pools:
        _pools(graph, nir, label, inverse=False)
    if flatten_hwc:
        _flatten_order(graph, nir, label, inverse=False)
    graph.metadata = dict(graph.metadata, target=target)
    return graph


def canonical_form(graph):
    """The canonical graph that `graph`, written for `graph.metadata["target"]`, came from
    (the inverse of `for_target`); `graph` itself when it names no target or "nir".

    ```python
    import keras_trt as kt
    from keras_trt.export.nir_targets import canonical_form

    model = kt.models.VGGSNN(num_classes=10, input_shape=(4, 8, 8, 2), widths=(4, 8))
    graph = kt.export.to_nir(model, target="norse")
    print(type(canonical_form(graph).nodes["block2_pool"]).__name__)   # AvgPool2d
    ```
    """
    nir = require_nir("keras_trt.export.from_nir")
    metadata = graph.metadata if isinstance(graph.metadata, dict) else {}
    target = np.asarray(metadata.get("target", "nir")).item()   # a str, or bytes from a file
    target = target.decode() if isinstance(target, bytes) else target
    fold_r, sum_pools, flatten_hwc = _check_target(target, "from_nir")[1:]
    if target == "nir":
        return graph
    label = f"from_nir(target={target!r})"
    if "dt" not in metadata:
        raise ValueError(f"{label}: the graph's metadata has no `dt`, which the rewrite "
                         "of this form needs.")
    graph = copy.deepcopy(graph)
    if flatten_hwc:
        _flatten_order(graph, nir, label, inverse=True)
    if sum_pools:
        _pools(graph, nir, label, inverse=True)
    if fold_r:
        _fold_r(graph, nir, label, float(np.asarray(metadata["dt"]).item()), inverse=True)
    graph.metadata = dict(metadata, target="nir")
    return graph
