"""What `SpikingModel.compile(metrics=...)` makes of the metrics a Keras user passes.

Keras' metrics take predictions (batch, classes); a SpikingModel outputs per-timestep
logits (batch, time, classes). Keras resolves `metrics=["accuracy"]` from the label and
prediction shapes, which on (B, T, C) logits gives a shape error, or, with one-hot labels
and T == C, a wrong number with no error. So, for each output of rank 3 (and each output
of a subclassed model, whose outputs are unknown before it runs):

- "accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy" (and the class
  names "SparseCategoricalAccuracy", "CategoricalAccuracy"), Keras' classes, instances
  and functions of those names become `kt.metrics.TemporalAccuracy` under the name Keras
  would log (`accuracy`, `val_accuracy`, `<output>_accuracy`, ...). It reads the label
  form from the labels' shape: integer (batch,) or one-hot (batch, classes).
- any other Keras metric raises a ValueError that names the fix: wrap it in
  `kt.metrics.TimeAveraged(...)`, which computes it on the time-averaged logits;
- keras-trt's metrics and metrics of one's own (a `keras.metrics.Metric` subclass or a
  `keras.metrics.MeanMetricWrapper` of one's own function) are passed on unchanged:
  they receive the (B, T, C) logits;
- `metrics=None` gives one `TemporalAccuracy` (`accuracy`) per such output.

Outputs of another rank (e.g. after `kt.TimeAverage`) keep Keras' own metrics. The
structure is Keras': one list for a single output; for several, a list with one entry
(a metric or a list) per output, or a dict by output name.

```python
import keras
import keras_trt as kt
from keras_trt import _compile_metrics as compile_metrics

inputs = keras.Input((4, 8))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(inputs))
print(compile_metrics.for_outputs(model, ["accuracy"]))  # [<TemporalAccuracy name=accuracy>]
```
"""

import inspect

import keras

from keras_trt import metrics as metrics_lib

__all__ = ["for_outputs"]

_ACCURACY_CLASSES = (keras.metrics.SparseCategoricalAccuracy,
                     keras.metrics.CategoricalAccuracy)
_ACCURACY_FUNCTIONS = (keras.metrics.sparse_categorical_accuracy,
                       keras.metrics.categorical_accuracy)


def _outputs(model):
    """([rank or None per output], [output names]); ([None], None) when unknown."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if not outputs:
        return [None], None
    ranks = [None if o.shape is None else len(o.shape) for o in outputs]
    return ranks, list(getattr(model, "output_names", None) or []) or None


def _is_keras_own(resolved):
    """Whether a resolved metric (an instance or a function) is one of Keras' own."""
    owner = resolved if inspect.isfunction(resolved) else type(resolved)
    return (owner.__module__ or "").startswith("keras.")


def _metric_name(identifier, resolved):
    if isinstance(identifier, str):
        return identifier
    if isinstance(resolved, keras.metrics.Metric):
        return resolved.name
    return getattr(resolved, "__name__", None)


def _refusal(model, identifier):
    if isinstance(identifier, str):
        shown = wrapped = repr(identifier)
    elif hasattr(identifier, "__name__"):  # a class or a function
        shown = repr(identifier.__name__)
        wrapped = f"keras.metrics.{identifier.__name__}"
    else:
        shown = repr(getattr(identifier, "name", type(identifier).__name__))
        wrapped = f"keras.metrics.{type(identifier).__name__}(...)"
    return ValueError(
        f"{type(model).__name__} '{model.name}': the Keras metric {shown} takes "
        "predictions of shape (batch, classes), but this model outputs per-timestep "
        "logits (batch, time, classes), on which it would fail or give a wrong number. "
        f"Wrap it: kt.metrics.TimeAveraged({wrapped}) computes it on the time-averaged "
        "logits; for accuracy pass 'accuracy' (kt.metrics.TemporalAccuracy), for the "
        "cross-entropy kt.metrics.TemporalCrossEntropy().")


def _temporal(model, identifier):
    """One metric of a per-timestep output: mapped, refused or passed on."""
    if isinstance(identifier, str) and identifier.lower() in metrics_lib.ACCURACY_NAMES:
        return metrics_lib.TemporalAccuracy(name=identifier)
    if isinstance(identifier, (metrics_lib.TemporalAccuracy, metrics_lib.TimeAveraged)):
        return identifier
    try:
        resolved = keras.metrics.get(identifier)
    except (ValueError, TypeError):
        return identifier             # Keras' own message, at compile
    # (keras.metrics.get has made an instance of a class)
    if type(resolved) in _ACCURACY_CLASSES or any(
            resolved is f for f in _ACCURACY_FUNCTIONS):
        return metrics_lib.TemporalAccuracy(name=_metric_name(identifier, resolved),
                                            dtype=getattr(resolved, "dtype", None))
    if type(resolved) is keras.metrics.MeanMetricWrapper or not _is_keras_own(resolved):
        return identifier
    raise _refusal(model, identifier)


def _for_output(model, metrics, rank):
    if metrics is None or rank not in (3, None):
        return metrics
    return keras.tree.map_structure(lambda m: _temporal(model, m), metrics)


def for_outputs(model, metrics, default=False):
    """`metrics` (or weighted_metrics) as compile passes them to Keras (see the module
    docstring); `default=True`: None gives one TemporalAccuracy per per-timestep output."""
    ranks, names = _outputs(model)
    if metrics is None:
        if not default:
            return None
        per_output = [metrics_lib.TemporalAccuracy() if rank in (3, None) else None
                      for rank in ranks]
        if all(m is None for m in per_output):
            return None
        return [per_output[0]] if len(ranks) == 1 else per_output
    if len(ranks) == 1:
        return _for_output(model, metrics, ranks[0])
    if isinstance(metrics, (list, tuple)) and len(metrics) == len(ranks):
        return type(metrics)(_for_output(model, m, rank) for m, rank in zip(metrics, ranks))
    if isinstance(metrics, dict) and names and set(metrics) <= set(names):
        rank_of = dict(zip(names, ranks))
        return {name: _for_output(model, m, rank_of[name]) for name, m in metrics.items()}
    # another structure (Keras matches it to the outputs' nesting): map it only when every
    # output is per-timestep
    return _for_output(model, metrics, 3 if set(ranks) <= {3, None} else 2)
