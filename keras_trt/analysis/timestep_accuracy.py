"""Accuracy when only the first t timesteps are seen: where in time the decision forms.

For t = 1..T, the prediction is the argmax of the running mean of the first t timesteps'
logits, z_t = (1/t) sum_{k<=t} O_k, O = model(x) in inference mode (the same prefix
averages as `fisher_information`'s FI(t)). A method that moves information to the early
timesteps (the TRT paper's claim) reaches its final accuracy at a smaller t.

One full-T forward pass gives all T accuracies exactly: in inference the network is
causal in time (LIF neurons integrate forward; tdBN and BatchNorm use their moving
statistics, per timestep alike; convolutions and dense layers act on each timestep
alone), so O_k for k <= t is what a forward pass over the first t timesteps would
produce. (A model that mixes timesteps, e.g. an attention over time, is not causal, and
this shortcut would not hold for it.)

```python
import numpy as np, keras
import keras_trt as kt
from keras_trt.analysis import timestep_accuracy

inputs = keras.Input((4, 8))
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
rng = np.random.default_rng(0)
data = (rng.normal(1, 1, (64, 4, 8)).astype("float32"), rng.integers(0, 3, 64))
result = timestep_accuracy(model, data, batch_size=32)
print(result["accuracy"].shape, result["samples"])    # (4,) 64
```
"""

import keras
import numpy as np

from keras_trt.analysis._batches import iterate_batches, labels_to_int

__all__ = ["timestep_accuracy", "prefix_mean_accuracy"]


def prefix_mean_accuracy(logits, labels):
    """Correct predictions per prefix length from per-timestep logits (B, T, C) and
    integer labels (B,): a (T,) array of counts, entry t-1 for the mean of the first t
    timesteps. Ties go to the lowest class (numpy's argmax)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 3:
        raise ValueError(f"`logits` must be (batch, timesteps, classes), got shape "
                         f"{logits.shape}.")
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != logits.shape[0]:
        raise ValueError(f"`labels` must have one entry per sample ({logits.shape[0]}), "
                         f"got {len(labels)}.")
    # The mean of the first t timesteps has the argmax of their sum: no division needed.
    running = np.cumsum(logits, axis=1)
    return (np.argmax(running, axis=-1) == labels[:, None]).sum(axis=0)


def timestep_accuracy(model, data, steps=None, batch_size=32):
    """Accuracy of the running mean of the first t timesteps' logits, t = 1..T.

    Args:
        model: a keras model returning per-timestep logits (B, T, C).
        data: anything `model.evaluate` accepts (`(x, y)` arrays, `tf.data.Dataset`,
            `PyDataset`, iterable of batches); labels integer (B,)/(B, 1) or one-hot.
        steps: number of batches to use (None: all).
        batch_size: batch size for array data.

    Returns:
        dict: "accuracy" (numpy (T,), entry t-1 for the first t timesteps; the last is
        the usual accuracy of the time-averaged logits), "samples".
    """
    correct, samples = None, 0
    for x, y in iterate_batches(data, steps=steps, batch_size=batch_size):
        if y is None:
            raise ValueError("timestep_accuracy: `data` must carry labels.")
        logits = keras.ops.convert_to_numpy(model(x, training=False))
        if logits.ndim != 3:
            raise ValueError("timestep_accuracy: the model must return per-timestep logits "
                             f"(batch, timesteps, classes), got shape {logits.shape}.")
        counts = prefix_mean_accuracy(logits, labels_to_int(y, logits.shape[-1]))
        correct = counts if correct is None else correct + counts
        samples += len(logits)
    if not samples:
        raise ValueError("timestep_accuracy: `data` yielded no batches.")
    return {"accuracy": correct / samples, "samples": samples}
