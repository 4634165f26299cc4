"""Tiny datasets in their genuine on-disk formats, written without a network, so that a
pipeline (keras-trt's loaders or your own) can be tested on real file layouts.

- `make_events`: random DVS events, a structured array (t, x, y, p) sorted by time;
- `write_aedat4`: a CIFAR10-DVS recording (.aedat4, via the `faery` package);
- `write_atis_bin`: an N-Caltech101 recording (40-bit ATIS events, .bin);
- `write_cifar_archive`: a CIFAR-10/100 binary-format .tar.gz.

```python
import os
import tempfile
import numpy as np
from keras_trt.testing.datasets import make_events, write_atis_bin

rng = np.random.default_rng(0)
events = make_events(rng, 100, width=240, height=180)
path = os.path.join(tempfile.mkdtemp(), "image_0001.bin")
write_atis_bin(path, events)
assert os.path.getsize(path) == 5 * len(events)
```
"""

import io
import tarfile

import numpy as np

__all__ = ["EVENTS", "make_events", "write_aedat4", "write_atis_bin", "write_cifar_archive"]

# The fields of one event: time (microseconds), pixel column and row, polarity (0 or 1).
EVENTS = np.dtype([("t", np.int64), ("x", np.int64), ("y", np.int64), ("p", np.int64)])


def make_events(rng, n, width, height, duration_us=100_000):
    """Random events sorted by time, as a structured array (t, x, y, p)."""
    ev = np.zeros(n, EVENTS)
    ev["t"] = np.sort(rng.integers(0, duration_us, n))
    ev["x"] = rng.integers(0, width, n)
    ev["y"] = rng.integers(0, height, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def write_aedat4(path, ev, width=128, height=128):
    """A CIFAR10-DVS recording as .aedat4, written with the faery package (the `test`
    extra installs it)."""
    import faery

    arr = np.zeros(len(ev), faery.EVENTS_DTYPE)
    arr["t"], arr["x"], arr["y"], arr["on"] = ev["t"], ev["x"], ev["y"], ev["p"] > 0
    faery.events_stream_from_array(arr, dimensions=(width, height)).to_file(
        str(path), zero_t0=False)


def write_atis_bin(path, ev):
    """An N-Caltech101 recording: 40-bit big-endian events (x 8 bits, y 8 bits, polarity
    1 bit + 23-bit timestamp)."""
    raw = np.zeros((len(ev), 5), np.uint8)
    t = ev["t"].astype(np.uint32)
    if (t >= 2 ** 23).any():
        raise ValueError("write_atis_bin: timestamps must be below 2**23 microseconds "
                         f"(23 bits), got up to {int(t.max())}.")
    raw[:, 0] = ev["x"]
    raw[:, 1] = ev["y"]
    raw[:, 2] = (ev["p"].astype(np.uint32) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    with open(path, "wb") as f:
        f.write(raw.tobytes())


def write_cifar_archive(path, name, images, labels):
    """A CIFAR binary-format .tar.gz as the CIFAR site serves it: per record the label
    byte(s) + 3072 bytes (R, G, B planes); the last 16 images are the test split.

    `name` is "cifar10" (5 train batches, one label byte) or "cifar100" (coarse and fine
    label bytes, the coarse label being `label // 5`); `images` (N, 32, 32, 3) uint8.
    tensorflow-datasets' CIFAR builders prepare such an archive from its manual folder.
    """
    prefix = {"cifar10": "cifar-10-batches-bin/", "cifar100": "cifar-100-binary/"}[name]

    def records(imgs, labs):
        planes = imgs.transpose(0, 3, 1, 2).reshape(len(imgs), -1)
        if name == "cifar10":
            lab = labs[:, None].astype(np.uint8)
        else:  # coarse label, fine label
            lab = np.stack([labs // 5, labs], 1).astype(np.uint8)
        return np.concatenate([lab, planes], 1).tobytes()

    n_train = len(images) - 16
    files = {}
    if name == "cifar10":
        chunks = np.array_split(np.arange(n_train), 5)
        for k, idx in enumerate(chunks, 1):
            files[f"data_batch_{k}.bin"] = records(images[idx], labels[idx])
        files["test_batch.bin"] = records(images[n_train:], labels[n_train:])
        files["batches.meta.txt"] = "\n".join(f"class{i}" for i in range(10)).encode()
    else:
        files["train.bin"] = records(images[:n_train], labels[:n_train])
        files["test.bin"] = records(images[n_train:], labels[n_train:])
        files["coarse_label_names.txt"] = "\n".join(f"c{i}" for i in range(20)).encode()
        files["fine_label_names.txt"] = "\n".join(f"f{i}" for i in range(100)).encode()
    with tarfile.open(path, "w:gz") as tar:
        for fname, data in files.items():
            info = tarfile.TarInfo(prefix + fname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

