"""TerminateOnNonFiniteLoss: Keras' TerminateOnNaN that says what probably went wrong.

Keras' `TerminateOnNaN` stops training at the first batch whose loss is NaN or infinite
and prints `Batch N: Invalid loss, terminating training`. This subclass keeps that
behaviour, also stops after an epoch that left NaN or infinite weights behind a finite
loss (a spiking network's threshold hides NaN potentials: they emit no spikes), and adds
the explanation: where it happened, the loss value and the usual causes with this run's
numbers (the learning rate, the number of classes, the dtype policy). The explanation is
printed when Keras has stopped the run (`on_train_end`) and kept in `explanation`; with
`raise_error=True` it is raised at once as `NonFiniteLossError` (a RuntimeError, as
Keras' `raise_error` raises), so that a script can exit with one line and nothing after
the bad batch runs (no validation, no checkpoint of the broken weights).

```python
import numpy as np, keras
import keras_trt as kt

inputs = keras.Input((3,))
model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
model.compile(optimizer="sgd", loss="mse")
x = np.ones((8, 3), "float32"); x[5, 1] = np.nan          # batch 2 (of 4) has a NaN
stop = kt.callbacks.TerminateOnNonFiniteLoss()
model.fit(x, np.zeros((8, 2)), batch_size=2, epochs=3, shuffle=False, verbose=0,
          callbacks=[stop])
print(stop.explanation)     # "training stopped: the loss is nan at epoch 1, batch 3 ..."
```
"""

import math

import keras
import numpy as np

__all__ = ["TerminateOnNonFiniteLoss", "NonFiniteLossError", "explain_non_finite_loss"]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite (the message names the likely causes)."""


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    try:
        return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    except Exception:  # noqa: BLE001 - no optimizer, or a rate that is not a number
        return None


def _num_classes(model):
    try:
        return int(model.outputs[0].shape[-1])
    except Exception:  # noqa: BLE001 - subclassed model without symbolic outputs
        return None


def _float16_cause(compute_dtype, loss_scaled):
    if compute_dtype != "float16":
        return ("float16 overflow without loss scaling (not here: the model computes in "
                f"{compute_dtype})")
    if loss_scaled:
        return "float16 overflow (the model computes in float16; the optimizer scales the loss)"
    return ("float16 overflow without loss scaling (the model computes in float16: wrap the "
            "optimizer in keras.optimizers.LossScaleOptimizer, or use mixed_bfloat16)")


def _likely_causes(model):
    policy = getattr(model, "dtype_policy", None) or keras.config.dtype_policy()
    lr = _learning_rate(model)
    classes = _num_classes(model)
    scaled = isinstance(getattr(model, "optimizer", None), keras.optimizers.LossScaleOptimizer)
    causes = [
        "NaN or inf values in the input data (check a few batches with numpy.isfinite)",
        "a learning rate too high" + (f" ({lr:.3g}; try 10x lower)" if lr is not None else ""),
        "labels outside the classes" + (f" 0..{classes - 1}" if classes else "")
        + " (sparse labels must be class indices)",
        _float16_cause(getattr(policy, "compute_dtype", "float32"), scaled),
    ]
    return f"Likely causes: {'; '.join(causes)}."


def explain_non_finite_loss(model, loss, epoch, batch):
    """One line: where the loss became `loss` (1-based epoch and batch) and why it may have."""
    return (f"training stopped: the loss is {loss} at epoch {epoch}, batch {batch} (counting "
            f"from 1). {_likely_causes(model)}")


def _explain_non_finite_weights(model, names, epoch):
    return (f"training stopped: after epoch {epoch} (counting from 1) {len(names)} weight "
            f"variables hold NaN or inf (first: {names[0]}) while the loss stayed finite: a "
            "NaN membrane potential emits no spike (NaN >= threshold is false), which hides "
            f"broken weights from the loss. {_likely_causes(model)}")


class TerminateOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """`keras.callbacks.TerminateOnNaN` that explains the stop (see the module docstring).

    Args:
        raise_error: False (Keras' default): stop gracefully (`fit` returns) and print the
            explanation at the end of training; True: raise `NonFiniteLossError` with the
            explanation immediately.
        check_weights: also stop when, at the end of an epoch, a trainable weight is NaN
            or infinite. Spiking networks need it: NaN potentials emit no spikes, so NaN
            weights can leave the loss finite (with SDT and TET; TRT's weight penalty
            turns them into a NaN loss).

    Attributes:
        explanation: the one-line explanation, or None while everything stays finite.
        stopped_epoch, stopped_batch: 1-based epoch and batch of the non-finite loss
            (`stopped_batch` is None when the weights stopped the run).
    """

    def __init__(self, raise_error=False, check_weights=True):
        super().__init__(raise_error=raise_error)
        self.check_weights = check_weights
        self.explanation = None
        self.stopped_epoch = None
        self.stopped_batch = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.explanation = self.stopped_epoch = self.stopped_batch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(np.asarray(loss))
        if math.isfinite(loss):
            return
        self.stopped_epoch, self.stopped_batch = self._epoch + 1, batch + 1
        self.explanation = explain_non_finite_loss(self.model, loss, self.stopped_epoch,
                                                   self.stopped_batch)
        if self.raise_error:
            raise NonFiniteLossError(self.explanation)
        super().on_batch_end(batch, logs)   # Keras' own message and graceful stop

    def on_epoch_end(self, epoch, logs=None):
        if not self.check_weights or self.explanation is not None:
            return
        broken = [v.path for v in self.model.trainable_variables
                  if not np.isfinite(keras.ops.convert_to_numpy(v)).all()]
        if not broken:
            return
        self.stopped_epoch = epoch + 1
        self.explanation = _explain_non_finite_weights(self.model, broken, epoch + 1)
        if self.raise_error:
            raise NonFiniteLossError(self.explanation)
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.explanation is not None:
            print(self.explanation)
