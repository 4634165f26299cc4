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

__all__ = ["many_spike_input", "to_numpy"]


def to_numpy(x):
    """`x` (a tensor of the running backend, a NumPy array or a Python number) as a
    NumPy array, for `np.testing` assertions."""
    return keras.ops.convert_to_numpy(x)


def many_spike_input(shape, seed=0):
    """A float32 input of `shape` drawn from N(0.6, 0.9): with the default threshold of 1
    a LIF neuron fed it both fires and resets often, so a test of its dynamics exercises
    every branch (spike, no spike, reset), not just the silent one."""
    return np.random.default_rng(seed).normal(0.6, 0.9, shape).astype("float32")
