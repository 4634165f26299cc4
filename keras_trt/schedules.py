"""Learning-rate schedules: cosine annealing stepped once per epoch.

`PerEpochCosineDecay` is PyTorch's `CosineAnnealingLR(T_max=epochs, eta_min=0)` stepped
after every epoch, as a Keras `LearningRateSchedule`: the rate is constant within an epoch
and follows `initial_learning_rate / 2 * (1 + cos(pi * epoch / epochs))` across epochs.
Because it is a function of the optimizer's step count, which the optimizer saves with its
state, a run resumed from saved weights continues with the same rates (no callback to
restore).

```python
import keras
import keras_trt as kt

schedule = kt.schedules.PerEpochCosineDecay(1e-3, epochs=300, steps_per_epoch=782)
optimizer = keras.optimizers.Adam(learning_rate=schedule, epsilon=1e-8)
schedule.learning_rate_at_epoch(150)   # 0.0005 (0-based epoch index)
```
"""

import math

import keras
from keras import ops

from keras_trt.validation import integer, number, positive_int

__all__ = ["PerEpochCosineDecay"]


@keras.saving.register_keras_serializable(package="keras_trt")
class PerEpochCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine annealing from `initial_learning_rate` to 0 over `epochs`, stepped per epoch.

    The rate of 0-based epoch `e` is `initial_learning_rate / 2 * (1 + cos(pi * e / epochs))`;
    optimizer step `s` belongs to epoch `initial_epoch + s // steps_per_epoch`.

    Args:
        initial_learning_rate: the rate of epoch 0 (> 0).
        epochs: the epochs the annealing spans (the rate reaches 0 at epoch `epochs`).
        steps_per_epoch: optimizer steps (batches) per epoch.
        initial_epoch: the epoch of optimizer step 0: set it when a fresh optimizer
            continues a run at a later epoch (a resumed run restores the optimizer's step
            count instead and keeps 0).
    """

    def __init__(self, initial_learning_rate, epochs, steps_per_epoch, initial_epoch=0,
                 name="per_epoch_cosine_decay"):
        super().__init__()
        owner = "PerEpochCosineDecay"
        self.initial_learning_rate = number(initial_learning_rate, "initial_learning_rate",
                                            owner, above=0)
        self.epochs = positive_int(epochs, "epochs", owner)
        self.steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch", owner)
        self.initial_epoch = integer(initial_epoch, "initial_epoch", owner, minimum=0)
        self.name = name

    def _rate(self, epoch, sin):
        # The one formula, evaluated with keras.ops (in the training step) or math (floats):
        # (1 + cos(pi e / E)) / 2 = sin^2(pi (E - e) / 2E), which float32 keeps accurate to
        # the last epochs (1 + cos cancels there).
        half = sin(math.pi * (self.epochs - epoch) / (2 * self.epochs))
        return self.initial_learning_rate * half * half

    def __call__(self, step):
        # Integer division: a float32 quotient could round up across an epoch boundary.
        completed = ops.floor_divide(ops.convert_to_tensor(step), self.steps_per_epoch)
        epoch = ops.cast(completed, "float32") + float(self.initial_epoch)
        return self._rate(epoch, ops.sin)

    def learning_rate_at_epoch(self, epoch):
        """The rate of 0-based `epoch` as a Python float (for logs and per-epoch callbacks)."""
        return self._rate(epoch, math.sin)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "epochs": self.epochs,
                "steps_per_epoch": self.steps_per_epoch, "initial_epoch": self.initial_epoch,
                "name": self.name}
