"""SDT, TET and TRT losses on per-timestep logits (docs/method.md, Losses).

All take `y_pred` of shape (B, T, C) (logits at every timestep) and integer labels of
shape (B,) or (B, 1), or one-hot / class-probability labels (B, C). Each returns
per-sample values that Keras averages over the batch, which equals the reference's batch
means.

Invalid labels (outside [0, C), non-integer, or probability rows that are negative,
non-finite or do not sum to 1) never give a silent loss: called eagerly, a loss raises
a ValueError naming them; inside a compiled step (jax.jit, tf.function/XLA,
torch.compile), where label values are symbolic, or inside a `keras_trt.SpikingModel`
step, whose `fit`/`evaluate` check the data first, each invalid row's loss is NaN, so the
logged loss is NaN and `keras.callbacks.TerminateOnNaN` stops training.
`check_label_values(y, num_classes, caller)` runs the eager check on labels a step does
not check (later batches of a dataset, a generator): the same ValueError, before training.

- `SDTLoss`: cross-entropy of the time-averaged logits.
- `TETLoss(lam, phi)`: (1 - lam) * mean_t CE(O_t) + lam * mean (O - phi)^2.
- `TRTLoss(eta, lam, decay, epsilon)`: mean_t [(1 - eta) CE(O_t) + eta MSE(O_t, onehot)]
  plus TRT's weight penalty, which needs the model's weights: `keras_trt.SpikingModel`
  adds it in its training step (see `keras_trt.regularizers`). Outside a SpikingModel
  it raises a TypeError rather than drop the penalty; `TRTLoss.data_term(y_true, y_pred)`
  gives the CE/MSE part alone.

Example:

```python
import numpy as np
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=10, input_shape=(10, 48, 48, 2))
model.compile(optimizer="adam",
              loss=kt.losses.TRTLoss(eta=0.05, lam=1e-5, decay=0.25, epsilon=1e-5))

try:
    kt.losses.check_label_values(np.array([0, 9, 10]), 10, "labels")
except ValueError as error:
    print(error)  # labels: `y_true` holds labels [10] outside the 10 classes (at rows [2]) ...
```
"""

import contextlib
import contextvars

import keras
from keras import ops

from keras_trt import _labels as labels
from keras_trt import precision, regularizers

__all__ = ["SDTLoss", "TETLoss", "TRTLoss", "check_label_values"]

# Public here: the losses are where a user meets the label rules (keras_trt._labels).
check_label_values = labels.check_label_values


def _check_logits(y_pred, loss_name):
    if len(y_pred.shape) != 3:
        raise ValueError(
            f"{loss_name}: `y_pred` must be per-timestep logits of rank 3 "
            f"(batch, time, classes), got shape {tuple(y_pred.shape)}. "
            "Models for this loss output (B, T, C); average over T only for metrics."
        )


def _cross_entropy(one_hot, logits):
    """CE of logits (..., C) against one-hot (B, C) broadcast over the middle axes."""
    log_probs = ops.log_softmax(logits, axis=-1)
    while len(one_hot.shape) < len(log_probs.shape):
        one_hot = ops.expand_dims(one_hot, 1)
    return -ops.sum(one_hot * log_probs, axis=-1)


class _TemporalLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        name = type(self).__name__
        _check_logits(y_pred, name)
        # float32 for half-precision logits, float64 for float64 ones
        y_pred = ops.cast(y_pred, precision.accumulation_dtype(y_pred.dtype))
        targets, valid = labels.class_targets(y_true, y_pred.shape[-1], name)
        targets = ops.cast(targets, y_pred.dtype)
        return labels.nan_where_invalid(self.per_sample_loss(targets, y_pred), valid)

    def per_sample_loss(self, targets, logits):
        """The loss (B,) of `logits` (B, T, C) (float32 or float64) against `targets` (B, C)."""
        raise NotImplementedError


def _check_range(value, name, cls, low=0.0, high=None):
    value = float(value)
    if value != value or value < low or (high is not None and value > high):
        expected = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{cls}: `{name}` must be {expected}, got {value}.")
    return value


@keras.saving.register_keras_serializable(package="keras_trt")
class SDTLoss(_TemporalLoss):
    """Standard direct training: cross-entropy of the time-averaged logits (docs/method.md, SDT).

    Invalid labels raise a ValueError eagerly and give NaN inside compiled steps (see the
    module docstring).

    ```python
    import keras_trt as kt
    loss = kt.losses.SDTLoss()
    ```
    """

    def __init__(self, name="sdt_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def per_sample_loss(self, targets, logits):
        return _cross_entropy(targets, precision.mean(logits, axis=1))


@keras.saving.register_keras_serializable(package="keras_trt")
class TETLoss(_TemporalLoss):
    """Temporal efficient training (docs/method.md, TET): per-timestep CE plus an MSE to `phi`.

    `L = (1 - lam) * (1/T) sum_t CE(O_t, y) + lam * mean((O - phi)^2)`.

    Invalid labels raise a ValueError eagerly and give NaN inside compiled steps (see the
    module docstring).

    ```python
    import keras_trt as kt
    loss = kt.losses.TETLoss(lam=1e-3, phi=1.0)
    ```
    """

    def __init__(self, lam=1e-3, phi=1.0, name="tet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.lam = _check_range(lam, "lam", "TETLoss", 0.0, 1.0)
        self.phi = float(phi)

    def per_sample_loss(self, targets, logits):
        loss = precision.mean(_cross_entropy(targets, logits), axis=1)
        if self.lam == 0.0:
            return loss
        mse = precision.mean(ops.square(logits - self.phi), axis=(1, 2))
        return (1.0 - self.lam) * loss + self.lam * mse

    def get_config(self):
        config = super().get_config()
        config.update(lam=self.lam, phi=self.phi)
        return config


# Set while a SpikingModel computes its loss: inside it, the penalty is added by the model.
_PENALTY_SCOPE = contextvars.ContextVar("keras_trt_penalty_scope", default=False)


@contextlib.contextmanager
def weight_penalty_scope():
    """Marks a loss computation whose caller adds TRT's weight penalty itself.

    `SpikingModel.compute_loss` enters it; a TRTLoss that a `keras.Model.compute_loss`
    evaluates outside it raises a TypeError (see `TRTLoss`).
    """
    token = _PENALTY_SCOPE.set(True)
    try:
        yield
    finally:
        _PENALTY_SCOPE.reset(token)


@keras.saving.register_keras_serializable(package="keras_trt")
class TRTLoss(_TemporalLoss):
    """Temporal regularization training loss (docs/method.md, TRT).

    `L = (1/T) sum_t [(1 - eta) CE(O_t, y) + eta MSE(O_t, onehot(y)) + R_t]`, where
    `R_t = sum_w lam w^2 / (1 + (exp(decay t) - 1)(|w| + epsilon))` over every non-bias
    weight (t counts from 0). This object computes the CE/MSE part; the R_t part needs
    the model's weights, so compile it on a `keras_trt.SpikingModel`, whose training step
    adds `weight_penalty(...)`. Compiled on a plain `keras.Model` it raises a TypeError
    at the first training (or evaluation) step rather than silently dropping the penalty.

    How that is enforced, explicitly: a TRTLoss computes its data term only inside
    `weight_penalty_scope()`, the context in which its caller promises to add the
    penalty. `SpikingModel.compute_loss` opens it around the compiled losses; anywhere
    else (a plain `keras.Model`'s step, or a call of its own) the loss raises a TypeError
    instead of returning a value without the penalty. For the data term alone, call
    `data_term(y_true, y_pred)`; in a training step of your own, open the scope and add
    `model.weight_penalty(T)` (or `weight_penalty(weights, T)`) yourself.

    Labels are checked as the module docstring says: a ValueError eagerly, NaN rows
    inside compiled steps.

    Note: the paper says heavier weights decay slower; the formula (and code) make the
    factor of larger |w| shrink faster over t. keras-trt follows the formula.

    Args:
        eta: weight of the MSE-to-one-hot term, in [0, 1].
        lam: penalty strength lambda, >= 0.
        decay: delta, how fast the penalty decays over timesteps, >= 0.
        epsilon: shift of |w| in the denominator, >= 0.

    ```python
    import keras_trt as kt
    loss = kt.losses.TRTLoss(eta=0.001, lam=5e-5, decay=0.5, epsilon=1e-5)  # DVS-CIFAR10
    ```
    """

    def __init__(self, eta=0.05, lam=1e-5, decay=0.25, epsilon=1e-5, name="trt_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.eta = _check_range(eta, "eta", "TRTLoss", 0.0, 1.0)
        self.lam = _check_range(lam, "lam", "TRTLoss")
        self.decay = _check_range(decay, "decay", "TRTLoss")
        self.epsilon = _check_range(epsilon, "epsilon", "TRTLoss")

    def call(self, y_true, y_pred):
        if not _PENALTY_SCOPE.get():
            raise TypeError(
                "TRTLoss was called outside a keras_trt.SpikingModel (e.g. compiled on a "
                "plain keras.Model), which cannot add TRT's weight penalty, so it would be "
                "silently dropped. Build the model as keras_trt.SpikingModel(inputs, "
                "outputs) (or subclass it), or use keras_trt.losses.TETLoss if you do not "
                "want the penalty. For the data term alone call "
                "`loss.data_term(y_true, y_pred)`; a training step of your own calls the "
                "loss inside `keras_trt.losses.weight_penalty_scope()` and adds "
                "`model.weight_penalty(timesteps)` itself."
            )
        return super().call(y_true, y_pred)

    def data_term(self, y_true, y_pred, sample_weight=None):
        """The CE/MSE part alone, batch-reduced as the loss is (no weight penalty)."""
        with weight_penalty_scope():
            return self(y_true, y_pred, sample_weight=sample_weight)

    def per_sample_loss(self, targets, logits):
        loss = precision.mean(_cross_entropy(targets, logits), axis=1)
        if self.eta == 0.0:
            return loss
        mse = precision.mean(ops.square(logits - targets[:, None, :]), axis=(1, 2))
        return (1.0 - self.eta) * loss + self.eta * mse

    def weight_penalty(self, weights, timesteps):
        """(1/T) sum_t R_t for `weights` (a list of tensors/variables)."""
        return regularizers.temporal_weight_penalty(
            weights, timesteps, lam=self.lam, decay=self.decay, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update(eta=self.eta, lam=self.lam, decay=self.decay, epsilon=self.epsilon)
        return config
