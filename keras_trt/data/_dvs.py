"""Shared loader logic of the folder-based DVS datasets: layout check, split, cache, tf.data."""

import os
import warnings

import numpy as np

from keras_trt.data import cache
from keras_trt.data._arguments import check_choice, check_positive_int, check_size, check_split
from keras_trt.data._class_folders import list_class_files, split_per_class
from keras_trt.data.holdout import check_holdout_args, split_rows
from keras_trt.data.events import SPLIT_MODES


def find_root(data_dir, candidates, suffix, what, layout, source):
    """First of `candidates` (relative to data_dir) holding <class>/*<suffix> files.

    Only looks at the local disk, so a missing dataset fails in milliseconds instead of
    letting tonic's dataset classes start a download.
    """
    searched = []
    if data_dir is not None:
        for rel in candidates:
            root = os.path.join(data_dir, rel) if rel else data_dir
            searched.append(root)
            if os.path.isdir(root):
                found = list_class_files(root, suffix)
                if found:
                    return root, found
    where = (", ".join(searched) if searched else
             "nothing (data_dir=None and $KERAS_TRT_DATA_DIR is not set)")
    raise FileNotFoundError(
        f"{what} not found: searched {where} for class folders of *{suffix} files.\n"
        f"Expected layout: {layout}\n"
        f"The files come from {source}\n"
        "Pass data_dir=<folder> (or set KERAS_TRT_DATA_DIR). keras-trt never downloads "
        "them itself; see docs/datasets.md.")


def check_args(split, timesteps, batch_size, split_by, size, num_workers=None):
    """Argument errors come before any file search, so they name the argument."""
    check_split(split)
    check_positive_int("timesteps", timesteps)
    if num_workers is not None:
        check_positive_int("num_workers", num_workers)
    check_positive_int("batch_size", batch_size)
    check_choice("split_by", split_by, SPLIT_MODES)
    return check_size(size)


def dvs_dataset(*, name, split, root, files_by_label, reader, sensor_size, timesteps, split_by,
                size, normalize, extend_last, rounding, batch_size, shuffle, augment, seed,
                cache_dir, num_workers, verbose, representation="counts",
                validation_fraction=0.0, validation_seed=0, train_samples=None):
    """Frames of `split` (cached on first use) as a batched tf.data.Dataset; "validation"
    selects rows of the training split's cache (`keras_trt.data.holdout`)."""
    size = check_args(split, timesteps, batch_size, split_by, size, num_workers)
    check_holdout_args(validation_fraction, validation_seed, train_samples, split)
    rows_of = split
    if split == "validation":
        split = "train"
    T = timesteps
    paths, labels = split_per_class(files_by_label, split, 0.9, rounding)
    if not paths:
        raise ValueError(f"{name}: the {split!r} split of {root} is empty "
                         "(too few recordings per class)")
    parts = {"dataset": name, "split": split, "T": T, "split_by": split_by, "size": size,
             "normalize": normalize, "extend_last": extend_last, "sensor_size": sensor_size,
             "files": cache.files_fingerprint(paths, root), "n": len(paths)}
    if representation != "counts":  # only then: the caches of counts keep their keys
        parts["representation"] = representation
    entry = cache.entry_dir(name, parts, cache_dir)

    def build(tmp):
        from numpy.lib.format import open_memmap

        x = open_memmap(os.path.join(tmp, "x.npy"), mode="w+", dtype=np.float32,
                        shape=(len(paths), T, *size, 2))
        from keras_trt.data.events import frame_files

        frame_files(paths, reader, x, num_workers=num_workers, verbose=verbose,
                    desc=f"{name} {split}: framing", sensor_size=sensor_size, timesteps=T,
                    split_by=split_by, size=size, normalize=normalize, extend_last=extend_last,
                    representation=representation)
        x.flush()
        del x
        cache.save_npy(os.path.join(tmp, "y.npy"), np.asarray(labels, np.int32))

    # "T" (not "timesteps") in the key keeps the caches built before the rename valid.
    arrays = cache.build(entry, build, meta={**parts, "root": root},
                         describe_sample=lambda i: paths[i])
    from keras_trt.data.pipeline import array_dataset

    rows = None if split == "test" else split_rows(
        np.asarray(arrays["y"]), rows_of, validation_fraction, validation_seed, train_samples)
    train = rows_of == "train"
    return array_dataset(arrays["x"], arrays["y"], batch_size,
                         shuffle=train if shuffle is None else shuffle, seed=seed,
                         augment=augment if rows_of != "validation" else None, rows=rows)


def warn_missing_classes(name, found, expected):
    missing = sorted(set(expected) - set(found))
    if missing:
        warnings.warn(f"{name}: {len(missing)} of {len(expected)} class folders missing "
                      f"(e.g. {missing[:3]}); labels of the present ones are unchanged",
                      stacklevel=3)
