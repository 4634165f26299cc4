"""The dtype keras-trt computes sensitive quantities in, and reductions exact in float64.

Membrane potentials, BatchNorm statistics, losses, metrics and the TRT penalty are
computed in `accumulation_dtype(...)` of the dtypes involved (a layer's variable dtype,
the logits' dtype, the weights' dtypes):

- float16 / bfloat16 (the compute dtype of the mixed policies) -> float32, so half
  precision never accumulates a membrane or a statistic;
- float32 -> float32;
- float64 (`keras.config.set_floatx("float64")`, or a float64 layer/loss dtype) -> float64,
  so a float64 model is float64 end to end (on JAX this needs `JAX_ENABLE_X64=1`, without
  which JAX itself truncates float64 to float32).

Keras' type promotion maps float64 to float32 on the torch and JAX backends, so some
`keras.ops` compute float64 operands in float32 and cast the result back: `mean` and
`var` on torch and JAX, `matmul`, `maximum`, `minimum` and `divide_no_nan` on torch
(Keras 3.15). `mean` and `matmul` here route float64 tensors around that and leave
every other dtype to `keras.ops` unchanged.

```python
import numpy as np
from keras import ops
from keras_trt import precision

precision.accumulation_dtype("bfloat16")             # 'float32'
precision.accumulation_dtype("float32", "float64")   # 'float64'
precision.mean(ops.convert_to_tensor(np.arange(6.0).reshape(2, 3)), axis=1)  # [1., 4.]
```
"""

import math

import keras
from keras import ops

__all__ = ["accumulation_dtype", "mean", "matmul"]


def _is_float64(dtype):
    return keras.backend.standardize_dtype(dtype) == "float64"


def accumulation_dtype(*dtypes):
    """'float64' if any of `dtypes` (names, numpy/backend dtypes) is float64, else 'float32'."""
    return "float64" if any(_is_float64(dtype) for dtype in dtypes) else "float32"


def mean(x, axis=None):
    """`keras.ops.mean(x, axis)`, computed in float64 when x is float64 (a sum divided by
    the count: Keras' torch and JAX means compute float64 in float32)."""
    if not _is_float64(x.dtype):
        return ops.mean(x, axis=axis)
    rank = len(x.shape)
    axes = range(rank) if axis is None else (axis,) if isinstance(axis, int) else axis
    sizes = [x.shape[a] for a in axes]
    if any(size is None for size in sizes):
        dynamic = ops.shape(x)
        count = ops.cast(math.prod(dynamic[a] for a in axes), x.dtype)
    else:
        count = float(math.prod(sizes))
    return ops.sum(x, axis=axis) / count


def matmul(x, y):
    """`keras.ops.matmul(x, y)` for a 2-D `y`, computed in float64 when both are float64
    (as an einsum: Keras' torch matmul computes two float64 operands in float32)."""
    if _is_float64(x.dtype) and _is_float64(y.dtype) and len(y.shape) == 2:
        return ops.einsum("...i,io->...o", x, y)
    return ops.matmul(x, y)
