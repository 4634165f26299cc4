"""Early exit: accuracy against the mean number of timesteps used, when each sample stops
at the first timestep whose running prediction is confident enough.

At timestep t (1-based) the prediction is the running mean of the per-timestep logits,
m_t = (1/t) sum_{k<=t} z_k, as a streaming model would hold it; p_t = softmax(m_t). A
sample exits at the first t whose score reaches the threshold, and at T (the last
timestep) when none does; its prediction is argmax m_t at the exit. Scores:

- "confidence": max_c p_t[c], the softmax probability of the top class;
- "margin": the top-1 minus the top-2 softmax probability.

Both lie in [0, 1]. The decision at t uses only the logits of timesteps 1..t, so one
full-T forward pass (`model.predict`) gives, for every threshold at once, exactly what
stopping a streamed model (`keras_trt.streaming_model`) at the exit would have given:
the analysis needs no streaming run. The sweep returns a table (a dict of lists; see
`save_early_exit_csv` and `plots.plot_early_exit`).

```python
import numpy as np
from keras_trt.analysis import early_exit_from_logits

logits = np.array([[[2.0, 0.0], [0.0, 0.0], [0.0, 4.0]],     # (N, T, C)
                   [[0.0, 1.0], [0.0, 3.0], [0.0, 0.0]]])
table = early_exit_from_logits(logits, np.array([1, 1]), thresholds=[0.7, 0.85, 0.9])
print(table["accuracy"])          # [0.5 0.5 1. ]
print(table["mean_timesteps"])    # [1.  1.5 3. ]
```
"""

import csv
import os

import numpy as np

from keras_trt.analysis._batches import iterate_batches, labels_to_int

__all__ = ["early_exit", "early_exit_from_logits", "save_early_exit_csv", "CRITERIA",
           "DEFAULT_THRESHOLDS"]

CRITERIA = ("confidence", "margin")
DEFAULT_THRESHOLDS = {
    "confidence": (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999),
    "margin": (0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.98, 0.998),
}
_COLUMNS = ("threshold", "accuracy", "mean_timesteps")


def _softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def _scores(probs, criterion):
    if criterion == "confidence":
        return np.max(probs, axis=-1)
    top2 = np.sort(probs, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def _check(logits, labels, criterion, thresholds):
    if criterion not in CRITERIA:
        raise ValueError(f"early_exit: `criterion` must be one of {CRITERIA}, got "
                         f"{criterion!r}.")
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 3 or logits.shape[1] < 1 or logits.shape[2] < 2:
        raise ValueError("early_exit: `logits` must be per-timestep logits of shape "
                         f"(samples, T, classes >= 2), got shape {logits.shape}.")
    labels = labels_to_int(labels, logits.shape[2])   # class indices, or one-hot rows
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"early_exit: {labels.shape[0]} labels for {logits.shape[0]} "
                         "samples of logits.")
    return logits, labels, _checked_thresholds(thresholds, criterion)


def _checked_thresholds(thresholds, criterion):
    thresholds = np.asarray(DEFAULT_THRESHOLDS[criterion] if thresholds is None
                            else thresholds, dtype=np.float64).reshape(-1)
    if thresholds.size == 0:
        raise ValueError("early_exit: `thresholds` must not be empty.")
    outside = thresholds[~((thresholds >= 0.0) & (thresholds <= 1.0))]   # NaN too
    if outside.size:
        raise ValueError(
            f"early_exit: `thresholds` must lie in [0, 1] (both scores, the top softmax "
            f"probability and the top-2 margin, do), got {outside.tolist()}.")
    return thresholds


def early_exit_from_logits(logits, labels, thresholds=None, criterion="confidence"):
    """The early-exit sweep of per-timestep `logits` (N, T, C) against `labels`.

    Args:
        logits: per-timestep logits of N samples (a full-T forward pass).
        labels: N class indices, or one-hot rows (N, C) (their argmax).
        thresholds: exit thresholds in [0, 1] (default `DEFAULT_THRESHOLDS[criterion]`);
            a value outside raises a ValueError.
        criterion: "confidence" (top softmax probability) or "margin" (top-1 minus
            top-2 probability) of the running mean of the logits.

    Returns:
        A dict: "criterion", "thresholds", "accuracy" and "mean_timesteps" (one entry
        per threshold, NumPy arrays), "exit_counts" ((thresholds, T): how many samples
        exit at t = 1..T), "timesteps" (T), "samples" (N), "full_accuracy" (all T steps)
        and "accuracy_per_timestep" (stopping every sample at t = 1..T).
    """
    logits, labels, thresholds = _check(logits, labels, criterion, thresholds)
    n, steps, _ = logits.shape
    running = np.cumsum(logits, axis=1) / np.arange(1, steps + 1)[None, :, None]
    correct = np.argmax(running, axis=-1) == labels[:, None]         # (N, T)
    scores = _scores(_softmax(running), criterion)                   # (N, T)
    accuracy, mean_steps, counts = [], [], []
    for threshold in thresholds:
        confident = scores >= threshold
        confident[:, -1] = True                     # no confident step: exit at T
        exit_index = np.argmax(confident, axis=1)  # the first confident step
        accuracy.append(float(np.mean(correct[np.arange(n), exit_index])))
        mean_steps.append(float(np.mean(exit_index + 1)))
        counts.append(np.bincount(exit_index, minlength=steps))
    return {
        "criterion": criterion,
        "thresholds": thresholds,
        "accuracy": np.asarray(accuracy),
        "mean_timesteps": np.asarray(mean_steps),
        "exit_counts": np.asarray(counts),
        "timesteps": steps,
        "samples": n,
        "full_accuracy": float(np.mean(correct[:, -1])),
        "accuracy_per_timestep": np.mean(correct, axis=0),
    }


def early_exit(model, data, thresholds=None, criterion="confidence", steps=None,
               batch_size=32):
    """`early_exit_from_logits` of `model`'s per-timestep logits on `data`.

    One inference-mode forward pass per batch over all T timesteps; see the module
    docstring for why that equals stopping a streamed model early.

    Args:
        model: a model whose output is per-timestep logits (B, T, C).
        data: (x, y) arrays, a `tf.data.Dataset` or any iterable of (x, y) batches; y
            holds class indices or one-hot rows, as for the other analyses.
        thresholds, criterion: see `early_exit_from_logits`.
        steps: at most this many batches (None: all).
        batch_size: for array data.
    """
    if criterion not in CRITERIA:  # before the forward passes
        raise ValueError(f"early_exit: `criterion` must be one of {CRITERIA}, got "
                         f"{criterion!r}.")
    _checked_thresholds(thresholds, criterion)
    all_logits, all_labels = [], []
    for x, y in iterate_batches(data, steps=steps, batch_size=batch_size):
        if y is None:
            raise ValueError("early_exit: the data must have labels, (x, y) batches.")
        logits = np.asarray(model.predict_on_batch(x))
        all_logits.append(logits)
        all_labels.append(labels_to_int(y, logits.shape[-1]))
    if not all_logits:
        raise ValueError("early_exit: `data` yielded no batch.")
    return early_exit_from_logits(np.concatenate(all_logits), np.concatenate(all_labels),
                                  thresholds=thresholds, criterion=criterion)


def save_early_exit_csv(result, path):
    """Writes the sweep as CSV (threshold, accuracy, mean_timesteps); returns `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(_COLUMNS)
        for row in zip(*(result[c if c != "threshold" else "thresholds"]
                         for c in _COLUMNS)):
            writer.writerow([f"{float(v):.6g}" for v in row])
    return path
