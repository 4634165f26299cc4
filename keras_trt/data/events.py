"""Event streams -> frames: the one framing pipeline of every DVS dataset (tonic based).

SPEC Decision 3: ``T`` frames with equal event counts (``split_by="number"``, what the
reference code does) or equal durations (``split_by="time"``, what the paper's text says),
true per-polarity counts in two channels (channel 0 = OFF, channel 1 = ON), each channel
resized independently (bilinear, antialiased) to ``size``. Optional per-frame max
normalisation (CIFAR10-DVS, digits_dvs); N-Caltech101 keeps raw counts.

```python
import numpy as np
from keras_trt.data.events import EVENT_DTYPE, frame_events

ev = np.zeros(4, dtype=EVENT_DTYPE)
ev["t"] = [0, 1, 2, 3]; ev["x"] = [0, 1, 1, 2]; ev["y"] = 0; ev["p"] = [1, 0, 1, 1]
frames = frame_events(ev, sensor_size=(4, 4, 2), T=2, size=None)   # (2, 4, 4, 2) counts
```
"""

import os

import numpy as np

from keras_trt.data._common import check_choice, check_positive_int, check_size

# tonic's ordering/field names (t, x, y, p); p is 1 for ON and 0 for OFF.
EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
SPLIT_MODES = ("number", "time")
NORMALIZE_MODES = (None, "max")


def frame_events(events, sensor_size, T=10, split_by="number", size=(48, 48), normalize=None,
                 extend_last=False):
    """Turn one recording into float32 frames of shape (T, H, W, 2), channels-last.

    Args:
        events: structured array with fields t, x, y, p (tonic's layout), in time order.
        sensor_size: (W, H, 2) like tonic's ``sensor_size``; events outside are dropped.
        T: number of frames.
        split_by: "number": tonic's ``ToFrame(n_event_bins=T)``: frame i holds events
            [i*floor(N/T), (i+1)*floor(N/T)), the last N mod T events dropped (the
            reference CIFAR10-DVS preprocessing). "time": ``ToFrame(n_time_bins=T)``,
            T windows of floor((t_last - t_first) / T) microseconds from the first event.
        size: (H, W) or int to resize every channel of every frame to (antialiased
            bilinear, each channel separately); None keeps the sensor resolution.
        normalize: None (raw counts) or "max": each frame divided by its maximum over both
            channels, before resizing (an empty frame stays all zero, never NaN).
        extend_last: with split_by="number", add the N mod T left-over events to the last
            frame (SpikingJelly's N-Caltech101 frames) instead of dropping them.
    """
    from tonic.transforms import ToFrame

    check_positive_int("T", T)
    check_choice("split_by", split_by, SPLIT_MODES)
    check_choice("normalize", normalize, NORMALIZE_MODES)
    W, H, P = (int(s) for s in sensor_size)
    ev = _as_tonic_events(events, W, H)
    if len(ev) == 0:
        # tonic returns a transposed (T, P, W, H) array for empty input: do it ourselves.
        counts = np.zeros((T, P, H, W), np.float32)
    else:
        if split_by == "number":
            to_frame = ToFrame(sensor_size=(W, H, P), n_event_bins=T)
        else:
            to_frame = ToFrame(sensor_size=(W, H, P), n_time_bins=T)
        counts = to_frame(ev).astype(np.float32)  # (T, P, H, W)
        if extend_last and split_by == "number":
            rest = ev[T * (len(ev) // T):]
            np.add.at(counts, (T - 1, rest["p"].astype(np.intp), rest["y"], rest["x"]), 1)
    frames = np.ascontiguousarray(counts.transpose(0, 2, 3, 1))  # (T, H, W, P)
    if normalize == "max":
        peak = frames.max(axis=(1, 2, 3), keepdims=True)
        np.divide(frames, peak, out=frames, where=peak > 0)
    if size is not None:
        frames = resize_frames(frames, size)
    return frames


def _as_tonic_events(events, W, H):
    names = events.dtype.names or ()
    missing = {"t", "x", "y", "p"} - set(names)
    if missing:
        raise ValueError(f"events need fields t, x, y, p; missing {sorted(missing)}")
    ev = np.empty(len(events), EVENT_DTYPE)
    for n in ("t", "x", "y"):
        ev[n] = events[n]
    ev["p"] = np.asarray(events["p"]) > 0
    inside = (ev["x"] >= 0) & (ev["x"] < W) & (ev["y"] >= 0) & (ev["y"] < H)
    return ev if inside.all() else ev[inside]


def resize_frames(frames, size):
    """Resize (T, H, W, C) float frames to (T, *size, C), each 2-D channel on its own.

    Pillow's float ("F") bilinear resize, which is antialiased when downscaling (the
    filter support grows with the scale): the same filter as torchvision's Resize
    (antialias=True). Channels are resized separately: resizing a 2-channel "LA" image
    premultiplies channel 0 by channel 1 (SPEC 5.3), which would corrupt the OFF channel.
    """
    from PIL import Image

    h, w = check_size(size)
    T, H, W, C = frames.shape
    if (H, W) == (h, w):
        return frames.astype(np.float32, copy=False)
    out = np.empty((T, h, w, C), np.float32)
    for t in range(T):
        for c in range(C):
            img = Image.fromarray(np.ascontiguousarray(frames[t, :, :, c], dtype=np.float32), mode="F")
            out[t, :, :, c] = np.asarray(img.resize((w, h), Image.BILINEAR))
    return out


# --------------------------------------------------------------------------- readers
def read_aedat4(path):
    """CIFAR10-DVS recording (.aedat4) via tonic's reader, as tonic's CIFAR10DVS does."""
    from tonic.io import read_aedat4 as _read

    try:
        raw = _read(path)
    except Exception as e:  # the aedat decoder raises plain Exceptions on bad files
        raise ValueError(f"corrupt or unreadable .aedat4 file {path}: {e}") from e
    ev = np.empty(len(raw), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"] = raw["t"], raw["x"], raw["y"]
    ev["p"] = raw[raw.dtype.names[3]]
    return ev


def read_atis_bin(path):
    """N-Caltech101 / N-MNIST 40-bit ATIS recording via tonic's ``read_mnist_file``.

    Unlike ``tonic.datasets.NCALTECH101.__getitem__``, x and y are NOT shifted to start
    at 0: frames use the fixed 240x180 sensor like SpikingJelly's frames (SPEC 5.4).
    """
    from tonic.datasets import NCALTECH101
    from tonic.io import read_mnist_file

    size = os.path.getsize(path)
    if size % 5:
        raise ValueError(f"corrupt or truncated ATIS .bin file {path}: {size} bytes is not a "
                         "multiple of the 5-byte (40-bit) event size")
    try:
        raw = read_mnist_file(path, dtype=NCALTECH101.dtype)
    except Exception as e:
        raise ValueError(f"corrupt or unreadable ATIS .bin file {path}: {e}") from e
    ev = np.empty(len(raw), EVENT_DTYPE)
    for n in ("t", "x", "y", "p"):
        ev[n] = raw[n]
    return ev


READERS = {"aedat4": read_aedat4, "atis_bin": read_atis_bin}


def _frame_file(job):
    # Module-level so process pools can pickle it.
    reader, path, kwargs = job
    return frame_events(READERS[reader](path), **kwargs)


def frame_files(paths, reader, out, num_workers=None, **frame_kwargs):
    """Frame every file of `paths` into the preallocated array `out` (N, T, h, w, 2).

    Large jobs run in a process pool (``num_workers`` processes, default: all cores, at
    most 8); small ones (or ``num_workers=1``) in this process, where a pool's start-up
    would cost more than it saves.
    """
    jobs = [(reader, p, frame_kwargs) for p in paths]
    workers = min(os.cpu_count() or 1, 8) if num_workers is None else int(num_workers)
    if workers <= 1 or len(jobs) < 64:
        for i, job in enumerate(jobs):
            out[i] = _frame_file(job)
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # "spawn": the parent usually has TensorFlow loaded, and forking it is unsafe.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        for i, frames in enumerate(pool.map(_frame_file, jobs, chunksize=8)):
            out[i] = frames
    return out
