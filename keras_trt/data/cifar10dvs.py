"""CIFAR10-DVS from tonic's ``CIFAR10DVS`` files, framed as the paper's code does
(docs/method.md, DVS-CIFAR10).

```text
import keras_trt as kt
train = kt.data.dvs_cifar10("train", data_dir="~/data")   # ~/data/CIFAR10DVS/<class>/*.aedat4
test = kt.data.dvs_cifar10("test", data_dir="~/data")
model.fit(train, validation_data=test, epochs=...)        # x: (B, 10, 48, 48, 2)
```
"""

from keras_trt.data._arguments import resolve_data_dir, resolve_timesteps
from keras_trt.data._dvs import check_args, dvs_dataset, find_root, warn_missing_classes

# tonic's CIFAR10DVS.classes / sensor_size (checked equal in the tests); kept here so the
# layout check runs before tonic is imported (2 s), keeping a missing-data error instant.
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
SENSOR_SIZE = (128, 128, 2)
SOURCE = ("tonic's CIFAR10DVS download (https://figshare.com/ndownloader/files/38023437, "
          "CIFAR10DVS.zip, 10 class zips of .aedat4 recordings converted from the original "
          "CIFAR10-DVS release by Li et al. 2017): unzip it and every class zip inside, or run "
          "tonic.datasets.CIFAR10DVS(save_to=data_dir) once on a machine with network.")


def dvs_cifar10(split="train", data_dir=None, batch_size=64, timesteps=10, split_by="number",
                size=48, augment=None, shuffle=None, seed=None, cache_dir=None, num_workers=None,
                verbose=1, T=None, frames="counts", validation_fraction=0.0,
                validation_seed=0, train_samples=None):
    """CIFAR10-DVS as (B, T, 48, 48, 2) float32 frames in [0, 1] and int32 labels.

    Recordings are read with tonic's aedat4 reader (tonic's ``CIFAR10DVS`` class metadata:
    class names -> labels 0..9, 128x128 sensor) and framed once by
    :func:`keras_trt.data.events.frame_events`: T frames of equal event counts
    (``split_by="time"``: equal durations), per-polarity counts (channel 0 OFF, 1 ON), each
    frame divided by its maximum, each channel resized to ``size`` (antialiased bilinear).
    The frames are cached on disk (see :mod:`keras_trt.data.cache`).

    ``frames="reference"`` reproduces the TRT reference's frames exactly instead
    (docs/datasets.md, CIFAR10-DVS frames): binary occupancy maps of both polarities in
    channel 1 (channel 0 zero), quantised to 8 bits before the resize, laid out as the
    reference's arrays (columns along the sensor x reversed).

    Split (fixed; docs/method.md, DVS-CIFAR10): per class, the first 90% of the
    recordings in natural
    file order (0, 1, ..., 999) train, the rest test. Training augmentation (default on
    for "train"): flip along W with p=0.5 (the sensor axis the reference flips, see
    docs/datasets.md), then a circular shift by (dy, dx) uniform in [-5, 5], the same for
    all T frames.

    Args:
        split: "train" or "test".
        data_dir: folder holding ``CIFAR10DVS/<class>/*.aedat4`` (tonic's ``save_to``
            layout) or the class folders directly; default ``$KERAS_TRT_DATA_DIR``.
        batch_size: samples per batch (the last partial batch is kept).
        timesteps: frames per sample (T). split_by: "number" (default, the code) or "time".
        size: output frame size, int or (H, W).
        augment: None means True for "train" and False for "test".
        shuffle: None means True for "train".
        seed: seed of shuffling and augmentation (None: different every run).
        cache_dir: cache root (default ``$KERAS_TRT_CACHE_DIR`` or ``~/.cache/keras_trt``).
        num_workers: threads that frame the recordings the first time (default: all
            cores, at most 8). Works from any script, ``python -c`` or notebook, with or
            without an ``if __name__ == "__main__":`` guard.
        verbose: 1 (default) prints progress lines to stderr while the cache is built
            (minutes for the whole dataset, once); 0 prints nothing.
        T: deprecated alias of ``timesteps`` (DeprecationWarning).
        frames: "counts" (default, per-polarity counts) or "reference" (the reference's
            binary single-channel 8-bit frames, exactly).
        validation_fraction, validation_seed, train_samples: a validation split held out
            of "train" (``split="validation"``) and a training subset
            (`keras_trt.data.holdout`; default: none).

    Raises:
        FileNotFoundError: no recordings under ``data_dir`` (no download is attempted).
        ValueError: a bad argument, or a corrupt or empty recording (the message names the
            file and what was expected).
    """
    timesteps = resolve_timesteps(timesteps, T, default=10)
    check_args(split, timesteps, batch_size, split_by, size, num_workers)
    from keras_trt.data._arguments import check_choice
    check_choice("frames", frames, ("counts", "reference"))
    data_dir = resolve_data_dir(data_dir)
    layout = ("<data_dir>/CIFAR10DVS/<class>/<n>.aedat4 for the 10 classes "
              f"{', '.join(CLASSES)} (1000 recordings each)")
    root, found = find_root(data_dir, ("CIFAR10DVS", ""), ".aedat4", "CIFAR10-DVS", layout,
                            SOURCE)
    files_by_label = {CLASSES.index(c): f for c, f in found.items() if c in CLASSES}
    if not files_by_label:
        raise FileNotFoundError(f"CIFAR10-DVS: no class folder under {root} has a CIFAR-10 "
                                f"class name. Expected layout: {layout}\nThe files come from {SOURCE}")
    warn_missing_classes("CIFAR10-DVS", [c for c in found if c in CLASSES], CLASSES)
    if augment is None:
        augment = split == "train"
    aug_fn = None
    if augment:
        from keras_trt.data.augment import dvs_flip_roll
        aug_fn = dvs_flip_roll
    return dvs_dataset(
        name="dvs_cifar10", split=split, root=root, files_by_label=files_by_label,
        reader="aedat4", sensor_size=SENSOR_SIZE, timesteps=timesteps, split_by=split_by,
        size=size, normalize="max", extend_last=False, rounding="floor", batch_size=batch_size,
        shuffle=shuffle, augment=aug_fn, seed=seed, cache_dir=cache_dir, num_workers=num_workers,
        verbose=verbose, representation=frames, validation_fraction=validation_fraction,
        validation_seed=validation_seed, train_samples=train_samples)
