"""Datasets of the TRT paper as `tf.data` pipelines that `model.fit` accepts on every backend.

Every loader has the form ``NAME(split="train"|"test", data_dir=None, batch_size=64, ...)``
and yields ``(x, label)`` batches: ``x`` float32, channels-last; ``label`` int32. Training
splits are shuffled, the last partial batch is kept.

```python
import keras_trt as kt

train = kt.data.digits_dvs("train", batch_size=32)   # embedded: needs no download
x, y = next(iter(train))                              # x: (32, 10, 32, 32, 2), y: (32,)
```

| loader | source | x per sample |
|---|---|---|
| `cifar10`, `cifar100` | tensorflow-datasets | (32, 32, 3) |
| `imagenet100` | local ImageNet folder | (224, 224, 3) |
| `dvs_cifar10` | tonic's CIFAR10DVS `.aedat4` files | (10, 48, 48, 2) |
| `ncaltech101` | tonic's N-Caltech101 `.bin` files | (10, 48, 48, 2) |
| `digits_dvs` | scikit-learn digits + a DVS emulator | (10, 32, 32, 2) |

This module stays cheap to import: TensorFlow, tonic and tensorflow-datasets load only
when a loader is first used (``import keras_trt`` must not pull them in).
"""

import importlib

# name -> module that defines it; resolved on first attribute access (PEP 562).
_EXPORTS = {
    "cifar10": "cifar",
    "cifar100": "cifar",
    "CIFAR_MEAN_STD": "cifar",
    "imagenet100": "imagenet",
    "imagenet100_classes": "imagenet",
    "dvs_cifar10": "cifar10dvs",
    "ncaltech101": "ncaltech",
    "digits_dvs": "digits",
    "digits_dvs_events": "digits",
    "frame_events": "events",
    "emulate_saccades": "dvs_emulator",
    "count_batches": "epochs",
    "take_batches": "epochs",
}
# Module names differ from the loader names on purpose: importing a submodule sets the
# package attribute of the same name, which would replace the loader function.
_SUBMODULES = (
    "augment", "cache", "cifar", "cifar10dvs", "digits", "dvs_emulator", "epochs", "events",
    "imagenet",
    "counted_passes", "ncaltech", "pipeline", "progress",
)


# What each optional package is for, and where it comes from, for the missing-package error.
_PACKAGES = {
    "tensorflow": "TensorFlow (tf.data feeds every backend): install the extra "
                  "keras-trt[tensorflow] or keras-trt[tensorflow-cpu], or any TensorFlow build "
                  "yourself (e.g. tensorflow[and-cuda])",
    "tensorflow_datasets": "tensorflow-datasets: install the extra keras-trt[data]",
    "tonic": "tonic: install the extra keras-trt[data]",
    "sklearn": "scikit-learn: install the extra keras-trt[data]",
    "PIL": "pillow: install the extra keras-trt[data]",
}


# Modules that work on NumPy events alone; every other one builds tf.data pipelines.
_WITHOUT_TENSORFLOW = ("dvs_emulator", "events", "progress")


def _import(module):
    try:
        if module not in _WITHOUT_TENSORFLOW:
            # Loaders import TensorFlow only when called: check here, where the error is clear.
            importlib.import_module("tensorflow")
        return importlib.import_module(f"keras_trt.data.{module}")
    except ModuleNotFoundError as error:
        top = (error.name or "").split(".")[0]
        if top not in _PACKAGES:
            raise
        raise ImportError(f"keras_trt.data.{module} needs {_PACKAGES[top]}.") from error


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(_import(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = _import(name)
    else:
        raise AttributeError(f"module 'keras_trt.data' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))


__all__ = list(_EXPORTS)
