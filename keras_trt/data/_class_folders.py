"""Class-folder datasets: files listed per class folder in natural order, split per class
in sorted order as the reference preprocessing does (CIFAR10-DVS, N-Caltech101)."""

import math
import os
import re

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
