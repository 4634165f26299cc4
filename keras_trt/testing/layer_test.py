"""The contract of a Keras layer or model, checked in one call: `run_layer_test` and
`run_model_test` (in the spirit of keras-hub's `TestCase.run_layer_test`).

For a layer, `run_layer_test` checks that
1. the config round trips: it holds every argument given, `from_config(get_config())`
   gives an equal config and `keras.saving` serializes the layer as its own class;
   the revived layer with the same weights computes the same outputs;
2. a symbolic call (`keras.KerasTensor`, batch None) and an eager call give the expected
   output shape, and agree with each other and with `compute_output_shape` where the
   layer defines one;
3. one `fit` step of a tiny model around the layer changes its trainable weights and
   reaches its input (the gradient flows through it, through a surrogate for spikes);
4. under a mixed precision policy the output has the compute dtype and the weights the
   variable dtype;
5. a `.keras` save and load of the trained layer gives the same outputs.

```python
import keras
import keras_trt as kt
from keras_trt.testing import run_layer_test

run_layer_test(kt.LIF, {"tau": 2.0}, input_shape=(2, 3, 4), expected_output_shape=(2, 3, 4))
# a wrapper: a function making fresh arguments, so each check gets its own inner layer
run_layer_test(kt.TimeDistributed, lambda: {"layer": keras.layers.Dense(5)},
               input_shape=(2, 3, 4), expected_output_shape=(2, 3, 5))
```
"""

import copy
import os
import tempfile

import keras
import numpy as np

from keras_trt.testing.arrays import many_spike_input, to_numpy

__all__ = ["run_layer_test", "run_model_test"]


def run_layer_test(layer_cls, init_kwargs, input_shape=None, input_data=None,
                   expected_output_shape=None, call_kwargs=None,
                   expected_num_trainable_weights=None,
                   expected_num_non_trainable_weights=None,
                   run_training_check=True, run_precision_check=True,
                   run_saving_check=True, precision_policy="mixed_bfloat16",
                   rtol=1e-6, atol=1e-6):
    """Checks the contract above for `layer_cls(**init_kwargs)`; raises AssertionError
    naming the broken check.

    Args:
        layer_cls: the layer class.
        init_kwargs: its constructor's arguments: a dict, or a function returning one
            (for arguments that are layers: each check then builds fresh ones, under the
            dtype policy of the check).
        input_shape: the input's shape with its batch size; the input is then
            `many_spike_input(input_shape)` (values around a neuron's threshold).
        input_data: or the input itself (a NumPy array).
        expected_output_shape: the output's shape for that input, batch included.
        call_kwargs: extra arguments of every call (e.g. `{"training": False}`).
        expected_num_trainable_weights, expected_num_non_trainable_weights: optional
            counts, checked after the eager call.
        run_training_check, run_precision_check, run_saving_check: turn checks 3 to 5
            off (the round trip, symbolic and eager checks always run).
        precision_policy: the policy of check 4 ("mixed_bfloat16" runs on every
            backend's CPU; TensorFlow's CPU convolutions have no float16 kernel).
        rtol, atol: tolerances of the save/load comparison.
    """
    if (input_shape is None) == (input_data is None):
        raise ValueError("run_layer_test: give one of `input_shape` or `input_data`.")
    x = many_spike_input(input_shape) if input_data is None else np.asarray(input_data)
    call_kwargs = dict(call_kwargs or {})
    make = init_kwargs if callable(init_kwargs) else (lambda: dict(init_kwargs))
    name = layer_cls.__name__

    _check_config_round_trip(layer_cls, make(), x, call_kwargs)

    layer = layer_cls(**make())
    symbolic = layer(keras.KerasTensor((None,) + x.shape[1:], dtype=str(x.dtype)),
                     **call_kwargs)
    _assert(isinstance(symbolic, keras.KerasTensor),
            f"{name}: a symbolic call returned {type(symbolic).__name__}, not a KerasTensor")
    layer = layer_cls(**make())
    eager = layer(x, **call_kwargs)
    eager_shape = tuple(eager.shape)
    if expected_output_shape is not None:
        _assert(eager_shape == tuple(expected_output_shape),
                f"{name}: eager output shape {eager_shape}, expected "
                f"{tuple(expected_output_shape)}")
    _assert(tuple(symbolic.shape) == (None,) + eager_shape[1:],
            f"{name}: the symbolic output shape {tuple(symbolic.shape)} differs from the "
            f"eager one {eager_shape}")
    _assert(keras.backend.standardize_dtype(symbolic.dtype)
            == keras.backend.standardize_dtype(eager.dtype),
            f"{name}: symbolic output dtype {symbolic.dtype}, eager {eager.dtype}")
    if type(layer).compute_output_shape is not keras.layers.Layer.compute_output_shape:
        computed = tuple(layer.compute_output_shape(x.shape))
        _assert(computed == eager_shape,
                f"{name}: compute_output_shape gives {computed}, the call {eager_shape}")
    for expected, weights, kind in (
            (expected_num_trainable_weights, layer.trainable_weights, "trainable"),
            (expected_num_non_trainable_weights, layer.non_trainable_weights,
             "non-trainable")):
        _assert(expected is None or len(weights) == expected,
                f"{name}: {len(weights)} {kind} weights, expected {expected}")

    if run_training_check or run_saving_check:
        layer = layer_cls(**make())
        if run_training_check:
            _check_fit_step(layer, x, call_kwargs, name)
        if run_saving_check:
            _check_saving(layer, x, call_kwargs, name, rtol, atol)
    if run_precision_check:
        _check_precision(layer_cls, make, x, call_kwargs, precision_policy, name)


def run_model_test(model_fn, x, y, loss, expected_output_shape=None, rtol=1e-6, atol=1e-6):
    """Checks a model's contract: its config round trips (same class, equal config), an
    eager call gives `expected_output_shape`, one `fit` step on (`x`, `y`) with `loss`
    changes its trainable weights, and a `.keras` save and load gives the same
    predictions.

    ```python
    import keras
    import numpy as np
    import keras_trt as kt
    from keras_trt.testing import run_model_test

    def tiny_snn():
        inputs = keras.Input((2, 3))                       # (T, features)
        h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(4))(inputs))
        return kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(2))(h))

    x = np.random.default_rng(0).uniform(0, 2, (2, 2, 3)).astype("float32")
    run_model_test(tiny_snn, x, y=np.array([0, 1]), loss=kt.losses.TRTLoss(),
                   expected_output_shape=(2, 2, 2))
    ```
    """
    model = model_fn()
    name = type(model).__name__
    config = model.get_config()
    clone = type(model).from_config(copy.deepcopy(config))
    _assert(type(clone) is type(model) and clone.get_config() == config,
            f"{name}: from_config(get_config()) gives a different config")
    outputs = model(x)
    if expected_output_shape is not None:
        _assert(tuple(outputs.shape) == tuple(expected_output_shape),
                f"{name}: output shape {tuple(outputs.shape)}, expected "
                f"{tuple(expected_output_shape)}")
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss, jit_compile=_jit_compile())
    before = [to_numpy(w) for w in model.trainable_weights]
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    changed = [not np.array_equal(b, to_numpy(w))
               for b, w in zip(before, model.trainable_weights)]
    _assert(any(changed), f"{name}: a fit step changed none of its trainable weights")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    _assert(type(loaded) is type(model),
            f"{name}: loaded back as {type(loaded).__name__}")
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)),
                               to_numpy(model(x, training=False)),
                               rtol=rtol, atol=atol,
                               err_msg=f"{name}: predictions after a .keras round trip")


def _jit_compile():
    # For one fit step: JAX runs op by op slowly unless compiled; XLA on TensorFlow and
    # torch.compile cost more to compile than the step.
    return keras.backend.backend() == "jax"


def _assert(condition, message):
    if not condition:
        raise AssertionError(message)


def _check_config_round_trip(layer_cls, kwargs, x, call_kwargs):
    layer = layer_cls(**kwargs)
    name = layer_cls.__name__
    config = layer.get_config()
    missing = sorted(set(kwargs) - set(config))
    _assert(not missing, f"{name}: get_config() lacks the arguments {missing}")
    revived = layer_cls.from_config(copy.deepcopy(config))   # Wrapper's pops "layer"
    _assert(revived.get_config() == config,
            f"{name}: from_config(get_config()) gives a different config:\n{config}\n"
            f"{revived.get_config()}")
    # An argument that get_config forgets leaves the configs equal but the layers not:
    # the revived layer, given the same weights, must compute the same outputs.
    expected = to_numpy(layer(x, **call_kwargs))
    revived(x, **call_kwargs)
    revived.set_weights(layer.get_weights())
    actual = to_numpy(revived(x, **call_kwargs))
    _assert(actual.shape == expected.shape and np.array_equal(actual, expected),
            f"{name}: the layer from_config(get_config()) computes other outputs (an "
            "argument missing from get_config?)")
    # What a .keras file stores and reads back: the registered class, not a base class.
    try:
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(layer))
    except TypeError as error:
        raise AssertionError(f"{name}: keras.saving cannot restore it ({error})") from error
    _assert(type(restored) is layer_cls,
            f"{name}: keras.saving restores it as {type(restored).__name__}; register it "
            "with @keras.saving.register_keras_serializable")


class _InputWeights(keras.layers.Layer):
    """One trainable factor per input element, all 1: a fit step changes them only
    where the gradient flows back through the layer under test (per element, so that a
    normalization, invariant to a common scale or shift, still passes it on)."""

    def build(self, input_shape):
        self.factors = self.add_weight(shape=tuple(input_shape[1:]), initializer="ones")

    def call(self, inputs):
        return inputs * self.factors


def _check_fit_step(layer, x, call_kwargs, name):
    inputs = keras.Input(x.shape[1:], dtype=str(x.dtype))
    scale = _InputWeights()
    outputs = layer(scale(inputs), **call_kwargs)
    model = keras.Model(inputs, outputs)
    target = np.random.default_rng(1).normal(0, 1, tuple(outputs.shape[1:]))
    target = np.broadcast_to(target, (len(x),) + target.shape).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse", jit_compile=_jit_compile())
    before = [to_numpy(w) for w in layer.trainable_weights]
    before_input = to_numpy(scale.factors)
    model.fit(x, target, batch_size=len(x), epochs=1, verbose=0)
    for old, weight in zip(before, layer.trainable_weights):
        _assert(not np.array_equal(old, to_numpy(weight)),
                f"{name}: a fit step left its trainable weight '{weight.path}' unchanged")
    _assert(not np.array_equal(before_input, to_numpy(scale.factors)),
            f"{name}: no gradient reaches its input in a fit step")


def _check_saving(layer, x, call_kwargs, name, rtol, atol):
    inputs = keras.Input(x.shape[1:], dtype=str(x.dtype))
    model = keras.Model(inputs, layer(inputs, **call_kwargs))
    expected = to_numpy(model(x, training=False))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    restored = [sub for sub in loaded.layers if type(sub) is type(layer)]
    _assert(len(restored) == 1, f"{name}: the loaded model holds no {name}")
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)), expected, rtol=rtol,
                               atol=atol, err_msg=f"{name}: outputs after a .keras round trip")


def _check_precision(layer_cls, make, x, call_kwargs, policy_name, name):
    policy = keras.DTypePolicy(policy_name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        layer = layer_cls(**make())
        outputs = layer(x, **call_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    dtype = keras.backend.standardize_dtype(outputs.dtype)
    _assert(not _is_float(dtype) or dtype == policy.compute_dtype,
            f"{name}: under {policy_name} its output is {dtype}, not "
            f"{policy.compute_dtype}")
    for weight in layer.weights:
        dtype = keras.backend.standardize_dtype(weight.dtype)
        _assert(not _is_float(dtype) or dtype == policy.variable_dtype,
                f"{name}: under {policy_name} its weight '{weight.path}' is {dtype}, not "
                f"{policy.variable_dtype}")


def _is_float(dtype):
    return "float" in dtype
