"""Export to and import from NIR, the Neuromorphic Intermediate Representation.

`to_nir(model)` turns a functional keras-trt model (Conv2D, Dense, average pooling,
flatten, residual Add, tdBN, LIF and IF neurons) into a `nir.NIRGraph` that other
simulators and neuromorphic toolchains (snnTorch, Norse, Lava, SpiNNaker2, ...) read;
`from_nir(graph)` rebuilds a `keras_trt.SpikingModel` from such a graph. tdBN is folded
into the preceding convolution in inference mode; keras-trt's discrete LIF maps onto
NIR's continuous-time LIF with a stated time step `dt` (docs/deployment.md, NIR export
and import, derives the mapping).

Needs the `deploy` extra (`pip install "keras-trt[deploy]"`, which installs `nir`).

```python
import keras
import nir
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=10, input_shape=(4, 8, 8, 2), widths=(4, 8))
graph = kt.export.to_nir(model)                 # nir.NIRGraph, dt = 1e-4 s
nir.write("vggsnn.nir", graph)
rebuilt = kt.export.from_nir(nir.read("vggsnn.nir"))   # a keras_trt.SpikingModel
```
"""

from keras_trt.export._nir import DEFAULT_DT, require_nir
from keras_trt.export.nir_export import to_nir
from keras_trt.export.nir_import import from_nir

__all__ = ["to_nir", "from_nir", "DEFAULT_DT", "require_nir"]

