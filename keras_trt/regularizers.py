"""TRT's time-decaying, weight-dependent weight penalty (SPEC 3.3).

    R = (1/T) sum_{t=0}^{T-1} sum_w lam * w^2 / (1 + (exp(decay * t) - 1) * (|w| + eps))

At t = 0 the factor is exactly `lam` (plain L2); later timesteps shrink it, and they
shrink it faster for larger |w|. (The paper's sentence "heavier weights decay slower"
contradicts its formula; keras-trt follows the formula, which produced the paper's
numbers.) The factor is differentiated too: the gradient flows through |w| in the
denominator.

The reference code loops over every parameter once per timestep; here each weight is
visited once and the T factors are computed as one (T, n) broadcast.

Example:

```python
import numpy as np
import keras_trt as kt

w = np.array([0.5, -1.0], dtype="float32")
kt.regularizers.temporal_weight_penalty([w], timesteps=4, lam=1e-5, decay=0.25, epsilon=1e-5)
```
"""

import math

from keras import ops

__all__ = ["temporal_weight_penalty", "penalized_variables", "EXCLUDED_VARIABLE_NAMES"]

# Keras names of the trainable variables the reference's `"bias" not in name` filter
# excludes: biases and BatchNorm/LayerNorm offsets (PyTorch calls both "bias").
EXCLUDED_VARIABLE_NAMES = ("bias", "beta")


def _short_name(variable):
    return variable.path.split("/")[-1] if hasattr(variable, "path") else variable.name


def penalized_variables(model):
    """The trainable variables TRT penalises: kernels, BatchNorm gammas and any other
    non-bias weight; never biases, BatchNorm betas or moving statistics."""
    return [v for v in model.trainable_variables
            if _short_name(v) not in EXCLUDED_VARIABLE_NAMES]


def decay_offsets(timesteps, decay):
    """The T values exp(decay * t) - 1, t = 0..T-1 (a Python list: constants in the graph)."""
    return [math.expm1(decay * t) for t in range(timesteps)]


def temporal_weight_penalty(weights, timesteps, lam, decay, epsilon):
    """The TRT penalty R of a list of weights for T = `timesteps` (a float32 scalar)."""
    if not weights:
        return ops.convert_to_tensor(0.0, "float32")
    offsets = ops.convert_to_tensor(decay_offsets(timesteps, decay), "float32")[:, None]
    total = 0.0
    for w in weights:
        w = ops.reshape(ops.cast(w, "float32"), (1, -1))
        denominator = 1.0 + offsets * (ops.abs(w) + epsilon)          # (T, n)
        total = total + ops.sum(ops.square(w) / denominator)
    return total * (lam / timesteps)
