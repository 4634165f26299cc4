"""Deprecated: the label checks live in `keras_trt._labels` (internal); the public one is
`keras_trt.losses.check_label_values`. Every name here warns and hands back the new one.

```python
import warnings
import keras_trt as kt

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from keras_trt.labels import check_label_values
print(check_label_values is kt.losses.check_label_values)  # True
```
"""

from keras_trt import _deprecation

__getattr__ = _deprecation.moved_names(__name__, {
    "check_label_values": "keras_trt.losses.check_label_values",
    **{name: f"keras_trt._labels.{name}" for name in
       ("class_targets", "class_indices", "nan_where_invalid", "checked_by_caller")},
})
