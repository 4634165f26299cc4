"""A tiny SpikingModel (conv, tdBN, LIF, pooling, dense) on (T, 6, 6, 2) frames and its
random data, shared by the training, labels and input-shape tests."""

import keras
import numpy as np

import keras_trt as kt

T, C = 4, 3


def tiny_model(seed=0, cls=kt.SpikingModel):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((T, 6, 6, 2))
    h = kt.TimeDistributed(keras.layers.Conv2D(4, 3, padding="same", use_bias=False,
                                               name="conv"), name="td_conv")(inputs)
    h = kt.TemporalBatchNorm(name="bn")(h)
    h = kt.LIF(name="lif")(h)
    h = kt.TimeDistributed(keras.layers.GlobalAveragePooling2D(), name="gap")(h)
    outputs = kt.TimeDistributed(keras.layers.Dense(C, name="fc"), name="td_fc")(h)
    return cls(inputs, outputs, name="tiny")


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 2, (n, T, 6, 6, 2)).astype("float32"), rng.integers(0, C, n)
