"""On-disk cache of computed arrays: plain `.npy` files, keyed by what changes them.

Framing event recordings is the slow part of the DVS pipelines, so it runs once; every
later epoch (and every later run) reads the cached arrays, memory-mapped.

Layout: ``<cache root>/<dataset>/<key>/{x.npy, y.npy, meta.json}`` where ``key`` is a hash
of everything that changes the content (dataset, split, T, split mode, size, normalisation,
the list of source files with their sizes, the pipeline version). The cache root is the
``cache_dir`` argument, else ``$KERAS_TRT_CACHE_DIR``, else ``~/.cache/keras_trt``.

An entry is built in a temporary sibling folder and renamed into place in one
``os.replace``: an interrupted run leaves only a ``.tmp-*`` folder that no later run
trusts (and that the next build of the same entry removes).

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


def build(entry, builder, meta=None, names=("x", "y"), mmap=True):
    """Return the entry's arrays, building them first with ``builder(tmp_dir)`` if missing.

    ``builder`` writes ``<name>.npy`` files into ``tmp_dir`` (it may use
    ``np.lib.format.open_memmap`` to stream large arrays to disk).
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
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({**(meta or {}), "build_seconds": round(time.perf_counter() - t0, 3)}, f,
                      indent=1, default=str)
        try:
            os.replace(tmp, entry)
        except OSError:
            # Another process finished the same entry first: same key, same content.
            if load(entry, names, mmap) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _remove_stale_tmp(parent, os.path.basename(entry))
    return load(entry, names, mmap)


def _remove_stale_tmp(parent, key, max_age_s=3600):
    now = time.time()
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        if name.startswith(f".tmp-{key}-") and now - os.path.getmtime(path) > max_age_s:
            shutil.rmtree(path, ignore_errors=True)


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
