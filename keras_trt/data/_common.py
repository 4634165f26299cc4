"""Argument checks and path helpers shared by every loader (no heavy imports here)."""

import os
import re
import warnings

from keras_trt.validation import positive_int

SPLITS = ("train", "validation", "test")


def check_split(split):
    """Return `split` if it is "train", "validation" (held out of the training split,
    `keras_trt.data.holdout`) or "test", else raise ValueError naming the argument."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got split={split!r}")
    return split


def check_positive_int(name, value):
    return positive_int(value, name)


def resolve_timesteps(timesteps, T, default, stacklevel=3):
    """`timesteps`, or the deprecated `T=` alias with a DeprecationWarning.

    Layers and models call the number of frames ``timesteps``; the loaders took ``T=``
    before, which keeps working (for one release) with a warning. Passing both with
    different values is a TypeError, as any argument given twice.
    """
    if T is None:
        return timesteps
    warnings.warn("T= is deprecated and will be removed in the next release; pass "
                  f"timesteps={T!r} instead (the name layers and models use)",
                  DeprecationWarning, stacklevel=stacklevel)
    if timesteps != default and timesteps != T:
        raise TypeError(f"got both timesteps={timesteps!r} and its deprecated alias T={T!r}; "
                        "pass timesteps= only")
    return T


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {name}={value!r}")
    return value


def check_size(size, name="size"):
    """`size` as an (H, W) tuple of positive ints; an int means a square."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or an (H, W) pair, got {name}={size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, got {name}={size!r}")
    return (h, w)


def resolve_data_dir(data_dir):
    """The data folder: the argument, else $KERAS_TRT_DATA_DIR, else $TFDS_DATA_DIR, else None."""
    if data_dir is None:
        data_dir = os.environ.get("KERAS_TRT_DATA_DIR") or os.environ.get("TFDS_DATA_DIR")
    return None if data_dir is None else os.path.abspath(os.path.expanduser(str(data_dir)))


_DIGITS = re.compile(r"(\d+)")


def natural_key(name):
    """Sort key that compares digit runs as numbers: "img_9" < "img_10".

    Equal to plain sorting for zero-padded names (N-Caltech101's image_0001.bin) and keeps
    CIFAR10-DVS's unpadded numbering in recording order, so "the first 90% in sorted file
    order" are recordings 0..899 of each class, as in the paper's preprocessing.
    """
    return [int(p) if p.isdigit() else p for p in _DIGITS.split(name)]


def list_class_files(root, suffix):
    """{class folder name: [file paths in natural order]} for `root/<class>/*<suffix>`."""
    out = {}
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir():
                files = [f.name for f in os.scandir(entry.path)
                         if f.is_file() and f.name.endswith(suffix)]
                if files:
                    out[entry.name] = [os.path.join(entry.path, f)
                                       for f in sorted(files, key=natural_key)]
    return out


def split_per_class(files_by_label, split, train_fraction, rounding):
    """Deterministic per-class split: the first part of each class's (sorted) list trains.

    rounding="floor" keeps int(train_fraction * n) (CIFAR10-DVS: 900 of 1000),
    rounding="ceil" keeps ceil(train_fraction * n) (SpikingJelly's split_to_train_test_set,
    used for N-Caltech101). Returns (paths, labels) of `split`, classes in label order.
    """
    import math

    paths, labels = [], []
    for label in sorted(files_by_label):
        files = files_by_label[label]
        n = len(files)
        # Same float expression as the reference code (exact for 0.9 and n < 2000).
        k = math.ceil(n * train_fraction) if rounding == "ceil" else int(n * train_fraction)
        chosen = files[:k] if split == "train" else files[k:]
        paths += chosen
        labels += [label] * len(chosen)
    return paths, labels
