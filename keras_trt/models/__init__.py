"""The paper's networks, built on the keras-trt layers (docs/method.md, Architectures).

Each builder returns a functional `keras_trt.SpikingModel` whose output is the
per-timestep logits (B, T, num_classes).

```python
import keras_trt as kt

vgg = kt.models.VGGSNN(num_classes=10, input_shape=(10, 48, 48, 2))          # DVS
resnet = kt.models.ResNet19(num_classes=10, timesteps=6, input_shape=(32, 32, 3))
sew = kt.models.SEWResNet34(num_classes=100, timesteps=4, input_shape=(224, 224, 3))
```
"""

from keras_trt import _deprecation
from keras_trt.models.resnet19 import ResNet19
from keras_trt.models.sew_resnet import SEWResNet34
from keras_trt.models.vggsnn import VGGSNN

__all__ = ["VGGSNN", "ResNet19", "SEWResNet34"]

# TileTime is a time layer like RepeatTime; its registered name is unchanged.
__getattr__ = _deprecation.moved_names(__name__, {"TileTime": "keras_trt.layers.TileTime"})
