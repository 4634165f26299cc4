"""A callback that interrupts `fit` where a killed run would stop, to test resumption.

```python
import keras
import numpy as np
from keras_trt.testing import SimulatedCrash

model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
x, y = np.ones((8, 3)), np.ones((8, 1))
try:
    model.fit(x, y, batch_size=2, epochs=3, verbose=0,
              callbacks=[SimulatedCrash(epoch=1, batch=2)])
except KeyboardInterrupt:
    pass                                    # fit again with your resume callback here
```
"""

import keras

__all__ = ["SimulatedCrash"]


class SimulatedCrash(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt("simulated crash")` after batch `batch` of epoch `epoch`
    (both 0-based), in the middle of an epoch as a killed run stops.

    KeyboardInterrupt rather than an Exception: like a real interruption it is not
    swallowed by `except Exception` handlers between the callback and the test.
    """

    def __init__(self, epoch, batch=0):
        super().__init__()
        self.crash_at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.crash_at:
            raise KeyboardInterrupt("simulated crash")
