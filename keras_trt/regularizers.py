"""TRT's time-decaying, weight-dependent weight penalty (docs/method.md, TRT).

    R = (1/T) sum_{t=0}^{T-1} sum_w lam * w^2 / (1 + (exp(decay * t) - 1) * (|w| + eps))

At t = 0 the factor is exactly `lam` (plain L2); later timesteps shrink it, and they
shrink it faster for larger |w|. (The paper's sentence "heavier weights decay slower"
contradicts its formula; keras-trt follows the formula, which produced the paper's
numbers.) The factor is differentiated too: the gradient flows through |w| in the
denominator.

The reference code builds an autograd graph per parameter per timestep. Here each weight
goes through one `custom_gradient` whose forward accumulates, element-wise over t,
`G = sum_t 1/D_t` and `H = sum_t a_t/D_t^2` (`D_t = 1 + a_t (|w| + eps)`,
`a_t = exp(decay t) - 1`), and whose backward is the closed form
`dR/dw = lam/T (2 w G - w^2 sign(w) H)`: no per-timestep tensors are kept for the
backward pass. (Measured against a (T, n) broadcast and an autodiff loop over t in
`benchmarks/penalty.py`.)

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

from keras_trt import backend, precision

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


def _penalty_of_one_weight(w, offsets, scale, epsilon):
    @ops.custom_gradient
    def penalty(w):
        magnitude = ops.abs(w) + epsilon
        g = ops.ones_like(w)          # t = 0: factor 1 (plain L2)
        h = ops.zeros_like(w)
        for a in offsets[1:]:
            r = 1.0 / (1.0 + a * magnitude)
            g = g + r
            h = h + a * ops.square(r)
        w2 = ops.square(w)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return upstream * scale * (2.0 * w * g - w2 * ops.sign(w) * h)

        return ops.sum(w2 * g) * scale, grad

    return penalty(w)


def temporal_weight_penalty(weights, timesteps, lam, decay, epsilon):
    """The TRT penalty R of a list of weights for T = `timesteps`: a scalar in float32, or
    float64 when a weight is float64 (each weight is computed in at least float32)."""
    weights = [w if hasattr(w, "dtype") else ops.convert_to_tensor(w) for w in weights]
    weights = [ops.cast(w, precision.accumulation_dtype(w.dtype)) for w in weights]
    total = ops.convert_to_tensor(
        0.0, precision.accumulation_dtype(*(w.dtype for w in weights)))
    if lam == 0.0:
        return total
    offsets = decay_offsets(timesteps, decay)
    scale = lam / timesteps
    kernel = backend.fast_kernel("trt_penalty")
    if kernel is not None:
        value = kernel(weights, offsets, scale, epsilon)
        if value is not None:
            return value
    for w in weights:
        total = total + _penalty_of_one_weight(w, offsets, scale, epsilon)
    return total
