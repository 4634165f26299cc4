"""The loaders' argument checks and defaults: split, sizes, choices, timesteps (and its
deprecated `T=` alias), the data folder. No heavy imports here."""

import os
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
