"""Time handling layers for (B, T, ...) spiking tensors.

- `TimeDistributed`: applies a per-frame layer (Conv2D, Dense, pooling...) to every
  timestep at once by folding (B, T) into one batch axis (SpikingJelly's
  `SeqToANNContainer`), not by looping over T.
- `TemporalBatchNorm`: tdBN as the TRT code computes it: one BatchNorm whose statistics
  run over batch, time and space, per channel (last axis).
- `RepeatTime`: a static input (B, ...) -> (B, T, ...) (direct encoding).
- `TileTime`: a length-1 time axis repeated, (B, 1, ...) -> (B, T, ...).
- `TimeAverage`: the mean over the time axis, (B, T, ...) -> (B, ...).

Example:

```python
import keras
import keras_trt as kt

inputs = keras.Input((32, 32, 3))                      # a static image
x = kt.RepeatTime(4)(inputs)                           # (B, 4, 32, 32, 3)
x = kt.TimeDistributed(keras.layers.Conv2D(16, 3, padding="same", use_bias=False))(x)
x = kt.TemporalBatchNorm()(x)
x = kt.LIF()(x)                                        # spikes (B, 4, 32, 32, 16)
```
"""

import keras
from keras import ops

from keras_trt import backend, distribute, precision
from keras_trt.validation import positive_int

__all__ = ["TimeDistributed", "TemporalBatchNorm", "RepeatTime", "TileTime", "TimeAverage"]


def require_time_axis(layer, input_shape):
    """Raises a ValueError naming `layer` unless `input_shape` is (batch, T, ...) with a
    static T: every layer of keras-trt that works along the time axis needs one."""
    if len(input_shape) < 3:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': input must have rank >= 3 "
            f"(batch, time, ...), got shape {tuple(input_shape)}."
        )
    if input_shape[1] is None:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': the time axis (axis 1) must have a "
            f"static length, got shape {tuple(input_shape)}."
        )


def stateful_frame_shape(layer, input_shape, keeps):
    """The (batch, ...) shape of one frame of `input_shape`, the state a `stateful=True`
    layer keeps across calls (`keeps` says what, for the message); a ValueError naming
    `layer` unless the batch size and frame shape are static."""
    frame_shape = (input_shape[0],) + tuple(input_shape[2:])
    if any(d is None for d in frame_shape):
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': `stateful=True` keeps {keeps}, so "
            "the batch size and frame shape must be static, got input shape "
            f"{tuple(input_shape)}. Build the model with keras.Input(batch_shape=...) or "
            "use keras_trt.streaming_model(model, batch_size=...).")
    return frame_shape

@keras.saving.register_keras_serializable(package="keras_trt")
class TimeDistributed(keras.layers.Wrapper):
    """Applies `layer` to every timestep by folding (B, T) into one batch axis.

    Unlike `keras.layers.TimeDistributed`, which loops over T on some backends, this is a
    reshape to (B*T, ...), one call of the wrapped layer, and a reshape back: statistics
    of a wrapped BatchNormalization then run over B*T (tdBN), and the per-frame layer
    runs as one large batch.

    ```python
    import keras
    import keras_trt as kt
    conv = kt.TimeDistributed(keras.layers.Conv2D(64, 3, padding="same"))
    y = conv(keras.ops.zeros((2, 10, 48, 48, 2)))      # (2, 10, 48, 48, 64)
    ```
    """

    def build(self, input_shape):
        require_time_axis(self, input_shape)
        # A reloaded wrapper gets its inner layer already built from the saved config.
        if not self.layer.built:
            self.layer.build((None,) + tuple(input_shape[2:]))
        self.built = True

    def compute_output_shape(self, input_shape):
        frame = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(frame[1:])

    def call(self, inputs, training=None):
        time_steps = inputs.shape[1]
        frame_shape = tuple(inputs.shape[2:])
        if any(d is None for d in frame_shape):
            frame_shape = tuple(ops.shape(inputs)[2:])
        folded = ops.reshape(inputs, (-1,) + frame_shape)
        outputs = self.layer(folded, training=training)
        return ops.reshape(outputs, (-1, time_steps) + tuple(outputs.shape[1:]))


@keras.saving.register_keras_serializable(package="keras_trt")
class TemporalBatchNorm(keras.layers.Layer):
    """tdBN: BatchNorm per channel (last axis) over batch, time and all spatial axes.

    Training uses the batch statistics over every axis but the last; inference uses the
    moving statistics. PyTorch conventions, as the reference code: `epsilon=1e-5`,
    `momentum=0.1` meaning `moving = (1 - momentum) * moving + momentum * batch_stat`,
    and the moving variance updated with the unbiased (n / (n - 1)) batch variance.

    Data-parallel training (`keras_trt.distribute`): `sync=True` computes the statistics
    over the global batch (all replicas; the same numbers as one device with that
    batch); `sync=False` over each replica's share on TensorFlow and torch, as the
    reference code's DataParallel does. On JAX a step is one program on the global
    batch, so the statistics are the global batch's either way. The moving statistics
    stay equal on every replica: TensorFlow averages the replicas' updates, torch DDP
    broadcasts the first process's. `sync=None` takes the `sync_batch_norm` of the
    enclosing `kt.distribute.auto(...)` (False outside one).
    Statistics and the affine transform are computed in float32 under mixed precision
    (float16/bfloat16 compute dtype) and in float64 under a float64 policy
    (`keras_trt.precision.accumulation_dtype` of the variable dtype).

    ```python
    import keras
    import keras_trt as kt
    bn = kt.TemporalBatchNorm()
    y = bn(keras.random.normal((8, 4, 16, 16, 32)), training=True)
    ```
    """

    def __init__(self, momentum=0.1, epsilon=1e-5, center=True, scale=True,
                 unbiased_moving_variance=True, sync=None, **kwargs):
        super().__init__(**kwargs)
        momentum, epsilon = float(momentum), float(epsilon)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"TemporalBatchNorm: `momentum` must be in [0, 1] (PyTorch "
                             f"convention: weight of the new batch), got {momentum}.")
        if not epsilon > 0:
            raise ValueError(f"TemporalBatchNorm: `epsilon` must be > 0, got {epsilon}.")
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = bool(center)
        self.scale = bool(scale)
        self.unbiased_moving_variance = bool(unbiased_moving_variance)
        if sync is None:
            sync = distribute.sync_batch_norm_default()
        if not isinstance(sync, bool):
            raise TypeError(f"TemporalBatchNorm: `sync` must be True, False or None, got "
                            f"{sync!r}.")
        self.sync = sync

    def build(self, input_shape):
        require_time_axis(self, input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"TemporalBatchNorm '{self.name}': the channel axis (last) "
                             f"must be known, got shape {tuple(input_shape)}.")
        shape = (channels,)
        # autocast=False: Keras would otherwise hand call() these weights in the
        # (bfloat16/float16) compute dtype; statistics and affine stay in the variable
        # dtype (float32 under mixed precision, float64 under a float64 policy).
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma",
                                     trainable=True, autocast=False) if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta",
                                    trainable=True, autocast=False) if self.center else None
        # aggregation="mean": a TensorFlow replica's update of a mirrored variable is
        # averaged over the replicas, so every replica keeps the same moving statistics
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", autocast=False,
                                           name="moving_mean", trainable=False,
                                           aggregation="mean")
        self.moving_variance = self.add_weight(shape=shape, initializer="ones", autocast=False,
                                               name="moving_variance", trainable=False,
                                               aggregation="mean")
        self.built = True

    def call(self, inputs, training=None):
        dtype = precision.accumulation_dtype(self.variable_dtype)
        # torch's fused kernel updates the moving variance with the unbiased estimate only,
        # and in place: only variables in the accumulation dtype (not those of a pure
        # float16 policy)
        kernel = None
        across_replicas = bool(training) and self.sync and distribute.reduces_across_replicas()
        if self.unbiased_moving_variance and not across_replicas and \
                keras.backend.standardize_dtype(self.variable_dtype) == dtype:
            kernel = backend.fast_kernel("batch_norm")
        if kernel is not None:
            # torch's batch_norm takes a bfloat16/float16 input with float32 statistics
            # and affine weights as it is (it accumulates in float32 and returns the
            # input's dtype): no full-size cast of the input or the output
            x = inputs if keras.backend.standardize_dtype(inputs.dtype) in (
                "bfloat16", "float16") and dtype == "float32" else ops.cast(inputs, dtype)
            outputs = kernel(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                             training, self.momentum, self.epsilon)
            if outputs is not None:
                return ops.cast(outputs, self.compute_dtype)
        x = ops.cast(inputs, dtype)
        axes = tuple(range(len(x.shape) - 1))
        if across_replicas:
            mean, variance, count = _global_moments(x, axes)
            self._update_moving_statistics(count, mean, variance)
        elif training:
            mean, variance = ops.moments(x, axes=axes)
            self._update_moving_statistics(ops.size(x) // ops.shape(x)[-1], mean, variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        outputs = ops.batch_normalization(
            x, ops.cast(mean, dtype), ops.cast(variance, dtype), axis=-1,
            offset=None if self.beta is None else ops.cast(self.beta, dtype),
            scale=None if self.gamma is None else ops.cast(self.gamma, dtype),
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)

    def _update_moving_statistics(self, count, mean, variance):
        dtype = mean.dtype
        if self.unbiased_moving_variance:
            # n / max(n - 1, 1) from the integer count: a float maximum would run in
            # float32 for float64 on torch
            variance = (variance * ops.cast(count, dtype)
                        / ops.cast(ops.maximum(count - 1, 1), dtype))
        m = self.momentum
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            update = (1.0 - m) * ops.cast(moving, dtype) + m * ops.stop_gradient(batch)
            moving.assign(ops.cast(update, moving.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon, center=self.center,
                      scale=self.scale, unbiased_moving_variance=self.unbiased_moving_variance,
                      sync=self.sync)
        return config


def _global_moments(x, axes):
    """Mean, (biased) variance and element count per channel over the global batch of a
    data-parallel step: sums and counts averaged over the replicas, so replicas with
    batches of different sizes (a last partial batch) weigh by their counts."""
    local_count = ops.size(x) // ops.shape(x)[-1]
    count = distribute.cross_replica_mean(ops.cast(ops.reshape(local_count, (1,)), x.dtype))
    mean = distribute.cross_replica_mean(ops.sum(x, axis=axes)) / count
    # the second pass about the global mean, as ops.moments, not E[x^2] - E[x]^2
    squares = ops.sum(ops.square(x - mean), axis=axes)
    variance = distribute.cross_replica_mean(squares) / count
    replicas = distribute.num_replicas()
    total = ops.cast(ops.round(count[0] * replicas), "int32")
    return mean, variance, total


@keras.saving.register_keras_serializable(package="keras_trt")
class RepeatTime(keras.layers.Layer):
    """Repeats a static input T times on a new axis 1: (B, ...) -> (B, T, ...).

    ```python
    import keras
    import keras_trt as kt
    frames = kt.RepeatTime(6)(keras.ops.zeros((2, 32, 32, 3)))   # (2, 6, 32, 32, 3)
    ```
    """

    def __init__(self, timesteps, **kwargs):
        super().__init__(**kwargs)
        self.timesteps = positive_int(timesteps, "timesteps", "RepeatTime")

    def call(self, inputs):
        x = ops.expand_dims(inputs, 1)
        return ops.repeat(x, self.timesteps, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.timesteps) + tuple(input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(timesteps=self.timesteps)
        return config


@keras.saving.register_keras_serializable(package="keras_trt")
class TileTime(keras.layers.Layer):
    """Repeats a length-1 time axis `timesteps` times: (B, 1, ...) -> (B, T, ...).

    The models' stem on static images uses it when its first conv+BN runs once and the
    output is repeated over time (numerically the same as repeating the image;
    docs/method.md, Input encoding).

    ```python
    import keras
    import keras_trt as kt
    frames = kt.TileTime(6)(keras.ops.zeros((2, 1, 8, 8, 16)))   # (2, 6, 8, 8, 16)
    ```
    """

    def __init__(self, timesteps, **kwargs):
        super().__init__(**kwargs)
        self.timesteps = positive_int(timesteps, "timesteps", "TileTime")

    def build(self, input_shape):
        if len(input_shape) < 3 or input_shape[1] != 1:
            raise ValueError(f"TileTime '{self.name}': expected input (batch, 1, ...), got "
                             f"shape {tuple(input_shape)}.")
        self.built = True

    def call(self, inputs):
        return ops.repeat(inputs, self.timesteps, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.timesteps) + tuple(input_shape[2:])

    def get_config(self):
        config = super().get_config()
        config.update(timesteps=self.timesteps)
        return config


@keras.saving.register_keras_serializable(package="keras_trt")
class TimeAverage(keras.layers.Layer):
    """Mean over the time axis: (B, T, ...) -> (B, ...).

    With `stateful=True` (streaming inference, see `keras_trt.streaming_model`) the layer
    keeps the running sum and count of the timesteps of all calls since the last
    `reset_state()` and returns their mean: after T calls on (B, 1, ...) it is the mean
    over the T steps (to rounding: the sum is accumulated step by step). The state needs
    a static batch size and is computed in float32 (float64 under a float64 policy).

    ```python
    import keras
    import keras_trt as kt
    logits = kt.TimeAverage()(keras.ops.ones((2, 10, 5)))        # (2, 5)
    ```
    """

    def __init__(self, stateful=False, **kwargs):
        super().__init__(**kwargs)
        self.stateful = bool(stateful)
        self.total = self.count = None

    def build(self, input_shape):
        require_time_axis(self, input_shape)
        if self.stateful:
            frame_shape = stateful_frame_shape(self, input_shape, "a running sum per sample")
            dtype = precision.accumulation_dtype(self.variable_dtype)
            self.total = self.add_weight(shape=frame_shape, initializer="zeros",
                                         name="total", trainable=False, autocast=False,
                                         dtype=dtype)
            self.count = self.add_weight(shape=(), initializer="zeros", name="count",
                                         trainable=False, autocast=False, dtype=dtype)
        self.built = True

    def reset_state(self):
        """Forgets the timesteps seen so far (no-op when not stateful)."""
        if self.total is not None:
            self.total.assign(ops.zeros(self.total.shape, dtype=self.total.dtype))
            self.count.assign(ops.zeros((), dtype=self.count.dtype))

    def reset_states(self):
        """Alias of `reset_state()`, as Keras' recurrent layers have."""
        self.reset_state()

    def call(self, inputs):
        if not self.stateful:
            return precision.mean(inputs, axis=1)
        x = ops.cast(inputs, self.total.dtype)
        total = ops.convert_to_tensor(self.total)
        for x_t in ops.unstack(x, axis=1):
            total = total + x_t
        count = ops.convert_to_tensor(self.count) + float(x.shape[1])
        self.total.assign(total)
        self.count.assign(count)
        return ops.cast(total / count, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])

    def get_config(self):
        config = super().get_config()
        config.update(stateful=self.stateful)
        return config
