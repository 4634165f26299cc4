"""Metrics on per-timestep logits (B, T, C): decisions use the mean over T (SPEC 3).

Example:

```python
import keras_trt as kt

model.compile(optimizer="adam", loss=kt.losses.TRTLoss(),
              metrics=[kt.metrics.TemporalAccuracy(), kt.metrics.TemporalCrossEntropy()])
```
"""

import keras
from keras import ops

from keras_trt import precision

__all__ = ["TemporalAccuracy", "TemporalCrossEntropy"]


def _labels_and_mean_logits(y_true, y_pred, name):
    if len(y_pred.shape) != 3:
        raise ValueError(f"{name}: `y_pred` must be per-timestep logits (batch, time, "
                         f"classes), got shape {tuple(y_pred.shape)}.")
    logits = precision.mean(ops.cast(y_pred, precision.accumulation_dtype(y_pred.dtype)),
                            axis=1)
    if len(y_true.shape) == 2 and y_true.shape[-1] not in (1, None):
        if y_true.shape[-1] != logits.shape[-1]:
            raise ValueError(f"{name}: one-hot `y_true` has {y_true.shape[-1]} classes, "
                             f"`y_pred` has {logits.shape[-1]}.")
        labels = ops.argmax(y_true, axis=-1)
    else:
        labels = ops.reshape(y_true, (-1,))
    return ops.cast(labels, "int32"), logits


def temporal_accuracy(y_true, y_pred):
    """Per-sample 0/1 correctness of the argmax of the time-averaged logits."""
    labels, logits = _labels_and_mean_logits(y_true, y_pred, "TemporalAccuracy")
    return ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), labels),
                    logits.dtype)


def temporal_cross_entropy(y_true, y_pred):
    """Per-sample CE of the time-averaged logits (the reference code's test loss)."""
    labels, logits = _labels_and_mean_logits(y_true, y_pred, "TemporalCrossEntropy")
    one_hot = ops.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return -ops.sum(one_hot * ops.log_softmax(logits, axis=-1), axis=-1)


@keras.saving.register_keras_serializable(package="keras_trt")
class TemporalAccuracy(keras.metrics.MeanMetricWrapper):
    """Top-1 accuracy of the time-averaged logits; labels integer (B,) or one-hot (B, C).

    The default metric of `keras_trt.SpikingModel` (logged as `accuracy`).
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=temporal_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_trt")
class TemporalCrossEntropy(keras.metrics.MeanMetricWrapper):
    """Cross-entropy of the time-averaged logits: the reference code's test loss."""

    def __init__(self, name="mean_logit_crossentropy", dtype=None):
        super().__init__(fn=temporal_cross_entropy, name=name, dtype=dtype)
        self._direction = "down"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
