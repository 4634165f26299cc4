"""Rematerialisation: keep only a block's input for the backward pass, recompute the rest.

Backpropagation through time keeps every activation of every timestep, so a spiking
network's training memory grows linearly with T. `Remat(block)` wraps a run of layers
(e.g. a conv -> tdBN -> LIF -> pool block as a `keras.Sequential`); in training it runs
them under `keras.remat` (torch: `torch.utils.checkpoint`, TensorFlow:
`tf.recompute_grad`, JAX: `jax.checkpoint`), which saves the block's input only and
reruns the block during the backward pass. The values, gradients and moving statistics
are those of the unwrapped layers; the price is one more forward pass of the block.

That still keeps the block's own activations for all T at once while it is
differentiated. `Remat(block, time_chunk=n)` also cuts the block along time into chunks
of n timesteps, so only one chunk's activations exist at a time. The block must then be
a chain of per-frame layers (`TimeDistributed`), at most one `TemporalBatchNorm` and
`LIF` neurons after it: the convolution and pooling act per frame, the LIF carries one
frame of membrane from chunk to chunk, and tdBN's batch statistics, which run over all
timesteps, come from a first pass over the chunks (each chunk's mean and squared
deviations, combined exactly as a parallel variance). Each chunk is rematerialised on
its own; reverse-mode differentiation then takes the chunks from last to first, the
membrane's gradient flowing back across their boundaries, and the statistics' gradient
once all are done. The result equals the unchunked block to float rounding (the sums
run in another order), at the cost of a second pass over the block's per-frame layers
before the normalisation, forward and backward. On torch a fused kernel
(`keras_trt.backend.torch_remat.chunked_block`) takes two passes over the chunks in the
backward pass instead, which runs those layers' backward pass once.

Keras' own per-layer remat (`keras.RematScope`) recomputes inside one layer only, so
every layer's input is still kept. A recomputed tdBN must not update its moving
statistics twice (torch's fused kernel updates them in place) nor from inside the
recomputed function (a JAX tracer would escape it): the block's variables are handed to
the recomputed function as values (a `keras.StatelessScope`), its updated moving
statistics come back as outputs and are assigned once, outside.

```python
import keras
import keras_trt as kt

block = keras.Sequential([
    kt.TimeDistributed(keras.layers.Conv2D(8, 3, padding="same", use_bias=False)),
    kt.TemporalBatchNorm(),
    kt.LIF(),
])
remat_block = kt.Remat(block)
spikes = remat_block(keras.ops.ones((2, 4, 8, 8, 3)), training=True)   # (2, 4, 8, 8, 8)
chunked = kt.Remat(block, time_chunk=2)        # two timesteps at a time
spikes = chunked(keras.ops.ones((2, 5, 8, 8, 3)), training=True)       # chunks of 2, 2, 1
```
"""

import numbers

import keras
from keras import ops

from keras_trt import backend
from keras_trt import distribute
from keras_trt import layers as kt_layers
from keras_trt import neurons
from keras_trt import precision
from keras_trt._neuron_dynamics import lif_multistep
from keras_trt.graph import layer_graph

__all__ = ["Remat"]


@keras.saving.register_keras_serializable(package="keras_trt")
class Remat(keras.layers.Wrapper):
    """Runs `layer` (usually a `keras.Sequential` block) with its activations recomputed
    in the backward pass instead of kept; inference calls `layer` unchanged.

    Args:
        layer: the layer or block to recompute; it must be deterministic in training
            (no dropout: the recomputation would draw new masks).
        time_chunk: None (default: recompute the whole block at once, bit-identical
            to the unwrapped layer), or an integer >= 1: recompute it `time_chunk`
            timesteps at a time, so that its activations take memory for one chunk
            instead of all T. `layer` must then be a `keras.Sequential` or functional
            chain of `kt.TimeDistributed` layers, at most one `kt.TemporalBatchNorm`
            and non-stateful `kt.LIF` layers after it. Equal to the unchunked block to
            float rounding.

    ```python
    import keras
    import keras_trt as kt
    block = kt.Remat(keras.Sequential([kt.TemporalBatchNorm(), kt.LIF()]))
    y = block(keras.ops.ones((2, 3, 4)), training=True)
    ```
    """

    def __init__(self, layer, time_chunk=None, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"Remat: `layer` must be a keras.layers.Layer, got "
                            f"{type(layer).__name__}.")
        if time_chunk is not None and (
                isinstance(time_chunk, bool) or not isinstance(time_chunk, numbers.Integral)
                or time_chunk < 1):
            raise ValueError(f"Remat: `time_chunk` must be None or an integer >= 1 "
                             f"(timesteps per recomputed chunk), got {time_chunk!r}.")
        super().__init__(layer, **kwargs)
        self.time_chunk = None if time_chunk is None else int(time_chunk)
        if self.time_chunk is not None:
            self._chain = _chunkable_chain(layer)
        # The variables are read here and handed to the recomputed function as values:
        # their stored dtype (float32 under mixed precision); the wrapped layers autocast.
        self.autocast = False

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(time_chunk=self.time_chunk)
        return config

    def call(self, inputs, training=None):
        if not training:
            return self.layer(inputs, training=training)
        if self.time_chunk is not None:
            return _chunked_call(self._chain, inputs, self.time_chunk)
        variables = list(self.layer.variables)
        updatable = [v for v in variables if not v.trainable]
        torch = keras.backend.backend() == "torch"

        def block(x, *values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
                y = self.layer(x, training=True)
                # A value assigned in the scope, or (torch's fused tdBN updates in place)
                # the mapped tensor itself.
                updated = [scope.get_current_value(v) for v in updatable]
            return (y, *updated)

        values = []
        for v in variables:
            value = ops.convert_to_tensor(v.value)
            if torch and not v.trainable:
                # The recomputation reruns torch's in-place statistics update: let it
                # write into a copy, never into the variable.
                value = value.clone()
            values.append(value)
        y, *updated = keras.remat(block)(inputs, *values)
        for v, value in zip(updatable, updated):
            v.assign(ops.stop_gradient(value))
        return y


# ------------------------------------------------------------------ time chunks
def _chunkable_chain(block):
    """The layers of `block` in order, checked to be per-frame layers, at most one
    TemporalBatchNorm and LIF layers after it; raises a ValueError otherwise."""
    if isinstance(block, keras.Sequential):
        layers = [layer for layer in block.layers
                  if not isinstance(layer, keras.layers.InputLayer)]
    elif isinstance(block, keras.Model):
        layers = _functional_chain(block)
    else:
        layers = [block]
    norms = 0
    for layer in layers:
        if isinstance(layer, kt_layers.TemporalBatchNorm):
            norms += 1
            ok = norms == 1
        elif isinstance(layer, neurons.LIF):
            ok = norms == 1 and not layer.stateful
        else:
            ok = isinstance(layer, (kt_layers.TimeDistributed, keras.layers.TimeDistributed))
        if not ok:
            raise ValueError(
                f"Remat: `time_chunk` needs a block of per-frame layers (TimeDistributed), "
                f"at most one TemporalBatchNorm and non-stateful LIF layers after it; "
                f"layer {layer.name!r} ({type(layer).__name__}) of {block.name!r} does "
                f"not fit there.")
    return layers


def _functional_chain(block):
    """The layers of functional `block` from input to output if each reads the one
    before it, once; raises a ValueError otherwise."""
    try:
        graph = layer_graph(block)
    except TypeError:
        raise ValueError(f"Remat: `time_chunk` needs a keras.Sequential or functional "
                         f"block; {block.name!r} is subclassed.") from None
    previous, layers = graph.inputs, []
    for call in graph.calls:
        layer = block.get_layer(call.layer)
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if list(call.inputs) != list(previous) or len(graph.calls_of(call.layer)) != 1:
            raise ValueError(
                f"Remat: `time_chunk` needs a block whose layers form a chain (one "
                f"input each, used once); layer {layer.name!r} of {block.name!r} is not.")
        previous = call.outputs
        layers.append(layer)
    if len(graph.inputs) != 1 or list(previous) != list(graph.outputs):
        raise ValueError(f"Remat: `time_chunk` needs a block with one input and one "
                         f"output that chains its layers; {block.name!r} does not.")
    return layers


def _chunked_call(chain, inputs, time_chunk):
    """The training call of a chunked `Remat` (see the module docstring)."""
    split = next((i for i, layer in enumerate(chain)
                  if isinstance(layer, kt_layers.TemporalBatchNorm)), len(chain))
    head, norm, tail = chain[:split], (chain[split] if split < len(chain) else None), \
        chain[split + 1:]
    if norm is not None and norm.sync and distribute.reduces_across_replicas():
        raise ValueError(f"Remat: `time_chunk` does not gather tdBN statistics across "
                         f"replicas ({norm.name!r} has sync=True under data parallelism); "
                         f"use time_chunk=None or sync=False.")
    steps = inputs.shape[1]
    if steps is None:
        raise ValueError("Remat: `time_chunk` needs a known number of timesteps (axis 1), "
                         f"got input shape {tuple(inputs.shape)}.")
    bounds = list(range(time_chunk, steps, time_chunk))
    chunks = ops.split(inputs, bounds, axis=1) if bounds else [inputs]

    head_vars = [v for layer in head for v in layer.variables]
    tail_vars = [v for layer in tail for v in layer.variables]
    norm_vars = [] if norm is None else [v for v in (norm.gamma, norm.beta) if v is not None]

    def values_of(variables):
        return [ops.convert_to_tensor(v.value) for v in variables]

    def run(layers, variables, values, x):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            for layer in layers:
                x = layer(x, training=True)
        return x

    kernel = backend.fast_kernel("chunked_block") if norm is not None else None
    if kernel is not None:
        result = _fast_chunked_call(kernel, head, norm, tail, inputs, steps, time_chunk)
        if result is not None:
            return result

    stats = None
    if norm is not None:
        dtype = precision.accumulation_dtype(norm.variable_dtype)

        def moments(x, *values):
            z = ops.cast(run(head, head_vars, values, x), dtype)
            axes = tuple(range(len(z.shape) - 1))
            mean = ops.mean(z, axis=axes)
            return mean, ops.sum(ops.square(z - mean), axis=axes)

        # Chan et al.'s parallel variance: the chunks' means and squared deviations
        # about them, combined without the cancellation of E[z^2] - E[z]^2.
        means, squares = [], []
        for x in chunks:
            mean, square = keras.remat(moments)(x, *values_of(head_vars))
            means.append(mean)
            squares.append(square)
        # every frame has the same size, so a chunk's share of the elements is its
        # share of the timesteps
        count = _normalized_count(head, inputs)
        total = ops.cast(count, dtype)
        shares = [x.shape[1] / steps for x in chunks]
        mean = sum(w * m for w, m in zip(shares, means))
        square = sum(squares) + sum(
            w * total * ops.square(m - mean) for w, m in zip(shares, means))
        variance = square / total
        norm._update_moving_statistics(count, mean, variance)
        stats = (mean, variance)

    stats = list(stats) if stats is not None else []
    values = values_of(head_vars) + values_of(norm_vars) + values_of(tail_vars)

    def piece(carried):
        """One chunk from `carried` membranes (0: the neurons' initial ones); every
        argument a tensor, as TensorFlow's recompute_grad needs."""
        def fn(x, *args):
            stat_values, args = args[:len(stats)], args[len(stats):]
            membranes, args = list(args[:carried]), args[carried:]
            head_values = args[:len(head_vars)]
            norm_values = args[len(head_vars):len(head_vars) + len(norm_vars)]
            tail_values = args[len(head_vars) + len(norm_vars):]
            h = run(head, head_vars, head_values, x)
            if norm is not None:
                h = _normalize(norm, h, *stat_values, norm_values)
            ends = []
            with keras.StatelessScope(state_mapping=list(zip(tail_vars, tail_values))):
                for layer in tail:
                    if isinstance(layer, neurons.LIF):
                        start = membranes[len(ends)] if membranes else None
                        h, end = _lif_from(layer, h, start)
                        ends.append(end)
                    else:
                        h = layer(h, training=True)
            return (h, *ends)
        return keras.remat(fn)

    membranes, outputs = [], []
    for x in chunks:
        y, *membranes = piece(len(membranes))(x, *stats, *membranes, *values)
        outputs.append(y)
    return outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=1)


def _fast_chunked_call(kernel, head, norm, tail, inputs, steps, time_chunk):
    """The same computation with the backend's kernel (torch), whose backward pass runs
    the head once per chunk instead of twice; None where the kernel declines."""
    head_vars = [v for layer in head for v in layer.variables]
    tail_vars = [v for layer in tail for v in layer.variables]
    dtype = precision.accumulation_dtype(norm.variable_dtype)

    def head_fn(x, values):
        with keras.StatelessScope(state_mapping=list(zip(head_vars, values))):
            for layer in head:
                x = layer(x, training=True)
        return x

    def tail_fn(y, membranes, values):
        h, ends = ops.cast(y, norm.compute_dtype), []
        with keras.StatelessScope(state_mapping=list(zip(tail_vars, values))):
            for layer in tail:
                if isinstance(layer, neurons.LIF):
                    h, end = _lif_from(layer, h, None if membranes is None
                                       else membranes[len(ends)])
                    ends.append(end)
                else:
                    h = layer(h, training=True)
        return h, ends

    def value(v, default):
        if v is None:
            return ops.full(norm.moving_mean.shape, default, dtype=dtype)
        return ops.cast(ops.convert_to_tensor(v.value), dtype)

    bounds = [(a, min(a + time_chunk, steps)) for a in range(0, steps, time_chunk)]
    result = kernel(inputs, bounds, head_fn, tail_fn,
                    [ops.convert_to_tensor(v.value) for v in head_vars],
                    value(norm.gamma, 1.0), value(norm.beta, 0.0),
                    [ops.convert_to_tensor(v.value) for v in tail_vars],
                    norm.epsilon, dtype)
    if result is None:
        return None
    outputs, mean, variance = result
    norm._update_moving_statistics(_normalized_count(head, inputs), mean, variance)
    return outputs


def _normalized_count(head, inputs):
    """Elements per channel that tdBN normalises: B * T * the head's output frame size
    (the head may stride or pool)."""
    shape = tuple(inputs.shape)
    for layer in head:
        shape = layer.compute_output_shape(shape)
    frame = 1
    for d in shape[1:-1]:
        frame *= int(d)
    batch = inputs.shape[0]
    return frame * (ops.shape(inputs)[0] if batch is None else int(batch))


def _normalize(norm, h, mean, variance, values):
    """tdBN's training-mode output with given batch statistics (TemporalBatchNorm.call)."""
    dtype = precision.accumulation_dtype(norm.variable_dtype)
    it = iter(values)
    gamma = next(it) if norm.gamma is not None else None
    beta = next(it) if norm.beta is not None else None
    out = ops.batch_normalization(
        ops.cast(h, dtype), mean, variance, axis=-1,
        offset=None if beta is None else ops.cast(beta, dtype),
        scale=None if gamma is None else ops.cast(gamma, dtype),
        epsilon=norm.epsilon)
    return ops.cast(out, norm.compute_dtype)


def _lif_from(layer, x, membrane):
    """A LIF layer's spikes on one chunk from `membrane` (None: its initial value), and
    the membrane after the chunk's last reset (LIF.call and LIF._stateful_call)."""
    x = ops.cast(x, precision.accumulation_dtype(layer.variable_dtype))
    kernel = backend.fast_kernel("lif_from_membrane")
    if kernel is not None:
        result = kernel(x, membrane, layer.tau, layer.v_threshold, layer.v_reset,
                        layer.surrogate, layer.detach_reset)
        if result is not None:
            return ops.cast(result[0], layer.compute_dtype), result[1]
    spikes, after_reset = lif_multistep(
        x, tau=layer.tau, v_threshold=layer.v_threshold, v_reset=layer.v_reset,
        spike_fn=layer.surrogate, detach_reset=layer.detach_reset, time_loop="unroll",
        return_membrane=True, initial_membrane=membrane)
    # a copy: on torch the last frame is a view that would keep the whole chunk's
    # membranes alive for as long as the boundary is kept (until the backward pass)
    return ops.cast(spikes, layer.compute_dtype), ops.copy(after_reset[:, -1])
