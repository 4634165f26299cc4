"""SDT, TET and TRT losses on per-timestep logits (SPEC 3).

All take `y_pred` of shape (B, T, C) (logits at every timestep) and integer labels of
shape (B,) or (B, 1), or one-hot labels (B, C). Each returns per-sample values that Keras
averages over the batch, which equals the reference's batch means.

- `SDTLoss`: cross-entropy of the time-averaged logits.
- `TETLoss(lam, phi)`: (1 - lam) * mean_t CE(O_t) + lam * mean (O - phi)^2.
- `TRTLoss(eta, lam, decay, epsilon)`: mean_t [(1 - eta) CE(O_t) + eta MSE(O_t, onehot)]
  plus TRT's weight penalty, which needs the model's weights: `keras_trt.SpikingModel`
  adds it in its training step (see `keras_trt.regularizers`). Called on its own (outside
  a model), a TRTLoss returns the data term only.

Example:

```python
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=10, input_shape=(10, 48, 48, 2))
model.compile(optimizer="adam",
              loss=kt.losses.TRTLoss(eta=0.05, lam=1e-5, decay=0.25, epsilon=1e-5))
```
"""

import contextlib
import contextvars
import sys

import keras
from keras import ops

from keras_trt import precision, regularizers

__all__ = ["SDTLoss", "TETLoss", "TRTLoss"]


def _check_logits(y_pred, loss_name):
    if len(y_pred.shape) != 3:
        raise ValueError(
            f"{loss_name}: `y_pred` must be per-timestep logits of rank 3 "
            f"(batch, time, classes), got shape {tuple(y_pred.shape)}. "
            "Models for this loss output (B, T, C); average over T only for metrics."
        )


def _one_hot_labels(y_true, num_classes, loss_name, dtype):
    """Integer labels (B,) / (B, 1) or one-hot (B, C) -> one-hot (B, C) in `dtype`."""
    shape = tuple(y_true.shape)
    if len(shape) == 2 and shape[-1] not in (1, None):
        if shape[-1] != num_classes:
            raise ValueError(
                f"{loss_name}: one-hot `y_true` has {shape[-1]} classes but `y_pred` has "
                f"{num_classes}; expected y_true of shape (batch, {num_classes}) or "
                "integer labels of shape (batch,)."
            )
        return ops.cast(y_true, dtype)
    if len(shape) == 2:
        y_true = ops.squeeze(y_true, axis=-1)
    elif len(shape) != 1:
        raise ValueError(
            f"{loss_name}: `y_true` must be integer labels (batch,) or one-hot "
            f"(batch, {num_classes}), got shape {shape}."
        )
    return ops.one_hot(ops.cast(y_true, "int32"), num_classes, dtype=dtype)


def _cross_entropy(one_hot, logits):
    """CE of logits (..., C) against one-hot (B, C) broadcast over the middle axes."""
    log_probs = ops.log_softmax(logits, axis=-1)
    while len(one_hot.shape) < len(log_probs.shape):
        one_hot = ops.expand_dims(one_hot, 1)
    return -ops.sum(one_hot * log_probs, axis=-1)


class _TemporalLoss(keras.losses.Loss):
    def _prepare(self, y_true, y_pred):
        name = type(self).__name__
        _check_logits(y_pred, name)
        # float32 for half-precision logits, float64 for float64 ones
        y_pred = ops.cast(y_pred, precision.accumulation_dtype(y_pred.dtype))
        return _one_hot_labels(y_true, y_pred.shape[-1], name, y_pred.dtype), y_pred


def _check_range(value, name, cls, low=0.0, high=None):
    value = float(value)
    if value != value or value < low or (high is not None and value > high):
        expected = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{cls}: `{name}` must be {expected}, got {value}.")
    return value


@keras.saving.register_keras_serializable(package="keras_trt")
class SDTLoss(_TemporalLoss):
    """Standard direct training: cross-entropy of the time-averaged logits (SPEC 3.1).

    ```python
    import keras_trt as kt
    loss = kt.losses.SDTLoss()
    ```
    """

    def __init__(self, name="sdt_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        one_hot, y_pred = self._prepare(y_true, y_pred)
        return _cross_entropy(one_hot, precision.mean(y_pred, axis=1))


@keras.saving.register_keras_serializable(package="keras_trt")
class TETLoss(_TemporalLoss):
    """Temporal efficient training (SPEC 3.2): per-timestep CE plus an MSE to `phi`.

    `L = (1 - lam) * (1/T) sum_t CE(O_t, y) + lam * mean((O - phi)^2)`.

    ```python
    import keras_trt as kt
    loss = kt.losses.TETLoss(lam=1e-3, phi=1.0)
    ```
    """

    def __init__(self, lam=1e-3, phi=1.0, name="tet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.lam = _check_range(lam, "lam", "TETLoss", 0.0, 1.0)
        self.phi = float(phi)

    def call(self, y_true, y_pred):
        one_hot, y_pred = self._prepare(y_true, y_pred)
        loss = precision.mean(_cross_entropy(one_hot, y_pred), axis=1)
        if self.lam == 0.0:
            return loss
        mse = precision.mean(ops.square(y_pred - self.phi), axis=(1, 2))
        return (1.0 - self.lam) * loss + self.lam * mse

    def get_config(self):
        config = super().get_config()
        config.update(lam=self.lam, phi=self.phi)
        return config


# Set while a SpikingModel computes its loss: inside it, the penalty is added by the model.
_PENALTY_SCOPE = contextvars.ContextVar("keras_trt_penalty_scope", default=False)


@contextlib.contextmanager
def weight_penalty_scope():
    """Marks a loss computation whose caller adds TRT's weight penalty itself."""
    token = _PENALTY_SCOPE.set(True)
    try:
        yield
    finally:
        _PENALTY_SCOPE.reset(token)


def _calling_model():
    """The keras.Model whose `compute_loss` is on the call stack, if any."""
    frame = sys._getframe(2)
    for _ in range(40):
        if frame is None:
            return None
        if frame.f_code.co_name in ("compute_loss", "_compute_loss"):
            owner = frame.f_locals.get("self")
            if isinstance(owner, keras.Model):
                return owner
        frame = frame.f_back
    return None


@keras.saving.register_keras_serializable(package="keras_trt")
class TRTLoss(_TemporalLoss):
    """Temporal regularization training loss (SPEC 3.3).

    `L = (1/T) sum_t [(1 - eta) CE(O_t, y) + eta MSE(O_t, onehot(y)) + R_t]`, where
    `R_t = sum_w lam w^2 / (1 + (exp(decay t) - 1)(|w| + epsilon))` over every non-bias
    weight (t counts from 0). This object computes the CE/MSE part; the R_t part needs
    the model's weights, so compile it on a `keras_trt.SpikingModel`, whose training step
    adds `weight_penalty(...)`. Compiled on a plain `keras.Model` it raises a TypeError
    at the first training step rather than silently dropping the penalty.

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
            model = _calling_model()
            if model is not None:
                raise TypeError(
                    f"TRTLoss was compiled on a {type(model).__name__}, which cannot add "
                    "TRT's weight penalty, so it would be silently dropped. Build the model "
                    "as keras_trt.SpikingModel(inputs, outputs) (or subclass it), or use "
                    "keras_trt.losses.TETLoss if you do not want the penalty."
                )
        one_hot, y_pred = self._prepare(y_true, y_pred)
        loss = precision.mean(_cross_entropy(one_hot, y_pred), axis=1)
        if self.eta == 0.0:
            return loss
        mse = precision.mean(ops.square(y_pred - one_hot[:, None, :]), axis=(1, 2))
        return (1.0 - self.eta) * loss + self.eta * mse

    def weight_penalty(self, weights, timesteps):
        """(1/T) sum_t R_t for `weights` (a list of tensors/variables)."""
        return regularizers.temporal_weight_penalty(
            weights, timesteps, lam=self.lam, decay=self.decay, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update(eta=self.eta, lam=self.lam, decay=self.decay, epsilon=self.epsilon)
        return config
