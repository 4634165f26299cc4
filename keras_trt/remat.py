"""Rematerialisation: keep only a block's input for the backward pass, recompute the rest.

Backpropagation through time keeps every activation of every timestep, so a spiking
network's training memory grows linearly with T. `Remat(block)` wraps a run of layers
(e.g. a conv -> tdBN -> LIF -> pool block as a `keras.Sequential`); in training it runs
them under `keras.remat` (torch: `torch.utils.checkpoint`, TensorFlow:
`tf.recompute_grad`, JAX: `jax.checkpoint`), which saves the block's input only and
reruns the block during the backward pass. The values, gradients and moving statistics
are those of the unwrapped layers; the price is one more forward pass of the block.

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
```
"""

import keras
from keras import ops

__all__ = ["Remat"]


@keras.saving.register_keras_serializable(package="keras_trt")
class Remat(keras.layers.Wrapper):
    """Runs `layer` (usually a `keras.Sequential` block) with its activations recomputed
    in the backward pass instead of kept; inference calls `layer` unchanged.

    Args:
        layer: the layer or block to recompute; it must be deterministic in training
            (no dropout: the recomputation would draw new masks).

    ```python
    import keras
    import keras_trt as kt
    block = kt.Remat(keras.Sequential([kt.TemporalBatchNorm(), kt.LIF()]))
    y = block(keras.ops.ones((2, 3, 4)), training=True)
    ```
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"Remat: `layer` must be a keras.layers.Layer, got "
                            f"{type(layer).__name__}.")
        super().__init__(layer, **kwargs)
        # The variables are read here and handed to the recomputed function as values:
        # their stored dtype (float32 under mixed precision); the wrapped layers autocast.
        self.autocast = False

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        if not training:
            return self.layer(inputs, training=training)
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
