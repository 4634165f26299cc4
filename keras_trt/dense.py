"""Float64ExactDense: `keras.layers.Dense` whose float64 products stay float64 on every
backend.

Keras' torch matmul computes two float64 operands in float32 and casts the result back,
so a float64 `keras.layers.Dense` on torch is only float32-accurate (the bias add then
promotes the output back to float64, hiding it). This subclass multiplies float64
inputs and kernels with `keras_trt.precision.matmul` instead; every other dtype, and
quantized or LoRA-enabled layers, run `keras.layers.Dense` unchanged. The models of
`keras_trt.models` use it for their Linear layers. Its former name `Dense` is a deprecated
alias (files saved under it load as this class).

```python
import keras
import keras_trt as kt

inputs = keras.Input((10, 128))                                  # (T, features)
logits = kt.TimeDistributed(kt.dense.Float64ExactDense(10))(inputs)   # (B, 10, 10)
```
"""

import keras
from keras import ops

from keras_trt import _deprecation, precision

__all__ = ["Float64ExactDense"]


@keras.saving.register_keras_serializable(package="keras_trt")
class Float64ExactDense(keras.layers.Dense):
    """`keras.layers.Dense` (same arguments, weights and config), float64-exact on torch."""

    def call(self, inputs, training=None):
        kernel = self.kernel
        float64 = all(keras.backend.standardize_dtype(t.dtype) == "float64"
                      for t in (inputs, kernel))
        if self.lora_enabled or not float64:
            return super().call(inputs, training=training)
        x = precision.matmul(inputs, kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x


__getattr__ = _deprecation.moved_names(__name__, {"Dense": f"{__name__}.Float64ExactDense"})
_deprecation.load_old_names({"keras_trt>Dense": Float64ExactDense})
