"""Batched, vectorised training augmentations in TensorFlow (run inside tf.data).

Every function takes a whole batch and a stateless seed (shape (2,) int), draws one set
of random numbers per sample, and never loops in Python, so a batch costs a few ops.

```python
import tensorflow as tf
from keras_trt.data.augment import dvs_flip_roll

x = tf.random.uniform((4, 10, 48, 48, 2))
y = dvs_flip_roll(x, seed=tf.constant([1, 2]))   # same flip/shift for the 10 frames
```
"""

import tensorflow as tf


def _uniform_int(shape, low, high, seed):
    """Integers uniform in [low, high] inclusive."""
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high + 1, dtype=tf.int32)


def random_crop_with_padding(x, padding, seed):
    """RandomCrop(size, padding) with zero fill, per sample, on a (B, H, W, C) batch."""
    B, H, W = tf.shape(x)[0], x.shape[1], x.shape[2]
    padded = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    offsets = _uniform_int((B, 2), 0, 2 * padding, seed)
    rows = offsets[:, :1] + tf.range(H)[None, :]          # (B, H)
    cols = offsets[:, 1:] + tf.range(W)[None, :]          # (B, W)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def random_flip_left_right(x, seed, width_axis=2):
    """Flip each sample along `width_axis` with probability 0.5."""
    B = tf.shape(x)[0]
    flip = tf.random.stateless_uniform((B,), seed) < 0.5
    flip = tf.reshape(flip, [-1] + [1] * (len(x.shape) - 1))
    return tf.where(flip, tf.reverse(x, [width_axis]), x)


def cutout(x, length, seed):
    """One square hole per sample (docs/method.md, CIFAR-10 and CIFAR-100): centre (y, x)
    uniform over all pixels, rows
    and columns [c - length//2, c + length//2) clipped to the image, set to 0 in every
    channel. `x` is (B, H, W, C) float in [0, 1] (before normalisation)."""
    B, H, W = tf.shape(x)[0], x.shape[1], x.shape[2]
    cy = _uniform_int((B, 1), 0, H - 1, seed)
    cx = _uniform_int((B, 1), 0, W - 1, tf.random.experimental.stateless_fold_in(seed, 1))
    half = length // 2
    r = tf.range(H)[None, :]
    c = tf.range(W)[None, :]
    in_rows = (r >= cy - half) & (r < cy + half)          # (B, H)
    in_cols = (c >= cx - half) & (c < cx + half)          # (B, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]      # (B, H, W)
    return tf.where(hole[..., None], tf.zeros_like(x), x)


def normalize(x, mean, std):
    return (x - tf.constant(mean, x.dtype)) / tf.constant(std, x.dtype)


def cifar_train(images, seed, mean, std):
    """The CIFAR training transform (docs/method.md, CIFAR-10 and CIFAR-100) on a uint8
    (B, 32, 32, 3) batch: crop with 4-pixel zero
    padding, horizontal flip, to [0, 1], one 16x16 cutout, normalise."""
    s = [tf.random.experimental.stateless_fold_in(seed, i) for i in range(3)]
    x = random_crop_with_padding(images, 4, s[0])
    x = random_flip_left_right(x, s[1], width_axis=2)
    x = tf.cast(x, tf.float32) / 255.0
    x = cutout(x, 16, s[2])
    return normalize(x, mean, std)


def dvs_flip_roll(x, seed, max_shift=5):
    """docs/method.md, DVS-CIFAR10 DVS-CIFAR10 training augmentation on a (B, T, H, W, C) batch.

    With probability 0.5 flip along W, then roll circularly by (dy, dx), each an integer
    uniform in [-max_shift, max_shift]; one draw per sample, shared by all T frames
    (``torch.roll`` semantics: out[i] = in[(i - shift) mod n]).
    """
    s = [tf.random.experimental.stateless_fold_in(seed, i) for i in range(2)]
    x = random_flip_left_right(x, s[0], width_axis=3)
    B, H, W = tf.shape(x)[0], x.shape[2], x.shape[3]
    shift = _uniform_int((B, 2), -max_shift, max_shift, s[1])
    rows = tf.math.floormod(tf.range(H)[None, :] - shift[:, :1], H)
    cols = tf.math.floormod(tf.range(W)[None, :] - shift[:, 1:], W)
    x = tf.gather(x, rows, axis=2, batch_dims=1)
    return tf.gather(x, cols, axis=3, batch_dims=1)
