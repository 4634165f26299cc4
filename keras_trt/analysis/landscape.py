"""2-D loss landscape with filter-normalised random directions (Li et al. 2018;
docs/method.md, Loss landscape).

1. Two directions d1, d2, i.i.d. standard Gaussian with the shapes of the model's
   trainable variables (not BatchNorm moving statistics), drawn from a seeded NumPy
   generator (`seed`), so the same seed gives the same directions on every backend.
2. Filter-wise normalisation: for every variable with more than one dimension and every
   output filter i, d[i] <- d[i] * ||w[i]|| / (||d[i]|| + 1e-10). Keras kernels keep
   their output filters on the LAST axis (Conv (kh, kw, in, out), Dense (in, out)), where
   PyTorch keeps them on the first, so a filter here is a slice along the last axis.
   1-D variables (biases, BatchNorm gamma/beta) are zeroed (`ignore_1d=True`, the
   loss-landscape tool's `--xignore biasbn`), or set to the weights (`ignore_1d=False`,
   the tool's default).
3. The loss at theta + a * d1 + b * d2 for a, b on a `steps` x `steps` grid over
   [-span, span]; `steps` is odd, so that the centre point (0, 0) is the model itself.

Loss, documented choice: the cross-entropy of the TIME-AVERAGED logits (the SDT objective
and the reference's test loss, the loss the model's predictions are judged by) averaged
over every sample of `data`, with the model in inference mode (BatchNorm moving
statistics). It is the same loss for SDT, TET and TRT models, so their surfaces are
comparable; the training objectives differ between the methods (and TRT's includes a
weight penalty), so plotting those would compare different functions. The accuracy of
the time-averaged logits is returned too. The paper does not state its choice.

Data: Li et al.'s tool, which the paper credits, evaluates the TRAINING set (the paper's
claim is about the training loss landscape); pass training samples without augmentation
(recipes/analyze.py does so by default) and report the grid, the number of samples and
the seed with the surface (the result records them; `plots.plot_landscape` puts them in
the title).

The variables are restored bit-exactly afterwards (even on an exception): the original
values are kept as NumPy copies and assigned back.

```python
import numpy as np, keras
import keras_trt as kt
from keras_trt.analysis import loss_landscape

inputs = keras.Input((4, 8))
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
rng = np.random.default_rng(0)
data = (rng.normal(1, 1, (32, 4, 8)).astype("float32"), rng.integers(0, 3, 32))
surface = loss_landscape(model, data, steps=5, span=1.0, seed=0)
surface["loss"].shape      # (5, 5); surface["loss"][2, 2] is the loss of the model itself
```
"""

import keras
import numpy as np

from keras_trt.analysis._batches import iterate_batches, labels_to_int
from keras_trt.validation import positive_int

__all__ = ["loss_landscape", "random_direction", "filter_normalize", "evaluate_loss"]


def filter_normalize(direction, weight, ignore_1d=True):
    """Rescales `direction` filter-wise to the norms of `weight` (numpy arrays)."""
    direction = np.array(direction, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim <= 1:
        return np.zeros_like(direction) if ignore_1d else weight.copy()
    axes = tuple(range(weight.ndim - 1))  # every axis but the output-filter axis
    w_norm = np.sqrt(np.sum(weight ** 2, axis=axes, keepdims=True))
    d_norm = np.sqrt(np.sum(direction ** 2, axis=axes, keepdims=True))
    return direction * w_norm / (d_norm + 1e-10)


def random_direction(model_or_variables, seed=0, ignore_1d=True):
    """A filter-normalised Gaussian direction: one float64 numpy array per trainable variable."""
    variables = getattr(model_or_variables, "trainable_variables", model_or_variables)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = []
    for v in variables:
        w = keras.ops.convert_to_numpy(v)
        out.append(filter_normalize(rng.standard_normal(w.shape), w, ignore_1d))
    return out


def evaluate_loss(model, data, steps=None, batch_size=32):
    """(CE of the time-averaged logits, accuracy) over `data`, in inference mode."""
    loss, accuracy, _ = _evaluate(model, data, steps, batch_size)
    return loss, accuracy


def _evaluate(model, data, steps, batch_size):
    total_loss, correct, n = 0.0, 0, 0
    for x, y in iterate_batches(data, steps=steps, batch_size=batch_size):
        logits = np.asarray(model.predict_on_batch(x), dtype=np.float64)
        if logits.ndim == 3:
            logits = logits.mean(axis=1)
        labels = labels_to_int(y, logits.shape[-1])
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        total_loss += float(-log_probs[np.arange(len(labels)), labels].sum())
        correct += int((np.argmax(logits, axis=-1) == labels).sum())
        n += len(labels)
    if n == 0:
        raise ValueError("loss_landscape: `data` yielded no batches.")
    return total_loss / n, correct / n, n


def loss_landscape(model, data, steps=21, span=1.0, seed=0, ignore_1d=True,
                   data_steps=None, batch_size=32, directions=None, verbose=0):
    """The loss surface around the model's weights along two filter-normalised directions.

    Args:
        model: a keras model returning logits (B, T, C) (or (B, C)).
        data: anything `model.evaluate` accepts; ALL of it is used at every grid point
            (pass a subset, or `data_steps`, to bound the cost: steps^2 passes).
        steps: grid points per axis: odd (1, 3, 5, ...), so that the grid's centre is the
            model itself; an even number raises a ValueError.
        span: the grid covers [-span, span] on both axes.
        seed: seed of the two Gaussian directions (int or numpy Generator).
        ignore_1d: zero the directions of 1-D variables (biases, BN) instead of copying
            the weights into them.
        data_steps: at most this many batches of `data` per grid point.
        batch_size: batch size for array data.
        directions: optional (d1, d2), lists of arrays shaped like the trainable variables.
        verbose: 1 shows a progress bar over the grid points.

    Returns:
        dict: "alphas" and "betas" (the (steps,) grid axes), "loss" and "accuracy"
        ((steps, steps), index [i, j] = point alphas[i] * d1 + betas[j] * d2), "center"
        (loss at the centre), and the settings to report with it: "seed" (None for a
        Generator), "steps", "span" and "samples" (evaluated per grid point).
    """
    hint = "grid points per axis; odd, so that the centre point is the model's own weights"
    steps = positive_int(steps, "steps", "loss_landscape", hint=hint)
    if steps % 2 == 0:
        raise ValueError(f"loss_landscape: steps must be odd ({hint}), got steps={steps}.")
    if not span > 0:
        raise ValueError(f"`span` must be > 0, got {span}.")
    variables = list(model.trainable_variables)
    originals = [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in variables]
    if directions is None:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        d1 = random_direction(variables, rng, ignore_1d)
        d2 = random_direction(variables, rng, ignore_1d)
    else:
        d1, d2 = ([np.asarray(a, dtype=np.float64) for a in d] for d in directions)
        for d in (d1, d2):
            if [a.shape for a in d] != [w.shape for w in originals]:
                raise ValueError("`directions` must match the shapes of the trainable variables.")
    alphas = np.linspace(-span, span, steps) if steps > 1 else np.zeros(1)
    alphas[steps // 2] = 0.0  # exactly the model's own weights at the centre
    betas = alphas.copy()
    loss = np.empty((steps, steps))
    acc = np.empty((steps, steps))
    bar = keras.utils.Progbar(steps * steps, unit_name="point") if verbose else None
    base = [w.astype(np.float64) for w in originals]
    try:
        for i, a in enumerate(alphas):
            for j, b in enumerate(betas):
                for v, w, u1, u2 in zip(variables, base, d1, d2):
                    v.assign((w + a * u1 + b * u2).astype(v.dtype))
                loss[i, j], acc[i, j], samples = _evaluate(model, data, data_steps, batch_size)
                if bar is not None:
                    bar.update(i * steps + j + 1)
    finally:
        for v, w in zip(variables, originals):
            v.assign(w)
    centre = loss[steps // 2, steps // 2]
    return {"alphas": alphas, "betas": betas, "loss": loss, "accuracy": acc,
            "center": float(centre), "seed": seed if isinstance(seed, int) else None,
            "steps": steps, "span": float(span), "samples": samples}
