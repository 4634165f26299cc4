"""Tiny functional SpikingModels for the analysis tests (no dependency on keras_trt.models)."""

import keras
import numpy as np

import keras_trt as kt


def dyadic(rng, shape, denominator=8, low=-8, high=9):
    """Random multiples of 1/denominator: sums and LIF updates stay exact in float32."""
    return (rng.integers(low, high, shape) / denominator).astype("float32")


def mlp_snn(T=4, features=6, hidden=(8, 5), classes=3, names=("lif1", "lif2"), bn=False,
            seed=0):
    """Input (T, features) -> [Dense -> (tdBN) -> LIF] per hidden size -> Dense head."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((T, features))
    h = inputs
    for k, (units, name) in enumerate(zip(hidden, names)):
        h = kt.TimeDistributed(keras.layers.Dense(units, name=f"fc{k + 1}"), name=f"fc{k + 1}")(h)
        if bn:
            h = kt.TemporalBatchNorm(name=f"bn{k + 1}")(h)
        h = kt.LIF(name=name)(h)
    outputs = kt.TimeDistributed(keras.layers.Dense(classes, name="head"), name="head")(h)
    return kt.SpikingModel(inputs, outputs, name="mlp_snn")


def set_dyadic_weights(model, rng):
    for v in model.trainable_variables:
        v.assign(dyadic(rng, tuple(v.shape)))


def conv_snn(T=2, size=6, channels=2, classes=3):
    """Input (T, size, size, channels) -> conv/tdBN/LIF -> avgpool -> conv/tdBN/LIF -> head."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((T, size, size, channels))
    h = kt.TimeDistributed(keras.layers.Conv2D(4, 3, padding="same", use_bias=False,
                                               name="conv1"), name="conv1")(inputs)
    h = kt.LIF(name="lif1")(kt.TemporalBatchNorm(name="bn1")(h))
    h = kt.TimeDistributed(keras.layers.AveragePooling2D(2, name="pool1"), name="pool1")(h)
    h = kt.TimeDistributed(keras.layers.Conv2D(
        5, 3, padding="same", use_bias=False, kernel_initializer=keras.initializers.RandomNormal(
            stddev=1.0), name="conv2"), name="conv2")(h)
    h = kt.LIF(name="lif2")(kt.TemporalBatchNorm(name="bn2")(h))
    h = kt.TimeDistributed(keras.layers.Flatten(name="flat"), name="flat")(h)
    outputs = kt.TimeDistributed(keras.layers.Dense(classes, name="head"), name="head")(h)
    return kt.SpikingModel(inputs, outputs, name="conv_snn")


def data(n=32, T=4, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.8, 1.0, (n, T, features)).astype("float32")
    y = rng.integers(0, classes, n).astype("int32")
    return x, y
