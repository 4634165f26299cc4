"""Crash-safe file writes: a reader sees the old file or the new one, never a half-written one.

```python
import json, os, tempfile
from keras_trt.atomic_io import write_json_atomic

path = os.path.join(tempfile.mkdtemp(), "results.json")
write_json_atomic(path, {"accuracy": 0.9})
print(json.load(open(path))["accuracy"])   # 0.9
```
"""

import json
import os

__all__ = ["write_json_atomic", "fsync_dir"]


def _json_default(value):
    # NumPy scalars (and 0-d arrays) become Python numbers; anything else its text.
    try:
        return value.item()
    except (AttributeError, ValueError):
        return str(value)


def write_json_atomic(path, obj, indent=2):
    """Writes `obj` as JSON to `path` atomically: into `<path>.tmp`, flushed to disk, then
    renamed over `path` (a rename within one folder is atomic on POSIX and Windows).

    NumPy scalars are written as numbers, other values JSON cannot hold as their `str`.
    The folder entry itself is not synced: a caller that needs the rename to survive a
    power cut calls `fsync_dir` on the folder after it.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, default=_json_default)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def fsync_dir(path):
    """Flushes the entries of folder `path` (a rename into it, new files) to disk, so that
    they survive a power cut; a no-op where the platform cannot open a folder (Windows,
    where the rename is atomic anyway) or cannot sync one.

    ```python
    import tempfile
    from keras_trt.atomic_io import fsync_dir
    fsync_dir(tempfile.mkdtemp())
    ```
    """
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
