"""Fast per-frame 2-D convolution and pooling: Keras' own layers, minus the layout copies
on torch and with a faster kernel gradient on JAX's CPU backend.

On the torch backend, Keras copies every channels-last input to channels-first and back
before each convolution and pooling. These subclasses hand torch a permuted view instead
(`keras_trt.backend.torch.conv2d`, `pool2d`), which its kernels read as channels-last
memory: the same result without two copies per layer and per direction. On JAX on a CPU,
the convolution's kernel gradient is summed over chunks of the batch
(`keras_trt.backend.jax.conv2d`), which XLA:CPU computes several times faster for large
images; same forward pass, gradients equal to float rounding. On TensorFlow, and for
configurations the fast paths do not cover, they are exactly `keras.layers.Conv2D`,
`AveragePooling2D` and `MaxPooling2D` (same arguments, weights and config). The models
of `keras_trt.models` use them inside `keras_trt.TimeDistributed`. Their former names
`Conv2D`, `AveragePooling2D` and `MaxPooling2D` are deprecated aliases (files saved under
them load as these classes).

```python
import keras
import keras_trt as kt

inputs = keras.Input((10, 48, 48, 2))                      # (T, H, W, C)
x = kt.TimeDistributed(kt.spatial.FastConv2D(64, 3, padding="same", use_bias=False))(inputs)
x = kt.TimeDistributed(kt.spatial.FastAveragePooling2D(2))(x)  # (B, 10, 24, 24, 64)
```
"""

import keras

from keras_trt import _deprecation, backend

__all__ = ["FastConv2D", "FastAveragePooling2D", "FastMaxPooling2D"]


@keras.saving.register_keras_serializable(package="keras_trt")
class FastConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` with a copy-free channels-last path on torch and a chunked
    kernel gradient on JAX (CPU)."""

    def convolution_op(self, inputs, kernel):
        fast = (backend.fast_kernel("conv2d") if self.data_format == "channels_last"
                else None)
        if fast is not None:
            outputs = fast(inputs, kernel, self.strides, self.padding, self.dilation_rate,
                           self.groups)
            if outputs is not None:
                return outputs
        return super().convolution_op(inputs, kernel)


class _FastPooling2D:
    def call(self, inputs):
        fast = (backend.fast_kernel("pool2d") if self.data_format == "channels_last"
                else None)
        if fast is not None:
            outputs = fast(inputs, self.pool_mode, self.pool_size, self.strides, self.padding)
            if outputs is not None:
                return outputs
        return super().call(inputs)


@keras.saving.register_keras_serializable(package="keras_trt")
class FastAveragePooling2D(_FastPooling2D, keras.layers.AveragePooling2D):
    """`keras.layers.AveragePooling2D` with a copy-free channels-last path on torch."""


@keras.saving.register_keras_serializable(package="keras_trt")
class FastMaxPooling2D(_FastPooling2D, keras.layers.MaxPooling2D):
    """`keras.layers.MaxPooling2D` with a copy-free channels-last path on torch."""


_RENAMED = {"Conv2D": FastConv2D, "AveragePooling2D": FastAveragePooling2D,
            "MaxPooling2D": FastMaxPooling2D}
__getattr__ = _deprecation.moved_names(
    __name__, {old: f"{__name__}.{new.__name__}" for old, new in _RENAMED.items()})
_deprecation.load_old_names({f"keras_trt>{old}": new for old, new in _RENAMED.items()})
