"""N-Caltech101 from tonic's ``NCALTECH101`` files, framed as SpikingJelly does
(docs/method.md, N-Caltech101).

```text
import keras_trt as kt
train = kt.data.ncaltech101("train", data_dir="~/data")  # ~/data/NCALTECH101/Caltech101/<class>/*.bin
model.fit(train, epochs=...)                              # x: (B, 10, 48, 48, 2), raw counts
```
"""

from keras_trt.data._arguments import resolve_data_dir, resolve_timesteps
from keras_trt.data._dvs import check_args, dvs_dataset, find_root

# SpikingJelly's fixed frame size (H=180, W=240); tonic's (W, H, P) order.
SENSOR_SIZE = (240, 180, 2)
NUM_CLASSES = 101
SOURCE = ("tonic's NCALTECH101 download (https://data.mendeley.com/datasets/cy6cvx3ryv, "
          "N-Caltech101-archive.zip -> Caltech101.zip, Orchard et al. 2015; also "
          "https://www.garrickorchard.com/datasets/n-caltech101): unzip both, or run "
          "tonic.datasets.NCALTECH101(save_to=data_dir) once on a machine with network.")
LAYOUT = ("<data_dir>/NCALTECH101/Caltech101/<class>/image_NNNN.bin (tonic's save_to layout; "
          "<data_dir>/Caltech101/<class>/ or <data_dir>/<class>/ also work), 101 class folders "
          "(100 objects + BACKGROUND_Google), 8,709 recordings in 40-bit ATIS format")


def ncaltech101(split="train", data_dir=None, batch_size=64, timesteps=10, split_by="number",
                size=48, shuffle=None, seed=None, cache_dir=None, num_workers=None, verbose=1,
                T=None, validation_fraction=0.0, validation_seed=0, train_samples=None):
    """N-Caltech101 as (B, T, 48, 48, 2) float32 raw event counts and int32 labels.

    Recordings are read with tonic's ATIS reader (``tonic.io.read_mnist_file`` with
    ``NCALTECH101.dtype``) without tonic's per-sample shift of x/y, onto a fixed 240x180
    sensor, and framed by :func:`keras_trt.data.events.frame_events`: T frames of equal
    event counts, the last frame also taking the N mod T left-over events (SpikingJelly's
    ``split_by='number'``), per-polarity counts (channel 0 OFF, 1 ON), no normalisation,
    each channel resized to ``size`` (antialiased bilinear; the 3:4 aspect is not kept).
    Labels: index of the class folder in sorted order (``BACKGROUND_Google`` = 0, as
    SpikingJelly's DatasetFolder). Split: per class, the first ceil(0.9 n) recordings in
    file order train, the rest test. No augmentation (docs/method.md, N-Caltech101).

    Args: as :func:`keras_trt.data.dvs_cifar10` (no ``augment``): ``timesteps`` (T=
    is its deprecated alias), ``num_workers`` framing threads, ``verbose`` progress lines,
    ``validation_fraction``/``validation_seed``/``train_samples`` (`keras_trt.data.holdout`).

    Raises:
        FileNotFoundError: no recordings under ``data_dir`` (no download is attempted).
        ValueError: a bad argument, or a corrupt, truncated or empty .bin (the message
            names the file and what was expected).
    """
    timesteps = resolve_timesteps(timesteps, T, default=10)
    check_args(split, timesteps, batch_size, split_by, size, num_workers)
    data_dir = resolve_data_dir(data_dir)
    root, found = find_root(data_dir, ("NCALTECH101/Caltech101", "Caltech101", ""), ".bin",
                            "N-Caltech101", LAYOUT, SOURCE)
    if len(found) != NUM_CLASSES:
        import warnings
        warnings.warn(f"N-Caltech101: {len(found)} class folders under {root}, expected "
                      f"{NUM_CLASSES}; labels are indices into the sorted folders present",
                      stacklevel=2)
    files_by_label = {i: found[c] for i, c in enumerate(sorted(found))}
    return dvs_dataset(
        name="ncaltech101", split=split, root=root, files_by_label=files_by_label,
        reader="atis_bin", sensor_size=SENSOR_SIZE, timesteps=timesteps, split_by=split_by,
        size=size,
        normalize=None, extend_last=True, rounding="ceil", batch_size=batch_size,
        shuffle=shuffle, augment=None, seed=seed, cache_dir=cache_dir, num_workers=num_workers,
        verbose=verbose, validation_fraction=validation_fraction,
        validation_seed=validation_seed, train_samples=train_samples)


def class_names(data_dir=None):
    """The class folder names in label order."""
    data_dir = resolve_data_dir(data_dir)
    _, found = find_root(data_dir, ("NCALTECH101/Caltech101", "Caltech101", ""), ".bin",
                         "N-Caltech101", LAYOUT, SOURCE)
    return sorted(found)
