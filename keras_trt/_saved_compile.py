"""The compile arguments a SpikingModel's `.keras` file carries, made portable across
backends (`SpikingModel.get_compile_config` and `compile_from_config` use it).

Keras writes the compile arguments as the saving backend resolved them, and two of them
do not travel to another backend:

- `jit_compile`: Keras stores the resolved value of "auto" (True on JAX, False on
  torch and on TensorFlow without a GPU). Loaded elsewhere it turned torch.compile on for a
  JAX-saved file (a minute of compiling for an eight-sample fit) and ran a TensorFlow-saved
  file eagerly on JAX (2-20x slower). A file now stores "auto" when the model was compiled
  with "auto" (the default), so each backend resolves it for itself. An explicit True or
  False is stored with the backend it was chosen on (`jit_compile_backend`) and restored
  only there; on another backend, and from a file saved before keras-trt recorded this,
  the loaded model gets "auto", what `compile()` chooses by default on that backend.
- the optimizer: on torch Keras saves its torch subclass of the optimizer (module
  `keras.src.backend.torch.optimizers...`), which TensorFlow and JAX cannot run ("expected
  Tensor as element 0 in argument 0, but got ResourceVariable"). Any backend-specific
  optimizer class is rebuilt as the `keras.optimizers` class of the same name, with the same
  configuration; Keras then loads its saved state (iterations, moments) into it.

```python
import keras
from keras_trt import _saved_compile as saved_compile

config = {"optimizer": {"module": "keras.src.backend.torch.optimizers.torch_adam",
                        "class_name": "Adam", "config": {"learning_rate": 0.01},
                        "registered_name": "Adam"},
          "loss": None, "jit_compile": True}        # an older file saved on JAX
portable = saved_compile.config_for_this_backend(config)
print(portable["optimizer"]["module"], portable["jit_compile"])  # keras.optimizers auto
```
"""

import copy

import keras

from keras_trt._keras_compat import BACKEND_OPTIMIZER_MODULE_PREFIX

__all__ = ["config_to_save", "config_for_this_backend", "BACKEND_KEY"]

# The backend an explicit jit_compile was chosen on (only written with True or False).
BACKEND_KEY = "jit_compile_backend"


def config_to_save(config, requested_jit_compile="auto"):
    """`config` (Keras' `get_compile_config()`) with `jit_compile` as the model was
    compiled: "auto", or the explicit True/False with `BACKEND_KEY` naming this backend."""
    if not config:
        return config
    config = dict(config)
    if isinstance(requested_jit_compile, bool):
        config[BACKEND_KEY] = keras.backend.backend()
    else:
        config["jit_compile"] = "auto"
    return config


def config_for_this_backend(config):
    """The compile arguments of a saved `config` for the current backend (see the module
    docstring): a JSON-like dict for `keras.saving.deserialize_keras_object`."""
    config = copy.deepcopy(dict(config))
    saved_on = config.pop(BACKEND_KEY, None)
    if saved_on != keras.backend.backend():
        config["jit_compile"] = "auto"
    if config.get("optimizer") is not None:
        config["optimizer"] = _portable_optimizer(config["optimizer"])
    return config


def _portable_optimizer(serialized):
    """A serialized optimizer whose backend-specific classes (a torch Adam, also as the
    inner optimizer of a LossScaleOptimizer) are named as the `keras.optimizers` class."""
    if isinstance(serialized, list):
        return [_portable_optimizer(item) for item in serialized]
    if not isinstance(serialized, dict):
        return serialized
    serialized = {key: _portable_optimizer(value) for key, value in serialized.items()}
    module = serialized.get("module")
    if isinstance(module, str) and module.startswith(BACKEND_OPTIMIZER_MODULE_PREFIX) and \
            ".optimizers" in module and \
            hasattr(keras.optimizers, str(serialized.get("class_name"))):
        serialized["module"] = "keras.optimizers"
        serialized["registered_name"] = None
    return serialized
