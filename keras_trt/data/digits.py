"""digits_dvs: the embedded default dataset, event-camera digits that need no download.

scikit-learn's ``load_digits`` (1,797 real 8x8 handwritten digits, bundled with
scikit-learn) is upsampled 3x to 24x24, centred on a 32x32 sensor and recorded by the DVS
emulator of :mod:`keras_trt.data.dvs_emulator` (three saccades, 300 ms, log-intensity
contrast thresholds, ON/OFF events in microseconds, background noise). The events are
then framed by the same tonic pipeline as CIFAR10-DVS (:func:`keras_trt.data.events.frame_events`).

Default output: ``x`` (B, 10, 32, 32, 2) float32 in [0, 1] (per-frame max normalised,
channel 0 OFF, channel 1 ON), ``y`` int32 in 0..9. Fixed split: per class, the first 80%
of the samples in scikit-learn's order train (1,433), the rest test (364). Generating the
events takes a few seconds once (cached, see :mod:`keras_trt.data.cache`).

```python
import keras_trt as kt

train = kt.data.digits_dvs("train", batch_size=64)
test = kt.data.digits_dvs("test", batch_size=64)
x, y = next(iter(train))
print(x.shape, y.shape)   # (64, 10, 32, 32, 2) (64,)
```
"""

import os

import numpy as np

from keras_trt.data import cache
from keras_trt.data._arguments import (check_choice, check_positive_int, check_size,
                                       check_split, resolve_timesteps)
from keras_trt.data.holdout import check_holdout_args, split_rows

SENSOR = 32        # sensor side in pixels
UPSAMPLE = 3       # 8x8 digits -> 24x24, leaving a 4-pixel margin for the saccades
TRAIN_FRACTION = 0.8
NUM_CLASSES = 10
EMULATOR = dict(saccade_us=100_000, step_us=2_000, threshold=0.3, threshold_sigma=0.03,
                log_eps=0.15, noise_hz=1.0)


def _digit_images():
    """(1797, 32, 32) intensities in [0, 1] and labels, from scikit-learn's bundled copy."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    side = 8 * UPSAMPLE
    m = (SENSOR - side) // 2
    out = np.zeros((len(digits.images), SENSOR, SENSOR), np.float32)
    for i, img in enumerate(digits.images.astype(np.float32) / 16.0):
        big = Image.fromarray(img, mode="F").resize((side, side), Image.BILINEAR)
        out[i, m:m + side, m:m + side] = np.clip(np.asarray(big), 0, 1)
    return out, digits.target.astype(np.int32)


def digits_dvs_events(seed=0, cache_dir=None, verbose=0):
    """Events of every digit: ``(events, offsets, labels)`` (see ``emulate_saccades``).

    Generated once per seed and cached as plain .npy arrays; ``verbose=1`` prints a line
    to stderr before and after the generation (seconds, once).
    """
    parts = {"dataset": "digits_dvs_events", "seed": int(seed), "sensor": SENSOR,
             "upsample": UPSAMPLE, **EMULATOR}
    names = ("t", "x", "y", "p", "offsets", "labels")

    def build(tmp):
        from keras_trt.data.dvs_emulator import emulate_saccades
        from keras_trt.data.progress import Progress

        images, labels = _digit_images()
        progress = Progress(len(images), "digits_dvs: emulating the event camera",
                            verbose=verbose, unit="digits")
        ev, offsets = emulate_saccades(images, seed=seed, **EMULATOR)
        progress.update(len(images))
        for n in ("t", "x", "y", "p"):
            cache.save_npy(os.path.join(tmp, f"{n}.npy"), ev[n])
        cache.save_npy(os.path.join(tmp, "offsets.npy"), offsets)
        cache.save_npy(os.path.join(tmp, "labels.npy"), labels)

    a = cache.build(cache.entry_dir("digits_dvs", parts, cache_dir), build, meta=parts,
                    names=names, mmap=False)
    from keras_trt.data.events import EVENT_DTYPE

    events = np.empty(len(a["t"]), EVENT_DTYPE)
    for n in ("t", "x", "y", "p"):
        events[n] = a[n]
    return events, a["offsets"], a["labels"]


def split_indices(labels, split):
    """The fixed split: per class, the first 80% (sklearn order) train, the rest test."""
    idx = []
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(labels == c)
        k = int(len(members) * TRAIN_FRACTION)
        idx.append(members[:k] if split == "train" else members[k:])
    return np.sort(np.concatenate(idx))


def digits_dvs(split="train", data_dir=None, batch_size=64, timesteps=10, size=32,
               split_by="number", normalize="max", augment=False, shuffle=None, seed=0,
               cache_dir=None, verbose=1, T=None, validation_fraction=0.0, validation_seed=0,
               train_samples=None):
    """Event-camera digits as (B, T, size, size, 2) float32 frames and int32 labels.

    Args:
        split: "train" (1,433 samples) or "test" (364); "validation" is a part of "train"
            held out (`validation_fraction` > 0, see `keras_trt.data.holdout`).
        data_dir: unused (the data is embedded); accepted for the common signature.
        batch_size: samples per batch (the last partial batch is kept).
        timesteps: frames per sample (T). split_by: "number" (equal event counts) or "time".
        size: frame size, int or (H, W); 32 is the native sensor (no resize).
        normalize: "max" (each frame divided by its maximum) or None (raw counts).
        augment: DVS-CIFAR10's flip + circular shift (off by default).
        shuffle: None means True for "train".
        seed: seed of the emulator (the events), shuffling and augmentation.
        cache_dir: cache root (default ``$KERAS_TRT_CACHE_DIR`` or ``~/.cache/keras_trt``).
        verbose: 1 (default) prints progress lines to stderr while the cache is built (the
            first call, seconds); 0 prints nothing.
        T: deprecated alias of ``timesteps`` (DeprecationWarning).
        validation_fraction, validation_seed, train_samples: the validation split held
            out of "train" and a training subset (`keras_trt.data.holdout`; default: none).
    """
    del data_dir
    T = resolve_timesteps(timesteps, T, default=10)
    check_split(split)
    check_holdout_args(validation_fraction, validation_seed, train_samples, split)
    rows_of = split
    if split == "validation":
        split = "train"   # the cached arrays are the training split's; rows select the part
    check_positive_int("timesteps", T)
    check_positive_int("batch_size", batch_size)
    check_choice("split_by", split_by, ("number", "time"))
    check_choice("normalize", normalize, (None, "max"))
    size = check_size(size)
    parts = {"dataset": "digits_dvs", "split": split, "T": T, "size": size,
             "split_by": split_by, "normalize": normalize, "events_seed": int(seed),
             "sensor": SENSOR, "upsample": UPSAMPLE, **EMULATOR}

    sample_index = []  # cache row -> digit index in scikit-learn's order, for error messages

    def build(tmp):
        from keras_trt.data.events import frame_events
        from keras_trt.data.progress import Progress

        events, offsets, labels = digits_dvs_events(seed, cache_dir, verbose=verbose)
        idx = split_indices(labels, split)
        sample_index[:] = idx
        x = np.lib.format.open_memmap(os.path.join(tmp, "x.npy"), mode="w+",
                                      dtype=np.float32, shape=(len(idx), T, *size, 2))
        progress = Progress(len(idx), f"digits_dvs {split}: framing", verbose=verbose,
                            unit="recordings")
        for j, i in enumerate(idx):
            x[j] = frame_events(events[offsets[i]:offsets[i + 1]], (SENSOR, SENSOR, 2),
                                timesteps=T, split_by=split_by, size=size, normalize=normalize)
            progress.update(j + 1)
        x.flush()
        del x
        cache.save_npy(os.path.join(tmp, "y.npy"), labels[idx])

    arrays = cache.build(cache.entry_dir("digits_dvs", parts, cache_dir), build, meta=parts,
                         describe_sample=lambda j: f"digit {sample_index[j]}")
    from keras_trt.data.pipeline import array_dataset

    aug_fn = None
    if augment:
        from keras_trt.data.augment import dvs_flip_roll
        aug_fn = dvs_flip_roll
    rows = None if split == "test" else split_rows(
        np.asarray(arrays["y"]), rows_of, validation_fraction, validation_seed, train_samples)
    if rows_of == "validation":
        aug_fn = None    # a validation split measures the model, never augments
    return array_dataset(arrays["x"], arrays["y"], batch_size,
                         shuffle=(rows_of == "train") if shuffle is None else shuffle,
                         seed=seed, augment=aug_fn, rows=rows)
