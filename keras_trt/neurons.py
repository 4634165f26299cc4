"""Multi-step spiking neurons: LIF (and IF, its tau=1 case) over the time axis.

The dynamics are those of the TRT reference code (docs/method.md, LIF neuron),
element-wise, for
t = 0..T-1 with u_{-1} = v_reset:

    u_t = u_{t-1} / tau + x_t                    charge
    s_t = H(u_t - v_threshold)                   fire (strict: u == v_threshold is silent)
    u_t = (1 - s_t) * u_t + v_reset * s_t        hard reset (s_t NOT detached)
    u_t = u_t - s_t * v_threshold                soft reset, when v_reset is None

Example:

```python
import numpy as np
import keras_trt as kt

lif = kt.LIF(tau=2.0, v_threshold=1.0, surrogate="triangle")
x = np.random.default_rng(0).normal(1.0, 1.0, (4, 10, 32)).astype("float32")  # (B, T, ...)
spikes = lif(x)   # (4, 10, 32), values exactly 0 or 1
```
"""

import keras
from keras import ops

from keras_trt import precision
from keras_trt import surrogates as surrogates_lib
from keras_trt.layers import require_time_axis, stateful_frame_shape
from keras_trt._neuron_dynamics import check_time_loop, lif_multistep, lif_multistep_fused

__all__ = ["LIF", "IF", "lif_multistep", "lif_multistep_fused"]

IMPLEMENTATIONS = {"fused": lif_multistep_fused, "autodiff": lif_multistep}

@keras.saving.register_keras_serializable(package="keras_trt")
class LIF(keras.layers.Layer):
    """Multi-step leaky integrate-and-fire neuron over axis 1 of a (B, T, ...) input.

    The membrane state starts at `v_reset` at every call and is carried along the time
    axis inside the call (no state across calls), unless `stateful=True`: then the
    membrane is a non-trainable variable of shape (B, ...) (one frame, for the fixed
    batch size B the layer is built with) that each call starts from and ends by
    updating, so that T calls on (B, 1, ...) give the spikes of one call on (B, T, ...),
    bit for bit. `reset_state()` sets it back to `v_reset` (start of a new sequence);
    `keras_trt.streaming_model` converts a whole trained model. Under a mixed-precision policy the
    state and arithmetic are float32, under a float64 policy float64
    (`keras_trt.precision.accumulation_dtype`); the spikes are returned in the compute
    dtype.

    Args:
        tau: membrane time constant, >= 1 (`u = u / tau + x`); tau=1 is IF.
        v_threshold: firing threshold, > 0.
        v_reset: hard-reset potential, or None for a soft reset (subtract the threshold).
        surrogate: a surrogate name ("triangle", "sigmoid", "atan") or instance.
        detach_reset: stop the gradient through the reset (default False, as the paper).
        time_loop: "auto" or "unroll", the same unrolled loop ("scan" is deprecated;
            see `lif_multistep`).
        implementation: "fused" (one custom gradient for the whole sequence with a
            hand-written BPTT: less memory, fewer kernels) or "autodiff" (the framework
            differentiates every timestep). Same values and gradients.
        stateful: keep the membrane across calls (streaming inference, as Keras'
            recurrent layers' `stateful=True`; needs a static batch size). A stateful
            call runs the "autodiff" dynamics with an unrolled loop (the same spikes as
            either implementation); gradients do not flow into earlier calls.

    Example:

    ```python
    import keras
    import keras_trt as kt

    inputs = keras.Input((10, 16))                 # (T, features)
    h = kt.TimeDistributed(keras.layers.Dense(32))(inputs)
    spikes = kt.LIF(tau=2.0, surrogate=kt.surrogates.Triangle(gamma=1.0))(h)
    ```
    """

    def __init__(
        self,
        # the model builders (keras_trt.models) repeat these keywords in their signatures
        tau=2.0,
        v_threshold=1.0,
        v_reset=0.0,
        surrogate="triangle",
        detach_reset=False,
        time_loop="auto",
        implementation="fused",
        stateful=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        tau = float(tau)
        if not tau >= 1.0:
            raise ValueError(f"LIF: `tau` must be >= 1 (leak factor 1/tau <= 1), got {tau}.")
        v_threshold = float(v_threshold)
        if not v_threshold > 0:
            raise ValueError(f"LIF: `v_threshold` must be > 0, got {v_threshold}.")
        # a saved "scan" loads with a DeprecationWarning and is saved back as "unroll"
        time_loop = check_time_loop(time_loop, "LIF")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"LIF: `implementation` must be one of {tuple(IMPLEMENTATIONS)}, "
                             f"got {implementation!r}.")
        self.implementation = implementation
        self.tau = tau
        self.v_threshold = v_threshold
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate = surrogates_lib.get(surrogate)
        self.detach_reset = bool(detach_reset)
        self.time_loop = time_loop
        self.stateful = bool(stateful)
        self.membrane = None
        self.supports_masking = False

    def build(self, input_shape):
        require_time_axis(self, input_shape)
        if self.stateful:
            frame_shape = stateful_frame_shape(
                self, input_shape, "one membrane per sample and neuron")
            self.membrane = self.add_weight(
                shape=frame_shape, name="membrane", trainable=False, autocast=False,
                initializer=keras.initializers.Constant(self._initial_membrane()),
                dtype=precision.accumulation_dtype(self.variable_dtype))
        self.built = True

    def _initial_membrane(self):
        return 0.0 if self.v_reset is None else self.v_reset

    def reset_state(self):
        """Sets a stateful layer's membrane back to its initial value (`v_reset`, or 0
        for a soft reset): the next call starts a new sequence. No-op when not stateful."""
        if self.membrane is not None:
            self.membrane.assign(ops.full(self.membrane.shape, self._initial_membrane(),
                                          dtype=self.membrane.dtype))

    def reset_states(self):
        """Alias of `reset_state()`, as Keras' recurrent layers have."""
        self.reset_state()

    def call(self, inputs):
        state_dtype = precision.accumulation_dtype(self.variable_dtype)
        if self.stateful:
            x = ops.cast(inputs, state_dtype)
            return ops.cast(self._stateful_call(x), self.compute_dtype)
        if self.implementation == "fused":
            # the input as it is: the fused form promotes it to the state's dtype (on
            # torch one frame at a time, without a full-size cast) and returns the
            # spikes in the input's dtype
            dtype = keras.backend.standardize_dtype(inputs.dtype)
            x = inputs if dtype in ("bfloat16", "float16", state_dtype) else ops.cast(
                inputs, state_dtype)
            spikes = lif_multistep_fused(
                x, tau=self.tau, v_threshold=self.v_threshold, v_reset=self.v_reset,
                spike_fn=self.surrogate, detach_reset=self.detach_reset,
                time_loop=self.time_loop, state_dtype=state_dtype)
            return ops.cast(spikes, self.compute_dtype)
        spikes = IMPLEMENTATIONS[self.implementation](
            ops.cast(inputs, state_dtype),
            tau=self.tau,
            v_threshold=self.v_threshold,
            v_reset=self.v_reset,
            spike_fn=self.surrogate,
            detach_reset=self.detach_reset,
            time_loop=self.time_loop,
        )
        return ops.cast(spikes, self.compute_dtype)

    def _stateful_call(self, x):
        batch, expected = x.shape[0], self.membrane.shape[0]
        if batch is not None and batch != expected:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': this stateful layer keeps the "
                f"membrane of {expected} samples, got a batch of {batch}. Feed batches "
                f"of {expected}, or convert the model again for this batch size.")
        # A copy: torch's autograd must not see the variable's storage, which the
        # assignment below overwrites in place.
        membrane = ops.copy(ops.convert_to_tensor(self.membrane))
        spikes, after_reset = lif_multistep(
            x, tau=self.tau, v_threshold=self.v_threshold, v_reset=self.v_reset,
            spike_fn=self.surrogate, detach_reset=self.detach_reset, time_loop="unroll",
            return_membrane=True, initial_membrane=membrane)
        self.membrane.assign(after_reset[:, -1])
        return spikes

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            tau=self.tau,
            v_threshold=self.v_threshold,
            v_reset=self.v_reset,
            surrogate=surrogates_lib.serialize(self.surrogate),
            detach_reset=self.detach_reset,
            time_loop=self.time_loop,
            implementation=self.implementation,
            stateful=self.stateful,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_trt")
class IF(LIF):
    """Integrate-and-fire neuron: `LIF` with tau = 1 (no leak), as SEW-ResNet on ImageNet.

    ```python
    import keras_trt as kt
    neuron = kt.IF(v_threshold=1.0)
    ```
    """

    def __init__(self, v_threshold=1.0, v_reset=0.0, surrogate="triangle", **kwargs):
        # its config carries tau=1.0 (from LIF's): accepted, any other tau is refused
        tau = kwargs.pop("tau", 1.0)
        if tau != 1.0:
            raise ValueError(f"IF: `tau` must be 1 (an integrate-and-fire neuron has no "
                             f"leak), got tau={tau!r}; for a leaky neuron use "
                             f"kt.LIF(tau={tau!r}).")
        super().__init__(tau=1.0, v_threshold=v_threshold, v_reset=v_reset,
                         surrogate=surrogate, **kwargs)
