"""Metrics on per-timestep logits (B, T, C): decisions use the mean over T (docs/method.md, Losses).

Labels are checked like the losses' (see `keras_trt.labels`): eagerly, an invalid label
raises a ValueError; inside a compiled step its row's value is NaN, so the metric reads
NaN rather than a plausible number.

Example:

```python
import keras
import keras_trt as kt

inputs = keras.Input((4, 8))                                   # (T, features)
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
model.compile(optimizer="adam", loss=kt.losses.TRTLoss(),
              metrics=[kt.metrics.TemporalAccuracy(), kt.metrics.TemporalCrossEntropy()])
```
"""

import keras
from keras import ops

from keras_trt import labels as labels_lib
from keras_trt import precision

__all__ = ["TemporalAccuracy", "TemporalCrossEntropy"]


def _labels_and_mean_logits(y_true, y_pred, name):
    if len(y_pred.shape) != 3:
        raise ValueError(f"{name}: `y_pred` must be per-timestep logits (batch, time, "
                         f"classes), got shape {tuple(y_pred.shape)}.")
    logits = precision.mean(ops.cast(y_pred, precision.accumulation_dtype(y_pred.dtype)),
                            axis=1)
    classes, valid = labels_lib.class_indices(y_true, logits.shape[-1], name)
    return classes, valid, logits


def temporal_accuracy(y_true, y_pred):
    """Per-sample 0/1 correctness of the argmax of the time-averaged logits (NaN where
    the label is invalid)."""
    classes, valid, logits = _labels_and_mean_logits(y_true, y_pred, "TemporalAccuracy")
    correct = ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), classes)
    return labels_lib.nan_where_invalid(ops.cast(correct, logits.dtype), valid)


def temporal_cross_entropy(y_true, y_pred):
    """Per-sample CE of the time-averaged logits (the reference code's test loss); NaN
    where the label is invalid."""
    classes, valid, logits = _labels_and_mean_logits(y_true, y_pred, "TemporalCrossEntropy")
    log_probs = ops.log_softmax(logits, axis=-1)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(classes, -1), axis=-1)
    return labels_lib.nan_where_invalid(-ops.squeeze(picked, -1), valid)


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
