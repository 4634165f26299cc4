"""On-disk cache of computed arrays: plain `.npy` files, keyed by what changes them.

Framing event recordings is the slow part of the DVS pipelines, so it runs once; every
later epoch (and every later run) reads the cached arrays, memory-mapped.

Layout: ``<cache root>/<dataset>/<key>/{x.npy, y.npy, meta.json}`` where ``key`` is a hash
of everything that changes the content (dataset, split, T, split mode, size, normalisation,
the list of source files with their sizes, the pipeline version). The cache root is the
``cache_dir`` argument, else ``$KERAS_TRT_CACHE_DIR``, else ``~/.cache/keras_trt``.

An entry is built in a temporary sibling folder, checked (no NaN or infinity in its float
arrays), flushed to disk and renamed into place in one ``os.replace``: an interrupted or
failed build leaves at most a ``.tmp-*`` folder that no later run trusts (and that a later
build of the same entry removes once it is an hour old).

```python
from keras_trt.data import cache
entry = cache.entry_dir("digits_dvs", {"T": 10, "split": "train"})
```
"""

import hashlib
import json
import os
import shutil
import time
import uuid

import numpy as np

from keras_trt.atomic_io import fsync_dir

# Bump when the framing code changes its output, so old caches are not reused.
PIPELINE_VERSION = 1


def cache_root(cache_dir=None):
    root = cache_dir or os.environ.get("KERAS_TRT_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "keras_trt")
    return os.path.abspath(os.path.expanduser(str(root)))


def cache_key(parts):
    """Short stable hash of a JSON-serialisable dict."""
    blob = json.dumps({"pipeline_version": PIPELINE_VERSION, **parts}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def files_fingerprint(paths, root):
    """Hash of (relative path, size) of the source files: new or changed files give a new key."""
    h = hashlib.sha256()
    for p in paths:
        h.update(os.path.relpath(p, root).encode())
        h.update(str(os.path.getsize(p)).encode())
    return h.hexdigest()[:20]


def entry_dir(dataset, parts, cache_dir=None):
    return os.path.join(cache_root(cache_dir), dataset, cache_key(parts))


def load(entry, names=("x", "y"), mmap=True):
    """The arrays of a complete entry (memory-mapped), or None if it does not exist."""
    if not os.path.isfile(os.path.join(entry, "meta.json")):
        return None
    try:
        return {n: np.load(os.path.join(entry, f"{n}.npy"), mmap_mode="r" if mmap else None,
                           allow_pickle=False) for n in names}
    except (OSError, ValueError):  # unreadable entry: rebuild rather than trust it
        return None


def build(entry, builder, meta=None, names=("x", "y"), mmap=True, describe_sample=None):
    """Return the entry's arrays, building them first with ``builder(tmp_dir)`` if missing.

    ``builder`` writes ``<name>.npy`` files into ``tmp_dir`` (it may use
    ``np.lib.format.open_memmap`` to stream large arrays to disk). Before the entry is
    committed, every floating-point array is checked once for NaN/infinity: a non-finite
    value raises ValueError naming the sample (``describe_sample(i)``, e.g. its source
    file) and nothing is cached. The files are flushed to disk and the folder renamed into
    place in one ``os.replace``; if the builder raises (or the process dies) no entry
    appears, so a later run rebuilds instead of trusting half-written arrays.
    """
    arrays = load(entry, names, mmap)
    if arrays is not None:
        return arrays
    parent = os.path.dirname(entry)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".tmp-{os.path.basename(entry)}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        t0 = time.perf_counter()
        builder(tmp)
        for n in names:
            check_finite(os.path.join(tmp, f"{n}.npy"), entry, describe_sample)
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({**(meta or {}), "build_seconds": round(time.perf_counter() - t0, 3)}, f,
                      indent=1, default=str)
        _fsync_folder(tmp)
        _replace_entry(tmp, entry, names, mmap)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _remove_stale_tmp(parent, os.path.basename(entry))
    return load(entry, names, mmap)


def check_finite(path, entry, describe_sample=None, chunk_bytes=64 << 20):
    """Raise ValueError if the float array in `path` holds a NaN or infinity.

    Reads the (memory-mapped) array in chunks of whole samples, so a multi-gigabyte cache
    is checked with bounded memory; integer arrays (labels, event fields) are skipped.
    """
    a = np.load(path, mmap_mode="r", allow_pickle=False)
    if a.dtype.kind not in "fc" or a.size == 0:
        return
    per_sample = max(a[0].nbytes if a.ndim else a.nbytes, 1)
    step = max(1, chunk_bytes // per_sample)
    for lo in range(0, len(a) if a.ndim else 1, step):
        block = np.asarray(a[lo:lo + step] if a.ndim else a)
        bad = ~np.isfinite(block)
        if bad.any():
            flat = bad.reshape(len(block), -1) if a.ndim else bad.reshape(1, -1)
            i = lo + int(np.flatnonzero(flat.any(axis=1))[0])
            what = f"sample {i}" + (f" ({describe_sample(i)})" if describe_sample else "")
            name = os.path.splitext(os.path.basename(path))[0]
            raise ValueError(
                f"non-finite values (NaN or infinity) in {what} of {name!r} while building "
                f"the cache entry {entry}; expected finite frames. Nothing was cached: "
                "check that source (a corrupt file or non-finite input events).")


def _fsync_folder(folder):
    # Without this a crash of the machine right after the rename could leave an entry
    # whose meta.json exists but whose arrays never reached the disk.
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as f:
            os.fsync(f.fileno())
    fsync_dir(folder)


def _replace_entry(tmp, entry, names, mmap):
    """Rename `tmp` to `entry`; a broken folder already at `entry` is removed first."""
    try:
        os.replace(tmp, entry)
    except OSError:
        if not os.path.isdir(entry):
            raise
        if load(entry, names, mmap) is not None:
            return  # another process finished the same entry first: same key, same content
        # A folder at `entry` that does not load (damaged, or written by something else)
        # would block the rename forever: move it aside, then remove it.
        broken = f"{tmp}-broken"
        os.replace(entry, broken)
        shutil.rmtree(broken, ignore_errors=True)
        os.replace(tmp, entry)
    fsync_dir(os.path.dirname(entry))


def _remove_stale_tmp(parent, key, max_age_s=3600):
    now = time.time()
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        if name.startswith(f".tmp-{key}-") and now - os.path.getmtime(path) > max_age_s:
            shutil.rmtree(path, ignore_errors=True)


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
