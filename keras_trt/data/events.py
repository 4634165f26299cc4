"""Event streams -> frames: the one framing pipeline of every DVS dataset (tonic based).

docs/method.md, Event frames: ``T`` frames with equal event counts (``split_by="number"``, what the
reference code does) or equal durations (``split_by="time"``, what the paper's text says),
true per-polarity counts in two channels (channel 0 = OFF, channel 1 = ON), each channel
resized independently (bilinear, antialiased) to ``size``. Optional per-frame max
normalisation (CIFAR10-DVS, digits_dvs); N-Caltech101 keeps raw counts.

```python
import numpy as np
from keras_trt.data.events import EVENT_DTYPE, frame_events

ev = np.zeros(4, dtype=EVENT_DTYPE)
ev["t"] = [0, 1, 2, 3]; ev["x"] = [0, 1, 1, 2]; ev["y"] = 0; ev["p"] = [1, 0, 1, 1]
frames = frame_events(ev, sensor_size=(4, 4, 2), timesteps=2, size=None)   # (2, 4, 4, 2)
```
"""

import os

import numpy as np

from keras_trt.data._arguments import (check_choice, check_positive_int, check_size,
                                       resolve_timesteps)

# tonic's ordering/field names (t, x, y, p); p is 1 for ON and 0 for OFF.
EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
SPLIT_MODES = ("number", "time")
NORMALIZE_MODES = (None, "max")
REPRESENTATIONS = ("counts", "reference")


def frame_events(events, sensor_size, timesteps=10, split_by="number", size=(48, 48),
                 normalize=None, extend_last=False, T=None, representation="counts"):
    """Turn one recording into float32 frames of shape (T, H, W, 2), channels-last.

    Args:
        events: structured array with fields t, x, y, p (tonic's layout), in time order.
            Float fields must be finite: a NaN or infinity raises ValueError (cast to an
            integer it would silently become an arbitrary pixel or time).
        sensor_size: (W, H, 2) like tonic's ``sensor_size``; events outside are dropped.
        timesteps: number of frames T.
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
        T: deprecated alias of ``timesteps``.
        representation: "counts" (the above) or "reference": the frames of the TRT
            reference's CIFAR10-DVS preprocessing, reproduced exactly (docs/datasets.md,
            CIFAR10-DVS frames): per frame a binary occupancy map of both polarities
            together (1 where any event fell) in channel 1, channel 0 all zero, laid
            out as the reference's arrays (rows along y, columns along x reversed,
            ``x -> W - 1 - x``), quantised to 8 bits (0 or 255) and resized as one 8-bit
            image (Pillow bilinear, antialiased, 8-bit rounding), then divided by 255.
            `normalize` does not apply (the maps are binary; an empty frame stays 0
            where the reference divides 0 by 0).
    """
    from tonic.transforms import ToFrame

    T = check_positive_int("timesteps", resolve_timesteps(timesteps, T, default=10))
    check_choice("split_by", split_by, SPLIT_MODES)
    check_choice("normalize", normalize, NORMALIZE_MODES)
    check_choice("representation", representation, REPRESENTATIONS)
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
    if representation == "reference":
        return reference_frames(counts, size)
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
    for n in ("t", "x", "y", "p"):
        field = np.asarray(events[n])
        if field.dtype.kind in "fc":
            bad = ~np.isfinite(field)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"events contain {int(bad.sum())} non-finite value(s) in field {n!r} (the "
                    f"first at event {i}: {field[i]!r}); expected finite numbers: every event "
                    "needs a real time, pixel and polarity")
    ev = np.empty(len(events), EVENT_DTYPE)
    for n in ("t", "x", "y"):
        ev[n] = events[n]
    ev["p"] = np.asarray(events["p"]) > 0
    inside = (ev["x"] >= 0) & (ev["x"] < W) & (ev["y"] >= 0) & (ev["y"] < H)
    return ev if inside.all() else ev[inside]


def reference_frames(counts, size):
    """(T, P, H, W) event counts -> the reference's CIFAR10-DVS frames (T, h, w, 2)
    (see `frame_events(representation="reference")`)."""
    from PIL import Image

    # Occupancy of either polarity: the reference's `+= 1` by fancy indexing writes 1
    # once per pixel, and its OFF polarity (-1) indexes the same channel as ON.
    occupied = counts.sum(axis=1) > 0                         # (T, H, W)
    # Its arrays hold the sensor x (as tonic decodes it) reversed on the last axis.
    images = np.where(occupied[:, :, ::-1], 255, 0).astype(np.uint8)
    T, H, W = images.shape
    h, w = (H, W) if size is None else check_size(size)
    out = np.zeros((T, h, w, 2), np.float32)
    for t in range(T):
        img = Image.fromarray(images[t], mode="L")
        if (h, w) != (H, W):
            img = img.resize((w, h), Image.BILINEAR)
        out[t, :, :, 1] = np.asarray(img, dtype=np.float32) / 255.0
    return out


def resize_frames(frames, size):
    """Resize (T, H, W, C) float frames to (T, *size, C), each 2-D channel on its own.

    Pillow's float ("F") bilinear resize, which is antialiased when downscaling (the
    filter support grows with the scale): the same filter as torchvision's Resize
    (antialias=True). Channels are resized separately: resizing a 2-channel "LA" image
    premultiplies channel 0 by channel 1 (docs/method.md, DVS-CIFAR10), which would
    corrupt the OFF channel.
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
AEDAT4_EXPECTED = ("expected an AEDAT 4 file holding one stream of DVS events (tonic's "
                   "CIFAR10-DVS release)")
ATIS_EXPECTED = ("expected 40-bit ATIS events in time order (N-Caltech101 / N-MNIST .bin: "
                 "x, y, polarity and a 23-bit timestamp per 5 bytes)")
# Garbage bytes decode to random timestamps, half of the steps going backwards; a genuine
# recording's timestamps never decrease. The margin tolerates a rare glitch, not garbage.
MAX_BACKWARD_FRACTION = 0.01


def read_aedat4(path):
    """CIFAR10-DVS recording (.aedat4) via tonic's reader, as tonic's CIFAR10DVS does."""
    from tonic.io import read_aedat4 as _read

    try:
        raw = _read(path)
    except Exception as e:  # the aedat decoder raises plain Exceptions on bad files
        raise ValueError(f"corrupt or unreadable .aedat4 file {path} "
                         f"({os.path.getsize(path)} bytes): {e}; {AEDAT4_EXPECTED}. "
                         "Replace it with a fresh copy or remove it.") from None
    if len(raw) == 0:
        raise ValueError(f"empty recording {path}: no events; {AEDAT4_EXPECTED}. Replace it "
                         "with a fresh copy or remove it.")
    ev = np.empty(len(raw), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"] = raw["t"], raw["x"], raw["y"]
    ev["p"] = raw[raw.dtype.names[3]]
    return ev


def read_atis_bin(path):
    """N-Caltech101 / N-MNIST 40-bit ATIS recording via tonic's ``read_mnist_file``.

    Unlike ``tonic.datasets.NCALTECH101.__getitem__``, x and y are NOT shifted to start
    at 0: frames use the fixed 240x180 sensor like SpikingJelly's frames
    (docs/method.md, N-Caltech101).
    The format has no header or checksum, so any bytes decode: a file with no events, or
    whose timestamps go backwards (garbage, a wrong format), raises ValueError naming it.
    """
    from tonic.datasets import NCALTECH101
    from tonic.io import read_mnist_file

    size = os.path.getsize(path)
    if size % 5:
        raise ValueError(f"corrupt or truncated ATIS .bin file {path}: {size} bytes is not a "
                         f"multiple of the 5-byte (40-bit) event size; {ATIS_EXPECTED}")
    try:
        raw = read_mnist_file(path, dtype=NCALTECH101.dtype)
    except Exception as e:
        raise ValueError(f"corrupt or unreadable ATIS .bin file {path}: {e}; "
                         f"{ATIS_EXPECTED}") from None
    if len(raw) == 0:
        raise ValueError(f"empty recording {path} ({size} bytes): no events; {ATIS_EXPECTED}. "
                         "Replace it with a fresh copy or remove it.")
    backward = int(np.count_nonzero(np.diff(raw["t"].astype(np.int64)) < 0))
    if backward > MAX_BACKWARD_FRACTION * max(len(raw) - 1, 1):
        raise ValueError(f"corrupt ATIS .bin file {path}: {backward} of {len(raw) - 1} "
                         f"timestamp steps go backwards; {ATIS_EXPECTED}. Replace it with a "
                         "fresh copy or remove it.")
    ev = np.empty(len(raw), EVENT_DTYPE)
    for n in ("t", "x", "y", "p"):
        ev[n] = raw[n]
    return ev


READERS = {"aedat4": read_aedat4, "atis_bin": read_atis_bin}


def frame_file(reader, path, **frame_kwargs):
    """Read one recording with ``READERS[reader]`` and frame it; errors name the file."""
    events = READERS[reader](path)
    try:
        return frame_events(events, **frame_kwargs)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def frame_files(paths, reader, out, num_workers=None, verbose=0, desc="framing", **frame_kwargs):
    """Frame every file of `paths` into the preallocated array `out` (N, T, h, w, 2).

    Files are framed by ``num_workers`` threads (default: all cores, at most 8). Threads,
    not processes: reading (numpy), tonic's counting (``np.add.at``) and Pillow's resize
    release the GIL for most of their time, so threads scale with the cores, start
    instantly, and need no ``if __name__ == "__main__":`` guard in the calling script (a
    "spawn" or "forkserver" process pool re-runs an unguarded script in every worker;
    see docs/datasets.md for the measurements). The first failing file stops the
    remaining work and raises its error, which names the file.

    Args:
        verbose: 1 prints a progress line to stderr every few seconds, 0 nothing.
        desc: what the progress lines say is being built.
    """
    from keras_trt.data.progress import Progress

    check_choice("reader", reader, tuple(READERS))
    if num_workers is not None:
        check_positive_int("num_workers", num_workers)
    workers = min(os.cpu_count() or 1, 8) if num_workers is None else num_workers
    progress = Progress(len(paths), desc, verbose=verbose, unit="recordings")
    _import_framing_dependencies(reader)
    if workers <= 1 or len(paths) <= 1:
        for i, path in enumerate(paths):
            out[i] = frame_file(reader, path, **frame_kwargs)
            progress.update(i + 1)
        return out
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(min(workers, len(paths)), thread_name_prefix="keras_trt-framing")
    try:
        # Bounded look-ahead: a few jobs per thread in flight, results written in order.
        window = 4 * workers
        pending = {}
        for i, path in enumerate(paths):
            pending[i] = pool.submit(frame_file, reader, path, **frame_kwargs)
            done = i - window
            if done >= 0:
                out[done] = pending.pop(done).result()
                progress.update(done + 1)
        for i in sorted(pending):
            out[i] = pending.pop(i).result()
            progress.update(i + 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def _import_framing_dependencies(reader):
    # Imported once here: a first import of tonic (and torch under it) in several worker
    # threads at once would serialise on the import lock anyway.
    import tonic.io  # noqa: F401
    import tonic.transforms  # noqa: F401
    from PIL import Image  # noqa: F401

    if reader == "aedat4":
        try:
            import aedat  # noqa: F401
        except ImportError:
            raise ImportError("reading CIFAR10-DVS .aedat4 files needs the aedat package: "
                              "pip install aedat (or keras-trt[data])") from None
