"""Fisher information over time, FI(t), and the information centroid IC
(docs/method.md, Fisher information).

For each prefix length t = 1..T, with the model in inference mode (BatchNorm moving
statistics; gradients still computed):

    z_t   = (1/t) * sum_{k<t} O_k                  prefix-averaged logits, O = model(x)
    L_t   = mean over the batch of CE(z_t, y)
    FI(t) = sum over batches b, over every trainable scalar w:  (dL_t/dw)^2 / divisor

i.e. the trace of the empirical (mini-batch) diagonal Fisher of the prefix-averaged
prediction, and IC = sum_t t * FI(t) / sum_t FI(t), the FI-weighted mean timestep (in
[1, T]). FI(t) is cumulative: it measures the information of the first t timesteps, not
of timestep t alone.

Reference quirks, exposed as arguments: the reference (TRT's `FI_Observation`, copied
from Kim et al. 2023) iterates its shuffled and augmented TRAINING loader for 101 batches
(steps 0..100) and divides every squared gradient by 100 (`divisor=100.0`, the default
here). Pass `batches=101` and the training split to reproduce it exactly, or
`divisor="batches"` to average over the batches used. All trainable variables count
(kernels, BN gammas and betas, biases), as in the reference. One forward pass and T
backward passes per batch (gradient code per backend in `keras_trt.backend`).

```python
import numpy as np, keras
import keras_trt as kt
from keras_trt.analysis import fisher_information

inputs = keras.Input((4, 8))
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
rng = np.random.default_rng(0)
data = (rng.normal(1, 1, (64, 4, 8)).astype("float32"), rng.integers(0, 3, 64))
result = fisher_information(model, data, batches=2, batch_size=32)
result["fisher"], result["ic"]     # 4 values FI(1..4), and IC in [1, 4]
```
"""

import weakref

import keras
import numpy as np
from keras import ops

from keras_trt import backend
from keras_trt.analysis._data import iterate_batches, num_batches

__all__ = ["fisher_information", "information_centroid", "prefix_losses"]


def information_centroid(fisher):
    """IC = sum_t t * FI(t) / sum_t FI(t), t = 1..T (NaN when every FI(t) is 0)."""
    fisher = np.asarray(fisher, dtype=np.float64)
    total = fisher.sum()
    if total == 0:
        return float("nan")
    return float(np.sum(np.arange(1, len(fisher) + 1) * fisher) / total)


def prefix_losses(y, y_pred):
    """[CE(mean of the first t timesteps' logits, y) for t = 1..T], batch means."""
    if len(y_pred.shape) != 3:
        raise ValueError("fisher_information needs per-timestep logits (batch, time, "
                         f"classes); the model outputs shape {tuple(y_pred.shape)}.")
    logits = ops.cast(y_pred, "float32")
    steps, classes = logits.shape[1], logits.shape[-1]
    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    one_hot = ops.one_hot(y, classes, dtype="float32")
    cumulative = ops.cumsum(logits, axis=1)
    losses = []
    for t in range(1, steps + 1):
        z = cumulative[:, t - 1] / float(t)
        losses.append(-ops.mean(ops.sum(one_hot * ops.log_softmax(z, axis=-1), axis=-1)))
    return losses


# model -> (variable ids, compiled gradient function): repeated observations (e.g. the
# callback's, every few epochs) reuse one compiled function on JAX.
_GRAD_FNS = weakref.WeakKeyDictionary()


def _gradient_function(model):
    key = [id(v) for v in model.trainable_variables]
    cached = _GRAD_FNS.get(model)
    if cached is None or cached[0] != key:
        fn = backend.make_gradient_function(model, prefix_losses,
                                            grad_transform=_squared_norms, training=False)
        cached = (key, fn)
        _GRAD_FNS[model] = cached
    return cached[1]


def _squared_norms(grads):
    return ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads])


def fisher_information(model, data, batches=100, divisor=100.0, batch_size=32,
                       per_variable=False, verbose=0):
    """FI(t) for t = 1..T and the information centroid IC (see the module docstring).

    Args:
        model: a keras model returning per-timestep logits (B, T, C).
        data: anything `model.evaluate` accepts (`(x, y)` arrays, `tf.data.Dataset`,
            `PyDataset`, iterable of batches); labels integer (B,)/(B, 1) or one-hot.
        batches: number of batches to accumulate (None: all). The reference uses 101.
        divisor: every squared gradient is divided by this (reference: 100 regardless of
            the number of batches); "batches" divides by the number of batches used.
        batch_size: batch size for array data.
        per_variable: also return FI(t) per trainable variable.
        verbose: 1 shows a progress bar.

    Returns:
        dict: "fisher" (numpy (T,), FI(1..T)), "ic" (float), "batches" (used),
        "samples", and with `per_variable` "per_variable" `{variable path: (T,) array}`.
    """
    variables = model.trainable_variables
    if not variables:
        raise ValueError(f"fisher_information: model '{model.name}' has no trainable variables.")
    if not (divisor == "batches" or (isinstance(divisor, (int, float)) and divisor > 0)):
        raise ValueError(f"`divisor` must be a positive number or 'batches', got {divisor!r}.")
    classes = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None

    grad_fn = _gradient_function(model)
    total = num_batches(data, batch_size)
    total = batches if total is None else (total if batches is None else min(total, batches))
    bar = keras.utils.Progbar(total, unit_name="batch") if verbose else None
    acc, used, samples = None, 0, 0
    for x, y in iterate_batches(data, steps=batches, batch_size=batch_size):
        if y is None:
            raise ValueError("fisher_information needs labelled data (x, y).")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[-1] > 1:  # one-hot
            y = np.argmax(y, axis=-1)
        if classes is not None and y.size and (y.max() >= classes or y.min() < 0):
            raise ValueError(f"labels must lie in [0, {classes}), got {y.min()}..{y.max()}.")
        _, results = grad_fn(x, y.reshape(-1).astype("int32"))
        sq = np.stack([np.asarray(keras.ops.convert_to_numpy(r), dtype=np.float64)
                       for r in results])  # (T, n_variables)
        acc = sq if acc is None else acc + sq
        used += 1
        samples += len(x)
        if bar is not None:
            bar.update(used)
    if used == 0:
        raise ValueError("fisher_information: `data` yielded no batches.")
    acc = acc / (used if divisor == "batches" else float(divisor))
    fisher = acc.sum(axis=1)
    result = {"fisher": fisher, "ic": information_centroid(fisher), "batches": used,
              "samples": samples}
    if per_variable:
        result["per_variable"] = {v.path: acc[:, i] for i, v in enumerate(variables)}
    return result
