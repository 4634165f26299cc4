"""Public names that moved: the old name still works for a release, with a warning.

`moved_names` makes a module-level `__getattr__` (PEP 562) that hands back the object at
its new home and warns with a DeprecationWarning naming that home; `load_old_names`
lets `.keras` files saved under an old registered name load as the new class.

```python
import warnings
from keras_trt import _deprecation

__getattr__ = _deprecation.moved_names("mymodule", {"OldName": "keras_trt.layers.RepeatTime"})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cls = __getattr__("OldName")
print(cls.__name__, caught[0].category.__name__)  # RepeatTime DeprecationWarning
```
"""

import importlib
import warnings

import keras

__all__ = ["moved_names", "load_old_names"]


def moved_names(module_name, moved):
    """A module `__getattr__`: `moved` maps each old attribute name to the dotted path of
    its new home ("keras_trt.spatial.FastConv2D")."""

    def __getattr__(name):
        if name not in moved:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        target = moved[name]
        warnings.warn(f"{module_name}.{name} is deprecated and will be removed in the next "
                      f"release; use {target}", DeprecationWarning, stacklevel=2)
        home, _, attribute = target.rpartition(".")
        return getattr(importlib.import_module(home), attribute)

    return __getattr__


def load_old_names(old_names):
    """Registers each old name ("keras_trt>Conv2D") for its new class: a file that names
    the class by its old name loads as the new class, which keeps its own registered name
    (new files name the new class)."""
    # keras.saving.get_custom_objects() is the documented, writable global registry.
    keras.saving.get_custom_objects().update(old_names)
