"""Metrics on per-timestep logits (B, T, C): decisions use the mean over T (docs/method.md, Losses).

- `TemporalAccuracy` (logged as `accuracy`): top-1 accuracy of the time-averaged logits;
  `SpikingModel.compile` maps `metrics=["accuracy"]` (and Keras' accuracy metrics) to it
  (see `keras_trt._compile_metrics`).
- `TemporalCrossEntropy`: cross-entropy of the time-averaged logits.
- `TimeAveraged(metric)`: any Keras metric of (batch, classes) predictions, computed on
  the time-averaged logits (e.g. `TimeAveraged(keras.metrics.SparseTopKCategoricalAccuracy(k=5))`).

Labels are checked like the losses' (see `keras_trt._labels`): eagerly, an invalid label
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
              metrics=["accuracy", kt.metrics.TemporalCrossEntropy(),
                       kt.metrics.TimeAveraged(keras.metrics.SparseTopKCategoricalAccuracy(k=2))])
```
"""

import keras
from keras import ops

from keras_trt import _labels as labels_lib
from keras_trt import precision
from keras_trt._keras_compat import metric_direction, set_metric_direction

__all__ = ["TemporalAccuracy", "TemporalCrossEntropy", "TimeAveraged"]

# Keras resolves these names from the label and prediction shapes, to metrics of
# (batch, classes) predictions; on per-timestep logits they mean TemporalAccuracy.
ACCURACY_NAMES = ("accuracy", "acc")


def _time_averaged_logits(y_pred, name):
    if len(y_pred.shape) != 3:
        raise ValueError(f"{name}: `y_pred` must be per-timestep logits (batch, time, "
                         f"classes), got shape {tuple(y_pred.shape)}.")
    return precision.mean(ops.cast(y_pred, precision.accumulation_dtype(y_pred.dtype)),
                          axis=1)


def _labels_and_mean_logits(y_true, y_pred, name):
    logits = _time_averaged_logits(y_pred, name)
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
        set_metric_direction(self, "up")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_trt")
class TemporalCrossEntropy(keras.metrics.MeanMetricWrapper):
    """Cross-entropy of the time-averaged logits: the reference code's test loss."""

    def __init__(self, name="mean_logit_crossentropy", dtype=None):
        super().__init__(fn=temporal_cross_entropy, name=name, dtype=dtype)
        set_metric_direction(self, "down")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_trt")
class TimeAveraged(keras.metrics.Metric):
    """A Keras metric of (batch, classes) predictions, computed on the time-averaged
    logits `mean_t O_t` of per-timestep logits (B, T, C), under the metric's own name.

    `metric` is anything `keras.metrics.get` takes (an instance, a class, a function or
    its name). The labels go to the wrapped metric as they are, so pass the label form it
    expects (integer labels for the `Sparse*` metrics). For plain accuracy use
    `TemporalAccuracy` (or `metrics=["accuracy"]` on a SpikingModel), which reads both
    label forms.

    ```python
    import keras
    import numpy as np
    import keras_trt as kt

    top2 = kt.metrics.TimeAveraged(keras.metrics.SparseTopKCategoricalAccuracy(k=2))
    logits = np.array([[[3.0, 2.0, 0.0], [0.0, 2.0, 3.0]]], "float32")  # (1, T=2, C=3)
    top2.update_state(np.array([1]), logits)    # mean over T: [1.5, 2.0, 1.5]
    print(float(top2.result()))                 # 1.0: class 1 is in the top 2
    ```
    """

    def __init__(self, metric, name=None, dtype=None):
        if isinstance(metric, str) and metric.lower() in ACCURACY_NAMES:
            raise ValueError(
                f"TimeAveraged: {metric!r} would be Keras' element-wise accuracy; use "
                "kt.metrics.TemporalAccuracy() (or metrics=['accuracy'] on a "
                "kt.SpikingModel) for the accuracy of the time-averaged logits.")
        resolved = keras.metrics.get(metric)
        if not isinstance(resolved, keras.metrics.Metric):
            resolved = keras.metrics.MeanMetricWrapper(resolved, name=getattr(
                resolved, "__name__", None))
        super().__init__(name=name or resolved.name, dtype=dtype or resolved.dtype)
        self.metric = resolved
        # Callbacks (EarlyStopping, ModelCheckpoint in "auto" mode) read the direction.
        set_metric_direction(self, metric_direction(resolved))

    def update_state(self, y_true, y_pred, sample_weight=None):
        logits = _time_averaged_logits(y_pred, f"TimeAveraged({self.metric.name})")
        return self.metric.update_state(y_true, logits, sample_weight=sample_weight)

    def result(self):
        return self.metric.result()

    def reset_state(self):
        self.metric.reset_state()

    def get_config(self):
        return {"metric": keras.saving.serialize_keras_object(self.metric),
                "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["metric"] = keras.saving.deserialize_keras_object(config["metric"])
        return cls(**config)
