"""How strong TRT's weight penalty is: its value against the loss that training logged.

TRT's objective is the CE/MSE data term plus `(1/T) sum_t R_t` (docs/method.md, TRT). How
much `lam` matters depends on the weights: the penalty's share of the loss says it in
one number. `penalty_share` evaluates `model.weight_penalty(T)` (a
`keras_trt.SpikingModel` compiled with a `TRTLoss`) on the current weights and divides it
by a loss value; `run_penalty_share` does it for a run folder: the saved model of the
last epoch (`last.keras`) against the last `loss` of its `log.csv`, the epoch's running
mean of the training objective (penalty included). The two differ slightly in time (the
log averages over the epoch's steps, the penalty is the end-of-epoch one), which is what
a share to a couple of digits needs.

```python
import numpy as np, keras
import keras_trt as kt
from keras_trt.analysis import penalty_share

inputs = keras.Input((4, 3))
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(2, use_bias=False))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(2, use_bias=False))(h))
model.compile(optimizer="adam", loss=kt.losses.TRTLoss(lam=0.01, decay=0.0))
for v in model.trainable_variables:
    v.assign(np.full(v.shape, 0.5, "float32"))
share = penalty_share(model, loss=1.0)       # decay 0: lam * sum w^2 = 0.01 * 10 * 0.25
print(round(share["penalty"], 6), round(share["share"], 6))   # 0.025 0.025
```
"""

import math
import os

__all__ = ["penalty_share", "run_penalty_share"]


def penalty_share(model, loss, timesteps=None):
    """TRT's weight penalty of `model`'s weights and its share of `loss`.

    Args:
        model: a `keras_trt.SpikingModel` compiled with a `TRTLoss` (another loss: the
            penalty is 0).
        loss: the loss value to compare with (e.g. the logged training loss), > 0.
        timesteps: T of the penalty (default: the model output's time axis).

    Returns:
        dict: "penalty", "loss", "share" (penalty / loss), "timesteps".
    """
    if not hasattr(model, "weight_penalty"):
        raise TypeError("penalty_share needs a keras_trt.SpikingModel (it has "
                        f"`weight_penalty`), got {type(model).__name__}.")
    loss = float(loss)
    if not (math.isfinite(loss) and loss > 0):
        raise ValueError(f"`loss` must be a positive finite number, got {loss!r}.")
    if timesteps is None:
        shape = model.outputs[0].shape if getattr(model, "outputs", None) else None
        if shape is None or len(shape) != 3 or shape[1] is None:
            raise ValueError("penalty_share: pass `timesteps`; the model's output has no "
                             f"static time axis (shape {shape}).")
        timesteps = int(shape[1])
    import keras

    penalty = float(keras.ops.convert_to_numpy(model.weight_penalty(int(timesteps))))
    return {"penalty": penalty, "loss": loss, "share": penalty / loss,
            "timesteps": int(timesteps)}


def run_penalty_share(folder, model_file="last.keras", column="loss", timesteps=None):
    """`penalty_share` of a run folder: its `model_file` against the last `column` of its
    log.csv (a recipe's run: `last.keras`, the training objective `loss`)."""
    import keras

    from keras_trt.analysis.curves import read_csv_log

    path = os.path.join(folder, model_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"run_penalty_share: no {model_file} in {folder}.")
    log = read_csv_log(folder)
    if column not in log or not len(log[column]):
        raise ValueError(f"run_penalty_share: {folder}/log.csv has no {column!r} values "
                         f"(columns: {sorted(log)}).")
    model = keras.saving.load_model(path)
    result = penalty_share(model, float(log[column][-1]), timesteps)
    result["epochs"] = int(len(log[column]))
    return result
