"""Class labels for per-timestep logits: their accepted forms, checks and conversion.

The losses and metrics take labels as integer classes of shape (batch,) or (batch, 1),
or as one-hot / class-probability rows of shape (batch, classes). A label outside
[0, classes) or a non-integer one (1.5) has no one-hot row: `one_hot` would return a row
of zeros and the loss would be a silent 0. So an invalid label is never used:

- where the label values can be read (NumPy data, eager tensors), the caller gets a
  ValueError naming the offending values and the number of classes;
- where they cannot (inside `jax.jit`, `tf.function`/XLA or `torch.compile`, where
  tensors are symbolic), or where the caller already checked the data (the training
  and test steps of `keras_trt.SpikingModel`, see `checked_by_caller`), each row with an
  invalid label gets the value NaN, so the logged loss is NaN and
  `keras.callbacks.TerminateOnNaN` stops training.

A plain `keras.Model` on the torch backend runs its steps eagerly without that mark, so
its keras-trt losses and metrics check the labels in every step: a clear error, at the
cost of one wait for the GPU per step there.

Example:

```python
import numpy as np
from keras_trt import _labels as labels

targets, valid = labels.class_targets(np.array([2, 0]), 3, "MyLoss")  # (2, 3) and (2,)
try:
    labels.check_label_values(np.array([2, 3]), 3, "MyLoss")
except ValueError as error:
    print(error)  # MyLoss: `y_true` holds labels [3] outside the 3 classes (at rows [1]) ...
```
"""

import contextlib
import contextvars

import keras
import numpy as np
from keras import ops

from keras_trt import backend

__all__ = ["class_targets", "class_indices", "check_label_values", "nan_where_invalid",
           "checked_by_caller"]

# Probability rows may carry rounding (label smoothing, float16/bfloat16 labels).
_SUM_TOLERANCE = 1e-2
_SHOWN = 10

_CHECKED_BY_CALLER = contextvars.ContextVar("keras_trt_labels_checked", default=False)


@contextlib.contextmanager
def checked_by_caller():
    """Marks label uses whose values the caller has checked itself: inside it the losses
    and metrics do not read label values, and invalid rows only give NaN.

    `keras_trt.SpikingModel` enters it in its training and test steps: it checks the
    data it is given before the first step (see `keras_trt._model_inputs`), and reading the
    labels in every step would wait for the device each step on a torch GPU.
    """
    token = _CHECKED_BY_CALLER.set(True)
    try:
        yield
    finally:
        _CHECKED_BY_CALLER.reset(token)


def _is_one_hot(shape, num_classes, caller):
    """True for (batch, classes) rows, False for integer labels; raises on other shapes."""
    if len(shape) == 2 and shape[-1] not in (1, None):
        if shape[-1] != num_classes:
            raise ValueError(
                f"{caller}: one-hot `y_true` has {shape[-1]} classes but `y_pred` has "
                f"{num_classes}; expected y_true of shape (batch, {num_classes}) or "
                "integer labels of shape (batch,)."
            )
        return True
    if len(shape) not in (1, 2):
        raise ValueError(
            f"{caller}: `y_true` must be integer labels (batch,) or one-hot "
            f"(batch, {num_classes}), got shape {shape}."
        )
    return False


def _listing(values):
    shown = ", ".join(_number(v) for v in values[:_SHOWN])
    return f"[{shown}{', ...' if len(values) > _SHOWN else ''}]"


def _number(value):
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _distinct(values):
    seen = {}
    for v in values.tolist():
        key = "nan" if v != v else v
        seen.setdefault(key, v)
    return list(seen.values())


def _index_problems(y, num_classes, caller):
    y = y.reshape(-1)
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        not_integer = np.zeros(y.shape, bool)
    else:
        y = y.astype("float64")
        with np.errstate(invalid="ignore"):
            not_integer = ~np.isfinite(y) | (y != np.floor(y))
    with np.errstate(invalid="ignore"):
        out_of_range = ~not_integer & ((y < 0) | (y >= num_classes))
    problems = []
    if not_integer.any():
        problems.append(f"non-integer labels {_listing(_distinct(y[not_integer]))}")
    if out_of_range.any():
        problems.append(f"labels {_listing(_distinct(y[out_of_range]))} outside the "
                        f"{num_classes} classes")
    if not problems:
        return None
    rows = np.flatnonzero(not_integer | out_of_range).tolist()
    return (f"{caller}: `y_true` holds {' and '.join(problems)} (at rows {_listing(rows)}); "
            f"class labels must be integers in [0, {num_classes - 1}] (`y_pred` has "
            f"{num_classes} classes).")


def _row_problems(y, num_classes, caller):
    y = y.astype("float64")
    with np.errstate(invalid="ignore"):
        bad = (~np.all(np.isfinite(y) & (y >= 0), axis=-1)
               | ~(np.abs(y.sum(-1) - 1.0) <= _SUM_TOLERANCE))
    if not bad.any():
        return None
    rows = np.flatnonzero(bad).tolist()
    first = y[rows[0]]
    shown = _listing(first.tolist())
    return (f"{caller}: one-hot `y_true` row {rows[0]} is {shown}, which is not a class "
            f"distribution over the {num_classes} classes of `y_pred`: rows must be "
            f"non-negative, finite and sum to 1 (bad rows: {_listing(rows)}).")


def check_label_values(y_true, num_classes, caller):
    """Raises a ValueError if the labels `y_true` (NumPy or an eager tensor, any accepted
    form) hold a value that is not a valid class of `num_classes`."""
    y = np.asarray(ops.convert_to_numpy(y_true))
    one_hot = _is_one_hot(tuple(y.shape), num_classes, caller)
    message = (_row_problems if one_hot else _index_problems)(y, num_classes, caller)
    if message:
        raise ValueError(message)


def _check_if_readable(y_true, num_classes, caller):
    # Reading values needs concrete tensors; in a SpikingModel step it would also cost a
    # device round trip per step on GPU (see `checked_by_caller`).
    if not _CHECKED_BY_CALLER.get() and backend.is_concrete(y_true):
        check_label_values(y_true, num_classes, caller)


def _valid_indices(y_true, num_classes):
    y = ops.convert_to_tensor(y_true)
    if len(y.shape) == 2:
        y = ops.squeeze(y, axis=-1)
    in_range = ops.logical_and(ops.greater_equal(y, 0), ops.less(y, num_classes))
    if "int" not in keras.backend.standardize_dtype(y.dtype):
        y = ops.cast(y, "float32")
        # NaN fails every comparison, so it is invalid too.
        in_range = ops.logical_and(in_range, ops.equal(y, ops.floor(y)))
    # Invalid rows point at class 0 so that no backend's one_hot/gather sees them.
    return ops.cast(ops.where(in_range, y, ops.zeros_like(y)), "int32"), in_range


def _valid_rows(y_true):
    p = ops.cast(y_true, "float32")
    entries_ok = ops.all(ops.logical_and(ops.isfinite(p), ops.greater_equal(p, 0.0)), axis=-1)
    sums_ok = ops.less_equal(ops.abs(ops.sum(p, axis=-1) - 1.0), _SUM_TOLERANCE)
    valid = ops.logical_and(entries_ok, sums_ok)
    # Zero the invalid rows: a NaN/inf target would make NaN gradients, which the NaN
    # loss value of the row (masked by ops.where) does not.
    return ops.where(ops.expand_dims(valid, -1), p, ops.zeros_like(p)), valid


def _as_tensor(y_true):
    # keras.losses.Loss converts a Python list leaf by leaf (a list of scalar tensors).
    if isinstance(y_true, (list, tuple)):
        return ops.stack([_as_tensor(v) for v in y_true])
    return y_true if hasattr(y_true, "shape") else ops.convert_to_tensor(y_true)


def class_targets(y_true, num_classes, caller):
    """Labels in any accepted form -> (float32 targets (batch, classes), valid (batch,)).

    Raises a ValueError on a wrong shape always, and on invalid values where they can be
    read (see the module docstring); an invalid row's target is meaningless and its
    `valid` entry False.
    """
    y_true = _as_tensor(y_true)
    if _is_one_hot(tuple(y_true.shape), num_classes, caller):
        _check_if_readable(y_true, num_classes, caller)
        return _valid_rows(y_true)
    _check_if_readable(y_true, num_classes, caller)
    indices, valid = _valid_indices(y_true, num_classes)
    # A comparison with the class range rather than ops.one_hot, which on torch checks
    # the range itself (an error, and a device sync on GPU).
    one_hot = ops.equal(ops.expand_dims(indices, -1), ops.arange(num_classes, dtype="int32"))
    return ops.cast(one_hot, "float32"), valid


def class_indices(y_true, num_classes, caller):
    """Labels in any accepted form -> (int32 classes (batch,), valid (batch,)); one-hot
    or probability rows give their argmax."""
    y_true = _as_tensor(y_true)
    if _is_one_hot(tuple(y_true.shape), num_classes, caller):
        _check_if_readable(y_true, num_classes, caller)
        p, valid = _valid_rows(y_true)
        return ops.cast(ops.argmax(p, axis=-1), "int32"), valid
    _check_if_readable(y_true, num_classes, caller)
    return _valid_indices(y_true, num_classes)


def nan_where_invalid(values, valid):
    """Per-sample `values` (batch,) with NaN at the rows whose label is invalid."""
    return ops.where(valid, values, ops.full_like(values, float("nan")))
