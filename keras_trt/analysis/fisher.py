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

The protocol of the reference (TRT's `FI_Observation`, a copy of Kim et al. 2023's code)
and what the defaults here do:

- a fresh pass over the data for each prefix length t (`stream="per_prefix"`, the
  default): the reference restarts its shuffled, augmented training loader for every t,
  so every FI(t) sees other batches and other augmentations. Pass a loader that
  reshuffles per pass (keras-trt's training datasets, a torch DataLoader) to reproduce
  that; array data is passed over in order unless `shuffle=True` (then a new permutation,
  from `seed`, for each t). `stream="shared"` uses the same batches for every t instead:
  one forward and T backward passes per batch (about T times cheaper in forward passes)
  and FI(t) differences that do not include batch-sampling noise; a deviation from the
  reference, offered for cheap observations;
- 101 batches per t (steps 0..100, `batches=101`) of 64 samples (`batch_size=64`, only
  used for array data: a dataset brings its own batches);
- every squared gradient divided by 100 (`divisor=100.0`) although 101 batches are used;
  `divisor="batches"` averages over the batches instead;
- batch-mean gradients (not per-sample ones) and every trainable variable (kernels, BN
  gammas and betas, biases).

Gradient code per backend in `keras_trt.backend`.

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
from keras_trt.analysis._batches import _is_array_tuple, iterate_batches, num_batches

__all__ = ["fisher_information", "information_centroid", "prefix_losses", "STREAMS"]


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
    # A running sum, not ops.cumsum: XLA on CPU (jax 0.10) miscompiles the gradient of a
    # single slice of a cumsum under jit (tests/analysis/test_fisher.py checks FI(t)).
    running = None
    losses = []
    for t in range(1, steps + 1):
        running = logits[:, t - 1] if running is None else running + logits[:, t - 1]
        z = running / float(t)
        losses.append(-ops.mean(ops.sum(one_hot * ops.log_softmax(z, axis=-1), axis=-1)))
    return losses


STREAMS = ("per_prefix", "shared")

# (model, prefix length or None) -> (variable ids, compiled gradient function): repeated
# observations (e.g. the callback's, every few epochs) reuse the compiled functions on JAX.
_GRAD_FNS = weakref.WeakKeyDictionary()


def _gradient_function(model, t=None):
    """Squared gradient norms per variable of every L_t (t=None) or of L_t alone."""
    key = [id(v) for v in model.trainable_variables]
    per_model = _GRAD_FNS.setdefault(model, {})
    cached = per_model.get(t)
    if cached is None or cached[0] != key:
        if t is None:
            losses_fn = prefix_losses
        else:
            def losses_fn(y, y_pred, t=t):
                return prefix_losses(y, y_pred)[t - 1:t]
        fn = backend.make_gradient_function(model, losses_fn, grad_transform=_squared_norms,
                                            training=False)
        cached = (key, fn)
        per_model[t] = cached
    return cached[1]


def _squared_norms(grads):
    return ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads])


def _int_labels(y, classes):
    if y is None:
        raise ValueError("fisher_information needs labelled data (x, y).")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[-1] > 1:  # one-hot
        y = np.argmax(y, axis=-1)
    if classes is not None and y.size and (y.max() >= classes or y.min() < 0):
        raise ValueError(f"labels must lie in [0, {classes}), got {y.min()}..{y.max()}.")
    return y.reshape(-1).astype("int32")


def _squares(results):
    """(n_losses, n_variables) float64 squared gradient norms from the backend's results."""
    return np.stack([np.asarray(keras.ops.convert_to_numpy(r), dtype=np.float64)
                     for r in results])


def _timesteps(model, data, batch_size):
    shape = model.outputs[0].shape if getattr(model, "outputs", None) else None
    if shape is not None and len(shape) == 3 and shape[1] is not None:
        return int(shape[1])
    for x, _ in iterate_batches(data, steps=1, batch_size=batch_size):
        y_pred = model.predict_on_batch(x)
        prefix_losses(np.zeros(len(x), "int32"), y_pred)  # the (B, T, C) check
        return int(y_pred.shape[1])
    raise ValueError("fisher_information: `data` yielded no batches.")


def fisher_information(model, data, batches=101, divisor=100.0, batch_size=64,
                       per_variable=False, verbose=0, stream="per_prefix", shuffle=False,
                       seed=None):
    """FI(t) for t = 1..T and the information centroid IC (see the module docstring).

    Args:
        model: a keras model returning per-timestep logits (B, T, C).
        data: anything `model.evaluate` accepts (`(x, y)` arrays, `tf.data.Dataset`,
            `PyDataset`, iterable of batches); labels integer (B,)/(B, 1) or one-hot.
            The reference uses its shuffled, augmented training loader.
        batches: batches per prefix length (None: all). The reference uses 101.
        divisor: every squared gradient is divided by this (reference: 100 regardless of
            the number of batches); "batches" divides by the number of batches used.
        batch_size: batch size for array data (reference: 64).
        per_variable: also return FI(t) per trainable variable.
        verbose: 1 shows a progress bar.
        stream: "per_prefix" (the reference): a new pass over `data` for each t;
            "shared": one pass, the same batches for every t.
        shuffle: array data only: a new random order (from `seed`) for each pass.
        seed: seed of `shuffle` (int or None).

    Returns:
        dict: "fisher" (numpy (T,), FI(1..T)), "ic" (float), "batches" and "samples"
        (per prefix length: the most any pass used), "stream", and with `per_variable`
        "per_variable" `{variable path: (T,) array}`.
    """
    variables = model.trainable_variables
    if not variables:
        raise ValueError(f"fisher_information: model '{model.name}' has no trainable variables.")
    if not (divisor == "batches" or (isinstance(divisor, (int, float)) and divisor > 0)):
        raise ValueError(f"`divisor` must be a positive number or 'batches', got {divisor!r}.")
    if stream not in STREAMS:
        raise ValueError(f"`stream` must be one of {STREAMS}, got {stream!r}.")
    classes = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    rng = np.random.default_rng(seed)

    def one_pass():
        source = data
        if shuffle and _is_array_tuple(data):
            order = rng.permutation(len(data[0]))
            source = (np.asarray(data[0])[order], np.asarray(data[1])[order])
        return iterate_batches(source, steps=batches, batch_size=batch_size)

    total = num_batches(data, batch_size)
    total = batches if total is None else (total if batches is None else min(total, batches))
    passes = 1 if stream == "shared" else _timesteps(model, data, batch_size)
    bar = keras.utils.Progbar(None if total is None else total * passes,
                              unit_name="batch") if verbose else None
    rows, used, samples, done = [], 0, 0, 0
    for t in ([None] if stream == "shared" else range(1, passes + 1)):
        grad_fn = _gradient_function(model, t)
        acc, count, n = None, 0, 0
        for x, y in one_pass():
            _, results = grad_fn(x, _int_labels(y, classes))
            sq = _squares(results)  # (T or 1, n_variables)
            acc = sq if acc is None else acc + sq
            count += 1
            n += len(x)
            done += 1
            if bar is not None:
                bar.update(done)
        if count == 0:
            raise ValueError("fisher_information: `data` yielded no batches.")
        rows.append(acc / (count if divisor == "batches" else float(divisor)))
        used, samples = max(used, count), max(samples, n)
    acc = np.concatenate(rows, axis=0)  # (T, n_variables)
    fisher = acc.sum(axis=1)
    result = {"fisher": fisher, "ic": information_centroid(fisher), "batches": used,
              "samples": samples, "stream": stream}
    if per_variable:
        result["per_variable"] = {v.path: acc[:, i] for i, v in enumerate(variables)}
    return result
