"""CIFAR-10 / CIFAR-100 through tensorflow-datasets, augmented as the paper
(docs/method.md, CIFAR-10 and CIFAR-100).

```text
import keras_trt as kt
train = kt.data.cifar10("train", data_dir="~/tensorflow_datasets")   # prepared by tfds
test = kt.data.cifar10("test", data_dir="~/tensorflow_datasets")
model.fit(train, validation_data=test, epochs=...)    # x: (B, 32, 32, 3) float32
```
"""

import os

import numpy as np

from keras_trt.data._arguments import check_positive_int, check_split, resolve_data_dir
from keras_trt.data.holdout import check_holdout_args, split_rows

# Normalisation (docs/method.md, CIFAR-10 and CIFAR-100) constants: (mean, std) per channel.
CIFAR_MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}
ARCHIVES = {
    "cifar10": ("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"),
    "cifar100": ("cifar-100-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"),
}


def cifar10(split="train", data_dir=None, batch_size=64, augment=None, shuffle=None,
            download=False, manual_dir=None, seed=None, cache=True, validation_fraction=0.0,
            validation_seed=0, train_samples=None):
    """CIFAR-10 as normalised float32 (B, 32, 32, 3) images and int32 labels.

    Training augmentation (default on for "train"; docs/method.md, CIFAR-10 and
    CIFAR-100), per sample on the uint8
    image: random 32x32 crop of the image zero-padded by 4 pixels, horizontal flip with
    p=0.5, scale to [0, 1], one 16x16 cutout (centre uniform over all pixels, clipped at
    the borders, set to 0 before normalisation so the hole reads -mean/std), normalise by
    mean (0.4914, 0.4822, 0.4465) and std (0.2023, 0.1994, 0.2010). Test: normalise only.
    The pipeline is vectorised per batch, parallel and prefetched.

    Args:
        split: "train" (50,000) or "test" (10,000).
        data_dir: tensorflow-datasets data folder (holding ``cifar10/3.0.2/``); default
            ``$KERAS_TRT_DATA_DIR``, ``$TFDS_DATA_DIR``, then tfds' ``~/tensorflow_datasets``.
        batch_size: samples per batch (the last partial batch is kept).
        augment: None means True for "train" and False for "test".
        shuffle: None means True for "train" (a full reshuffle every epoch).
        download: let tfds download and prepare the dataset if it is missing. Without it,
            nothing touches the network: a missing dataset raises FileNotFoundError, unless
            the original archive lies in ``manual_dir``, from which tfds prepares it offline.
        manual_dir: folder holding ``cifar-10-binary.tar.gz``; default
            ``<data_dir>/downloads/manual``.
        seed: seed of shuffling and augmentation (None: different every run).
        cache: keep the decoded uint8 images in memory after the first epoch (180 MB).
        validation_fraction, validation_seed, train_samples: ``split="validation"`` is a
            part of the training split held out (no augmentation), "train" the rest,
            optionally a subset (`keras_trt.data.holdout`; default: none).
    """
    return _cifar("cifar10", split, data_dir, batch_size, augment, shuffle, download,
                  manual_dir, seed, cache,
                  validation_fraction, validation_seed, train_samples)


def cifar100(split="train", data_dir=None, batch_size=64, augment=None, shuffle=None,
             download=False, manual_dir=None, seed=None, cache=True, validation_fraction=0.0,
            validation_seed=0, train_samples=None):
    """CIFAR-100 (fine labels, 100 classes), exactly as :func:`cifar10` with the CIFAR-100
    constants mean (0.5071, 0.4867, 0.4408) and std (0.2675, 0.2565, 0.2761)."""
    return _cifar("cifar100", split, data_dir, batch_size, augment, shuffle, download,
                  manual_dir, seed, cache,
                  validation_fraction, validation_seed, train_samples)


def _labels(builder, split):
    """The labels of `split` in file order, read without decoding the images."""
    import tensorflow_datasets as tfds

    ds = builder.as_dataset(split=split, shuffle_files=False,
                            decoders={"image": tfds.decode.SkipDecoding()})
    return np.fromiter((int(r["label"]) for r in tfds.as_numpy(ds)), np.int64)


def tfds_builder(name, data_dir=None, download=False, manual_dir=None):
    """A prepared tfds builder of `name`, preparing it offline from `manual_dir` if possible."""
    import tensorflow_datasets as tfds

    data_dir = resolve_data_dir(data_dir)
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    root = os.path.dirname(os.path.dirname(os.fspath(builder.data_dir)))
    manual_dir = os.path.abspath(os.path.expanduser(
        manual_dir or os.path.join(root, "downloads", "manual")))
    archive, url = ARCHIVES.get(name, (None, None))
    if download or (archive and os.path.isfile(os.path.join(manual_dir, archive))):
        # With the archive in manual_dir tfds checks its checksum and never downloads;
        # try_download_gcs=False keeps it from fetching a prepared copy.
        config = tfds.download.DownloadConfig(manual_dir=manual_dir,
                                              try_download_gcs=bool(download))
        builder.download_and_prepare(download_config=config)
        return builder
    raise FileNotFoundError(
        f"{name} is not prepared in {root} (searched {builder.data_dir}) and download=False.\n"
        f"Expected layout: {root}/{name}/{builder.version}/ (dataset_info.json and "
        f"{name}-train.* / {name}-test.* files written by tensorflow-datasets), or the "
        f"original archive {manual_dir}/{archive} to prepare it from offline.\n"
        f"The files come from {url} (tensorflow-datasets' '{name}'). Pass download=True to "
        f"let tfds fetch and prepare it, set data_dir (or KERAS_TRT_DATA_DIR / TFDS_DATA_DIR), "
        "or copy a prepared tensorflow_datasets folder; see docs/datasets.md.")


def _cifar(name, split, data_dir, batch_size, augment, shuffle, download, manual_dir, seed,
           cache, validation_fraction=0.0, validation_seed=0, train_samples=None):
    check_split(split)
    check_holdout_args(validation_fraction, validation_seed, train_samples, split)
    check_positive_int("batch_size", batch_size)
    builder = tfds_builder(name, data_dir, download, manual_dir)

    import tensorflow as tf

    from keras_trt.data import augment as aug
    from keras_trt.data.pipeline import AUTOTUNE, with_batch_seeds

    train = split == "train"
    augment = train if augment is None else bool(augment) and split != "validation"
    shuffle = train if shuffle is None else bool(shuffle)
    mean, std = CIFAR_MEAN_STD[name]
    source = "test" if split == "test" else "train"
    ds = builder.as_dataset(split=source, as_supervised=True, shuffle_files=False)
    n = builder.info.splits[source].num_examples
    rows = None if split == "test" else split_rows(
        _labels(builder, source), split, validation_fraction, validation_seed, train_samples)
    if rows is not None:
        keep = np.zeros(n, bool)
        keep[rows] = True
        keep = tf.constant(keep)
        ds = ds.enumerate().filter(lambda i, xy: tf.gather(keep, i)).map(lambda i, xy: xy)
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(rows)))
        n = len(rows)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)  # the last partial batch is kept
    if augment:
        ds = with_batch_seeds(ds, seed).map(
            lambda xy, s: (aug.cifar_train(xy[0], s, mean, std), tf.cast(xy[1], tf.int32)),
            num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda x, y: (aug.normalize(tf.cast(x, tf.float32) / 255.0, mean, std),
                                  tf.cast(y, tf.int32)), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
