"""Arrays for tests: any backend's tensor as NumPy, and an input that makes neurons fire.

```python
import keras_trt as kt
from keras_trt.testing import many_spike_input, to_numpy

x = many_spike_input((2, 6, 4))            # (batch, T, features), float32
spikes = to_numpy(kt.LIF()(x))
assert 0.1 < spikes.mean() < 0.9           # the neurons fire and reset
```
"""

import keras
import numpy as np

__all__ = ["many_spike_input", "randomise_bn_statistics", "to_numpy"]


def to_numpy(x):
    """`x` (a tensor of the running backend, a NumPy array or a Python number) as a
    NumPy array, for `np.testing` assertions."""
    return keras.ops.convert_to_numpy(x)


def many_spike_input(shape, seed=0):
    """A float32 input of `shape` drawn from N(0.6, 0.9): with the default threshold of 1
    a LIF neuron fed it both fires and resets often, so a test of its dynamics exercises
    every branch (spike, no spike, reset), not just the silent one."""
    return np.random.default_rng(seed).normal(0.6, 0.9, shape).astype("float32")


def randomise_bn_statistics(model, seed=0):
    """Gives every `kt.TemporalBatchNorm` of `model` moving statistics, scale and shift as
    after training (fresh ones are 0 and 1, which hide mistakes in how inference uses them).

    ```python
    import keras_trt as kt
    from keras_trt.testing import randomise_bn_statistics

    model = kt.models.VGGSNN(num_classes=2, input_shape=(2, 8, 8, 2), widths=(2, 2, 2, 2))
    randomise_bn_statistics(model, seed=1)
    ```
    """
    from keras_trt.layers import TemporalBatchNorm

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, TemporalBatchNorm):
            n = layer.gamma.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.3, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.gamma.assign(rng.uniform(0.8, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0.2, 0.3, n).astype("float32"))
