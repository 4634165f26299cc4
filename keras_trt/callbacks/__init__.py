"""Callbacks for `model.fit`.

- `ExactResume`: saves the whole training state after every epoch (weights, optimizer,
  best epoch, random and data-stream state); the next `fit` continues bit for bit as an
  uninterrupted run would have (exact_resume.py).
- `TerminateOnNonFiniteLoss`: Keras' `TerminateOnNaN` that explains the likely causes
  (non_finite_loss.py).
- `FisherInformationCallback`: the Fisher information FI(t) and its centroid after chosen
  epochs (fisher.py).

```python
import tempfile
import keras_trt as kt

callbacks = [kt.callbacks.TerminateOnNonFiniteLoss(),
             kt.callbacks.ExactResume(tempfile.mkdtemp(), monitor="val_accuracy")]
```
"""

from keras_trt.callbacks.exact_resume import ExactResume
from keras_trt.callbacks.fisher import FisherInformationCallback
from keras_trt.callbacks.non_finite_loss import (NonFiniteLossError, TerminateOnNonFiniteLoss,
                                                 explain_non_finite_loss)

__all__ = ["ExactResume", "FisherInformationCallback", "NonFiniteLossError",
           "TerminateOnNonFiniteLoss", "explain_non_finite_loss"]
