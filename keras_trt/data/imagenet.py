"""ImageNet-100: the paper's 100 ImageNet classes from a local ImageNet folder
(docs/method.md, ImageNet-100).

The class list ships with the package (``imagenet100_classes.txt``, the reference code's
``ImageNet100/data/imagenet100.txt``); other class folders are ignored, so a full
ImageNet-1k ``train/`` and class-sorted ``val/`` work as they are.

```text
import keras_trt as kt
train = kt.data.imagenet100("train", data_dir="~/imagenet")   # ~/imagenet/train/<wnid>/*.JPEG
test = kt.data.imagenet100("test", data_dir="~/imagenet")     # ~/imagenet/val/<wnid>/*.JPEG
```
"""

import math
import os
import re

import numpy as np

from keras_trt.data._arguments import check_positive_int, check_size, check_split, resolve_data_dir
from keras_trt.data.holdout import check_holdout_args, split_rows

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
SPLIT_FOLDERS = {"train": "train", "test": "val"}


def imagenet100_classes():
    """The 100 WordNet ids in label order (sorted, as torchvision's ImageFolder does)."""
    from importlib.resources import files
    text = files("keras_trt.data").joinpath("imagenet100_classes.txt").read_text()
    return sorted(w for w in text.split() if w)


def list_images(data_dir, split):
    """(paths, labels) of `split`: <data_dir>/{train,val}/<wnid>/<image>, sorted by
    (label, file name). Raises FileNotFoundError when no listed class is present."""
    check_split(split)
    data_dir = resolve_data_dir(data_dir)
    classes = imagenet100_classes()
    folder = os.path.join(data_dir, SPLIT_FOLDERS[split]) if data_dir else None
    paths, labels = [], []
    if folder and os.path.isdir(folder):
        for label, wnid in enumerate(classes):
            d = os.path.join(folder, wnid)
            if os.path.isdir(d):
                names = sorted(n for n in os.listdir(d) if n.lower().endswith(IMAGE_EXTENSIONS))
                paths += [os.path.join(d, n) for n in names]
                labels += [label] * len(names)
    if not paths:
        searched = folder or "nothing (data_dir=None and $KERAS_TRT_DATA_DIR is not set)"
        raise FileNotFoundError(
            f"ImageNet-100 {split!r} images not found: searched {searched} for class folders "
            f"of the 100 listed WordNet ids (e.g. {classes[0]}).\n"
            "Expected layout: <data_dir>/train/<wnid>/*.JPEG and <data_dir>/val/<wnid>/*.JPEG "
            "(validation images sorted into class folders, as for torchvision's ImageFolder); "
            "the wnids are in keras_trt/data/imagenet100_classes.txt.\n"
            "The files come from the ILSVRC-2012 (ImageNet-1k) release, "
            "https://image-net.org/download (registration required); keras-trt never "
            "downloads them. See docs/datasets.md.")
    return paths, labels


def imagenet100(split="train", data_dir=None, batch_size=64, augment=None, shuffle=None,
                seed=None, image_size=224, resize_size=256, validation_fraction=0.0,
                validation_seed=0, train_samples=None):
    """ImageNet-100 as normalised float32 (B, 224, 224, 3) images and int32 labels (0..99).

    Train (``augment``, default on for "train"): torchvision's RandomResizedCrop(224)
    (scale (0.08, 1), ratio (3/4, 4/3), 10 tries then a centre-crop fallback, bilinear
    antialiased resize), horizontal flip with p=0.5. Test: resize the shorter side to 256
    (bilinear antialiased), centre crop 224. Both normalise with the ImageNet mean
    (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). Labels: index in the sorted list
    of the 100 wnids, whichever of them are present.

    Args:
        split: "train" (from ``train/``) or "test" (from ``val/``).
        data_dir: folder holding ``train/`` and ``val/``; default ``$KERAS_TRT_DATA_DIR``.
        batch_size, augment, shuffle, seed: as :func:`keras_trt.data.cifar10`.
        image_size: output side (224). resize_size: test-time shorter side (256).
        validation_fraction, validation_seed, train_samples: ``split="validation"`` is a
            part of ``train/`` held out (test transform), "train" the rest, optionally a
            subset (`keras_trt.data.holdout`; default: none).

    A corrupt or unreadable image stops the epoch with an error whose message names the
    file and what was expected (decoded images are uint8, so they cannot hold NaN).
    """
    check_positive_int("batch_size", batch_size)
    image_size = check_size(image_size, "image_size")
    check_positive_int("resize_size", resize_size)
    check_split(split)
    check_holdout_args(validation_fraction, validation_seed, train_samples, split)
    paths, labels = list_images(data_dir, "test" if split == "test" else "train")
    rows = None if split == "test" else split_rows(
        np.asarray(labels), split, validation_fraction, validation_seed, train_samples)
    if rows is not None:
        paths, labels = [paths[i] for i in rows], [labels[i] for i in rows]

    import tensorflow as tf

    from keras_trt.data.augment import normalize
    from keras_trt.data.pipeline import AUTOTUNE

    train = split == "train"
    augment = train if augment is None else bool(augment)
    shuffle = train if shuffle is None else bool(shuffle)
    ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int32)))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda pl, s: (train_transform(_decode(pl[0]), s, image_size), pl[1]),
            num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda p, y: (test_transform(_decode(p), image_size, resize_size), y),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (normalize(x, MEAN, STD), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


IMAGE_EXPECTED = "expected a JPEG, PNG, GIF or BMP image (ImageNet's .JPEG files)"


def decode_image_file(path):
    """One image file as a uint8 (H, W, 3) tensor; a corrupt file raises ValueError naming it.

    TensorFlow's decoder, run eagerly so that its error (which does not know the file)
    can be re-raised with the path: a bare "Invalid JPEG data" from deep inside a
    training epoch would not say which of 130,000 files to replace. The decoding kernel
    itself is the same as in a graph and runs in tf.data's parallel map threads.
    """
    import tensorflow as tf

    path = os.fsdecode(path.numpy() if hasattr(path, "numpy") else path)
    try:
        # decode_image handles the few PNG/CMYK files hidden among ImageNet's .JPEGs.
        return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except tf.errors.OpError as e:
        if not os.path.exists(path):
            raise FileNotFoundError(f"image file {path} disappeared after the dataset was "
                                    f"created; {IMAGE_EXPECTED}") from None
        reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*$", "", e.message).strip().rstrip(".")
        raise ValueError(f"corrupt or unreadable image file {path} ({os.path.getsize(path)} "
                         f"bytes): {reason}; {IMAGE_EXPECTED}. Replace it with a fresh copy or "
                         "remove it.") from None


def _decode(path):
    import tensorflow as tf

    img = tf.py_function(decode_image_file, [path], tf.uint8)
    img.set_shape((None, None, 3))
    return tf.cast(img, tf.float32) / 255.0


def random_resized_crop_box(height, width, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                            attempts=10):
    """torchvision's RandomResizedCrop.get_params in TensorFlow: (top, left, h, w)."""
    import tensorflow as tf

    s = [tf.random.experimental.stateless_fold_in(seed, i) for i in range(4)]
    H, W = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = H * W
    target = area * tf.random.stateless_uniform((attempts,), s[0], scale[0], scale[1])
    log_r = tf.random.stateless_uniform((attempts,), s[1], math.log(ratio[0]), math.log(ratio[1]))
    r = tf.exp(log_r)
    w = tf.cast(tf.round(tf.sqrt(target * r)), tf.int32)
    h = tf.cast(tf.round(tf.sqrt(target / r)), tf.int32)
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)
    # Fallback (no attempt fits): centre crop, clamped to the ratio range.
    in_ratio = W / H
    fw = tf.where(in_ratio < ratio[0], width,
                  tf.where(in_ratio > ratio[1], tf.cast(tf.round(H * ratio[1]), tf.int32), width))
    fh = tf.where(in_ratio < ratio[0], tf.cast(tf.round(W / ratio[0]), tf.int32),
                  tf.where(in_ratio > ratio[1], height, height))
    found = tf.reduce_any(ok)
    ch = tf.where(found, h[first], fh)
    cw = tf.where(found, w[first], fw)
    u = tf.random.stateless_uniform((2,), s[2])
    top = tf.where(found, tf.cast(tf.floor(u[0] * tf.cast(height - ch + 1, tf.float32)), tf.int32),
                   (height - ch) // 2)
    left = tf.where(found, tf.cast(tf.floor(u[1] * tf.cast(width - cw + 1, tf.float32)), tf.int32),
                    (width - cw) // 2)
    return top, left, ch, cw


def train_transform(img, seed, image_size=(224, 224)):
    """RandomResizedCrop + RandomHorizontalFlip on one float image in [0, 1]."""
    import tensorflow as tf

    shape = tf.shape(img)
    top, left, h, w = random_resized_crop_box(shape[0], shape[1], seed)
    crop = img[top:top + h, left:left + w]
    out = tf.image.resize(crop, image_size, method="bilinear", antialias=True)
    flip = tf.random.stateless_uniform((), tf.random.experimental.stateless_fold_in(seed, 9)) < 0.5
    out = tf.where(flip, tf.reverse(out, [1]), out)
    return tf.clip_by_value(out, 0.0, 1.0)


def test_transform(img, image_size=(224, 224), resize_size=256):
    """Resize(256) (shorter side; the longer side truncated, as torchvision) + CenterCrop."""
    import tensorflow as tf

    shape = tf.shape(img)
    h, w = shape[0], shape[1]
    short = tf.minimum(h, w)
    new_h = tf.where(h <= w, resize_size, (resize_size * h) // short)
    new_w = tf.where(h <= w, (resize_size * w) // short, resize_size)
    img = tf.image.resize(img, tf.stack([new_h, new_w]), method="bilinear", antialias=True)
    ch, cw = image_size
    top = tf.cast(tf.round(tf.cast(new_h - ch, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(new_w - cw, tf.float32) / 2.0), tf.int32)
    out = img[top:top + ch, left:left + cw]
    out = tf.ensure_shape(out, (ch, cw, 3))
    return tf.clip_by_value(out, 0.0, 1.0)
