"""Every use of Keras internals by keras-trt, in one place.

keras-trt runs on Keras' public API except where Keras exports nothing for what it needs.
Those uses are listed here, each with why it is needed and since when Keras has had it;
no other module imports `keras.src` or reads a private Keras attribute
(tests/test_layout.py checks the imports). tests/test_keras_compat.py checks each entry
against the installed Keras, so an upgrade that removes or changes one fails there, with
the entry's name, instead of somewhere deep in a training run.

| name | Keras internal | used by |
|---|---|---|
| `Functional` | `keras.src.models.functional.Functional` | training, graph |
| `functional_init_arguments` | `keras.src.models.model.functional_init_arguments` | training |
| `BACKEND_OPTIMIZER_MODULE_PREFIX` | module path of backend-specific optimizer classes | saved_compile |
| `set_initial_epoch` | `Model._initial_epoch`, read by `Model.fit` | callbacks.exact_resume |
| `metric_direction`, `set_metric_direction` | `Metric._direction`, read by callbacks | metrics |
| `optimizer_trainable_variables` | `BaseOptimizer._trainable_variables` | data-parallel torch fit |

```python
import keras
from keras_trt._keras_compat import Functional, metric_direction

inputs = keras.Input((3,))
model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
print(isinstance(model, Functional))                     # True
print(metric_direction(keras.metrics.MeanSquaredError()))  # down
```
"""

import keras
# Keras exports neither the class of functional models nor its test for the arguments
# that build one (`keras.Model(inputs, outputs)`); both exist since Keras 3.0.
from keras.src.models.functional import Functional
from keras.src.models.model import functional_init_arguments

__all__ = ["Functional", "functional_init_arguments", "BACKEND_OPTIMIZER_MODULE_PREFIX",
           "set_initial_epoch", "metric_direction", "set_metric_direction",
           "optimizer_trainable_variables"]

# A serialized optimizer names its class's module; on torch (and TensorFlow) Keras saves
# a backend subclass from under this package, which other backends cannot run
# (keras_trt.saved_compile renames it to the `keras.optimizers` class).
BACKEND_OPTIMIZER_MODULE_PREFIX = "keras.src.backend."


def set_initial_epoch(model, epoch):
    """Makes the next `model.fit` start at `epoch` (None: at its `initial_epoch`).

    Keras' own `BackupAndRestore` resumes this way; `fit` has no public hook for a
    callback to move its first epoch."""
    model._initial_epoch = epoch


def metric_direction(metric):
    """"up", "down" or None: whether a larger value of `metric` is better, as Keras'
    callbacks (EarlyStopping, ModelCheckpoint in "auto" mode) read it."""
    return getattr(metric, "_direction", None)


def set_metric_direction(metric, direction):
    """Sets the direction Keras' callbacks read for `metric` (see `metric_direction`)."""
    metric._direction = direction


def optimizer_trainable_variables(optimizer):
    """The variables `optimizer` was built for, in the order of its slot variables."""
    return optimizer._trainable_variables
