"""The three paper networks at tiny widths, in the form NIR can express, with
trained-like tdBN statistics: the networks the NIR export is checked on in other
simulators (tests/export/test_nir_consumers.py, tools/measure_nir_consumers.py).

- "vggsnn": `kt.models.VGGSNN` (event frames (T, 8, 8, 2), widths (4, 8)), LIF tau = 2.
- "resnet19": `kt.models.ResNet19` (a static (8, 8, 3) image, widths (4, 8, 8, 8), 8
  hidden units, whose weights are scaled by 4 so that their LIF fires): membrane
  shortcuts, identity and 1x1 downsample; LIF tau = 2.
- "sew_resnet": SEW-ResNet's ADD blocks (`kt.models.sew_resnet.sew_block`, a spiking
  downsample then an identity block) with its IF neurons (tau = 1) on a static (8, 8, 3)
  image. SEW-ResNet-34's stem max pool has no NIR form (`to_nir` refuses it), so the
  stem is conv + tdBN + IF without the pool.

```python
from keras_trt.testing import nir_networks

model = nir_networks.build("vggsnn")        # built once per process
x = nir_networks.inputs("vggsnn")           # (2, T, 8, 8, 2) in [0, 2)
```
"""

import functools

import keras
import numpy as np

from keras_trt import layers, neurons, training
from keras_trt.models import ResNet19, VGGSNN, sew_resnet
from keras_trt.testing.arrays import randomise_bn_statistics

__all__ = ["NETWORKS", "TIMESTEPS", "build", "inputs"]

TIMESTEPS = 3
NETWORKS = ("vggsnn", "resnet19", "sew_resnet")


def _sew_resnet():
    neuron = dict(tau=1.0, v_threshold=1.0, v_reset=0.0, surrogate="triangle",
                  detach_reset=False, time_loop="unroll")
    images = keras.Input((8, 8, 3), name="images")
    x = layers.RepeatTime(TIMESTEPS, name="repeat_time")(images)
    x = layers.TimeDistributed(keras.layers.Conv2D(4, 3, padding="same", use_bias=False,
                                                   name="stem_conv"), name="stem_conv")(x)
    x = layers.TemporalBatchNorm(epsilon=1e-5, name="stem_bn")(x)
    x = neurons.LIF(name="stem_lif", **neuron)(x)
    x = sew_resnet.sew_block(x, 8, 2, neuron, "add", name="block1")
    x = sew_resnet.sew_block(x, 8, 1, neuron, "add", name="block2")
    x = layers.TimeDistributed(keras.layers.GlobalAveragePooling2D(name="avg_pool"),
                               name="avg_pool")(x)
    outputs = layers.TimeDistributed(keras.layers.Dense(5, name="classifier"),
                                     name="classifier")(x)
    return training.SpikingModel(images, outputs, name="sew_resnet")


@functools.lru_cache(maxsize=None)   # model construction takes seconds on JAX
def build(name):
    """The network `name` (one of NETWORKS), seeded, with randomised tdBN statistics."""
    if name not in NETWORKS:
        raise ValueError(f"build: `name` must be one of {NETWORKS}, got {name!r}.")
    keras.utils.set_random_seed(0)
    if name == "vggsnn":
        model = VGGSNN(num_classes=5, input_shape=(TIMESTEPS, 8, 8, 2), widths=(4, 8),
                       time_loop="unroll")
    elif name == "resnet19":
        model = ResNet19(num_classes=5, timesteps=TIMESTEPS, input_shape=(8, 8, 3),
                         widths=(4, 8, 8, 8), hidden_units=8, time_loop="unroll")
    else:
        model = _sew_resnet()
    randomise_bn_statistics(model)
    if name == "resnet19":
        # fresh weights leave the LIF after the 8-unit Linear silent; 4x makes it fire
        fc = model.get_layer("fc").layer
        fc.kernel.assign(4.0 * keras.ops.convert_to_numpy(fc.kernel))
    return model


def inputs(name, batch=2, seed=1):
    """An input batch for `build(name)`: (batch, T, 8, 8, 2) frames or (batch, 8, 8, 3)
    images, uniform in [0, 2) (the first layers fire)."""
    shape = (batch, TIMESTEPS, 8, 8, 2) if name == "vggsnn" else (batch, 8, 8, 3)
    return np.random.default_rng(seed).uniform(0.0, 2.0, shape).astype("float32")
