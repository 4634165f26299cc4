"""keras-trt: Temporal Regularization Training for spiking neural networks in Keras 3.

```python
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=10, input_shape=(10, 48, 48, 2))
model.compile(optimizer="adam", loss=kt.losses.TRTLoss(eta=0.001, lam=5e-5, decay=0.5))
```
"""

import importlib

# Every module that registers a serializable class is imported here, so that
# `import keras_trt` is all `keras.saving.load_model` needs for a file keras-trt wrote.
from keras_trt import (dense, layers, losses, metrics, models, neurons, regularizers, remat,
                       schedules, spatial, streaming, surrogates)
from keras_trt.layers import (RepeatTime, TemporalBatchNorm, TileTime, TimeAverage,
                              TimeDistributed)
from keras_trt.neurons import IF, LIF
from keras_trt.remat import Remat
from keras_trt.streaming import streaming_model
from keras_trt.training import SpikingModel

__version__ = "0.1.0"

# These register no serializable class and load on first use: data imports tensorflow and
# tonic, analysis matplotlib, tuning keras_tuner, export nir (when used), experiments all of
# them on demand.
_LAZY_SUBMODULES = ("data", "analysis", "callbacks", "tuning", "precision", "export",
                    "experiments")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"keras_trt.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'keras_trt' has no attribute {name!r}")


__all__ = [
    "IF", "LIF", "Remat", "RepeatTime", "SpikingModel", "TemporalBatchNorm", "TileTime",
    "TimeAverage", "TimeDistributed", "dense", "layers", "losses", "metrics", "models",
    "neurons", "regularizers", "remat", "schedules", "spatial", "streaming", "streaming_model",
    "surrogates",
    *_LAZY_SUBMODULES,
]
