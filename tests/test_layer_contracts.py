"""Every public keras-trt layer keeps the Keras layer contract (keras_trt.testing's
`run_layer_test`: config round trip, symbolic and eager calls, a fit step, mixed
precision, a `.keras` round trip), and a SpikingModel the model contract. CASES must name
every layer class keras-trt registers for serialization."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import run_layer_test, run_model_test

# (class, init kwargs or a function making them, input shape, expected output shape);
# batch 2, T 2, 3 features or channels: the contract, not the numbers, is tested here.
CASES = {
    "LIF": (kt.LIF, {"tau": 3.0, "v_threshold": 0.5, "v_reset": None,
                     "surrogate": kt.surrogates.ATan(3.0), "detach_reset": True,
                     "time_loop": "scan", "implementation": "autodiff"},
            (2, 2, 3), (2, 2, 3)),
    "IF": (kt.IF, {"v_threshold": 0.5}, (2, 2, 3), (2, 2, 3)),
    "TemporalBatchNorm": (kt.TemporalBatchNorm, {"momentum": 0.2}, (2, 2, 4, 4, 3),
                          (2, 2, 4, 4, 3)),
    "RepeatTime": (kt.RepeatTime, {"timesteps": 2}, (2, 3), (2, 2, 3)),
    "TimeAverage": (kt.TimeAverage, {}, (2, 2, 3), (2, 3)),
    "TimeDistributed": (kt.TimeDistributed, lambda: {"layer": keras.layers.Dense(4)},
                        (2, 2, 3), (2, 2, 4)),
    "Remat": (kt.Remat, lambda: {"layer": keras.Sequential(
        [kt.TimeDistributed(keras.layers.Dense(4)), kt.TemporalBatchNorm(), kt.LIF()])},
        (2, 2, 3), (2, 2, 4)),
    "Remat(time_chunk=1)": (kt.Remat, lambda: {"layer": keras.Sequential(
        [kt.TimeDistributed(keras.layers.Dense(4)), kt.TemporalBatchNorm(), kt.LIF()]),
        "time_chunk": 1}, (2, 2, 3), (2, 2, 4)),
    "spatial.Conv2D": (kt.spatial.Conv2D, {"filters": 4, "kernel_size": 3,
                                           "padding": "same"}, (2, 4, 4, 3), (2, 4, 4, 4)),
    "spatial.AveragePooling2D": (kt.spatial.AveragePooling2D, {"pool_size": 2},
                                 (2, 4, 4, 3), (2, 2, 2, 3)),
    "spatial.MaxPooling2D": (kt.spatial.MaxPooling2D, {"pool_size": 2}, (2, 4, 4, 3),
                             (2, 2, 2, 3)),
    "dense.Dense": (kt.dense.Dense, {"units": 4}, (2, 3), (2, 4)),
    "TileTime": (kt.models.TileTime, {"timesteps": 2}, (2, 1, 3), (2, 2, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_contract(case):
    layer_cls, init_kwargs, input_shape, output_shape = CASES[case]
    run_layer_test(layer_cls, init_kwargs, input_shape=input_shape,
                   expected_output_shape=output_shape)


def test_every_registered_layer_has_a_case():
    registered = {cls for key, cls in keras.saving.get_custom_objects().items()
                  if key.startswith("keras_trt>") and isinstance(cls, type)
                  and issubclass(cls, keras.layers.Layer)
                  and not issubclass(cls, keras.Model)}
    tested = {case[0] for case in CASES.values()}
    assert registered, "no keras_trt layer registered: the lookup is broken"
    assert not registered - tested, sorted(c.__name__ for c in registered - tested)


def tiny_spiking_model():
    inputs = keras.Input((2, 3))
    h = kt.LIF()(kt.TemporalBatchNorm()(kt.TimeDistributed(keras.layers.Dense(4))(inputs)))
    return kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(2))(h))


def test_spiking_model_contract():
    run_model_test(tiny_spiking_model, x=np.random.default_rng(0).uniform(0, 2, (2, 2, 3)),
                   y=np.array([0, 1]), loss=kt.losses.TRTLoss(),
                   expected_output_shape=(2, 2, 2))


class _ForgetsUnits(keras.layers.Layer):
    """A layer whose config forgets an argument."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        return inputs[..., :self.units]

    def get_config(self):
        config = super().get_config()
        config.pop("units", None)
        return config


class _SavesTheDefault(_ForgetsUnits):
    """A layer whose config holds the default, not the value, of an argument."""

    def get_config(self):
        return {**super().get_config(), "units": 2}


@keras.saving.register_keras_serializable(package="keras_trt_tests")
class _StopsGradient(keras.layers.Layer):
    """Trains its own bias but passes no gradient to its input."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        return keras.ops.stop_gradient(inputs) + self.bias


@keras.saving.register_keras_serializable(package="keras_trt_tests")
class _AlwaysFloat32(keras.layers.Layer):
    """Ignores the dtype policy: its output is float32 under mixed precision too."""

    def call(self, inputs):
        return keras.ops.cast(inputs, "float32")


def test_run_layer_test_names_the_broken_check():
    with pytest.raises(AssertionError, match=r"get_config\(\) lacks the arguments \['units'\]"):
        run_layer_test(_ForgetsUnits, {"units": 1}, input_shape=(2, 3))
    with pytest.raises(AssertionError, match="computes other outputs"):
        run_layer_test(_SavesTheDefault, {"units": 1}, input_shape=(2, 3))
    with pytest.raises(AssertionError, match="keras.saving cannot restore it"):
        run_layer_test(type("Unregistered", (keras.layers.Layer,), {"call": lambda _, x: x}),
                       {}, input_shape=(2, 3))
    with pytest.raises(AssertionError, match=r"eager output shape \(2, 1\), expected"):
        run_layer_test(keras.layers.Dense, {"units": 1}, input_shape=(2, 3),
                       expected_output_shape=(2, 2))
    with pytest.raises(AssertionError, match="no gradient reaches its input"):
        run_layer_test(_StopsGradient, {}, input_shape=(2, 3))
    with pytest.raises(AssertionError, match="under mixed_bfloat16 its output is float32"):
        run_layer_test(_AlwaysFloat32, {}, input_shape=(2, 3), run_training_check=False)
