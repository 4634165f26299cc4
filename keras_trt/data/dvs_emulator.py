"""A small DVS camera emulator: static images seen by an event camera on a moving mount.

N-MNIST and N-Caltech101 were recorded by pointing an ATIS camera at a screen and
moving it through three saccades that trace a triangle (Orchard et al. 2015). This
emulator does the same to an image stack in numpy:

1. the image moves along the triangle V0 -> V1 -> V2 -> V0 (one saccade per side, constant
   speed), sampled every ``step_us`` microseconds with bilinear sub-pixel shifts;
2. every pixel keeps the log intensity at its last event; when the current log intensity
   has moved by a contrast threshold C or more, it emits floor(|change| / C) events
   (ON for an increase, OFF for a decrease) and moves its reference by that many C;
3. thresholds vary per pixel (fixed-pattern mismatch, sigma ``threshold_sigma``), event
   times are spread inside the step, and background-activity noise events of random
   polarity arrive at ``noise_hz`` per pixel.

Everything random comes from one ``numpy.random.Generator(seed)``: same seed, same events.

```python
import numpy as np
from keras_trt.data.dvs_emulator import emulate_saccades

img = np.zeros((1, 16, 16)); img[0, 5:11, 5:11] = 1.0      # a bright square
events, offsets = emulate_saccades(img, seed=0)
ev0 = events[offsets[0]:offsets[1]]                          # fields t (us), x, y, p
```
"""

import numpy as np

from keras_trt.data.events import EVENT_DTYPE

# Saccade triangle vertices as (dx, dy) pixel offsets from the centred position.
TRIANGLE = ((-2.5, 2.0), (0.0, -2.5), (2.5, 2.0))
_CHUNK = 128


def _shift_bilinear(padded, pad, dx, dy, H, W):
    """Images shifted by (dx, dy) pixels (content moves right/down), zero outside.

    `padded` is the (N, H + 2 pad, W + 2 pad) zero-padded stack; |dx|, |dy| < pad.
    """
    x0, y0 = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = dx - x0, dy - y0

    def window(sy, sx):  # image content shifted by integer (sy, sx)
        return padded[:, pad - sy:pad - sy + H, pad - sx:pad - sx + W]

    return ((1 - fy) * ((1 - fx) * window(y0, x0) + fx * window(y0, x0 + 1))
            + fy * ((1 - fx) * window(y0 + 1, x0) + fx * window(y0 + 1, x0 + 1)))


def emulate_saccades(images, seed=0, saccade_us=100_000, step_us=2_000, threshold=0.3,
                     threshold_sigma=0.03, log_eps=0.15, noise_hz=1.0, triangle=TRIANGLE):
    """Events of a DVS camera watching each image of `images` through three saccades.

    Args:
        images: (N, H, W) intensities in [0, 1]; the sensor is H x W (the image should
            have a dark margin of a few pixels so the motion keeps it in view).
        seed: seed of thresholds, timing jitter and noise.
        saccade_us: duration of one saccade in microseconds (3 per recording).
        step_us: simulation step in microseconds.
        threshold: mean contrast threshold C in log-intensity units (ON and OFF).
        threshold_sigma: per-pixel standard deviation of C (fixed-pattern mismatch).
        log_eps: offset in log(I + eps), the sensor's response to darkness.
        noise_hz: background-activity rate per pixel (random polarity, uniform times).
        triangle: the three saccade vertices (dx, dy) in pixels.

    Returns:
        (events, offsets): one structured array (EVENT_DTYPE: t in microseconds from 0,
        x, y, p with 1 = ON) holding every recording one after the other, each sorted by
        time, and ``offsets`` (N + 1,) so recording i is ``events[offsets[i]:offsets[i+1]]``.
    """
    rng = np.random.default_rng(seed)
    images = np.asarray(images, np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must be an (N, H, W) stack, got shape {images.shape}")
    bad = ~np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if bad.any():
        raise ValueError(f"images {np.flatnonzero(bad)[:5].tolist()} contain NaN or infinity "
                         f"({int(bad.sum())} of {len(images)} images); expected finite "
                         "intensities in [0, 1]")
    N, H, W = images.shape
    pad = int(np.ceil(max(abs(v) for xy in triangle for v in xy))) + 2
    c_on = np.clip(rng.normal(threshold, threshold_sigma, (N, H, W)), 0.05, None).astype(np.float32)
    c_off = np.clip(rng.normal(threshold, threshold_sigma, (N, H, W)), 0.05, None).astype(np.float32)
    steps = saccade_us // step_us
    duration = 3 * steps * step_us
    n_noise = rng.poisson(noise_hz * duration * 1e-6 * H * W, N)
    path = [np.array(v, float) for v in triangle]
    positions = [(s, k, path[s] + (path[(s + 1) % 3] - path[s]) * (k / steps))
                 for s in range(3) for k in range(1, steps + 1)]

    parts = []
    # Chunks of images keep the per-step arrays in cache (3x faster than all at once).
    for lo in range(0, N, _CHUNK):
        hi = min(lo + _CHUNK, N)
        padded = np.pad(images[lo:hi], ((0, 0), (pad, pad), (pad, pad)))
        con, coff = c_on[lo:hi], c_off[lo:hi]
        ref = np.log(_shift_bilinear(padded, pad, *path[0], H, W) + log_eps)
        cols = []  # (sample, y, x, p, step end time) per step
        for s, k, (dx, dy) in positions:
            diff = np.log(_shift_bilinear(padded, pad, dx, dy, H, W) + log_eps)
            diff -= ref
            n_on = np.floor(np.maximum(diff, 0) / con).astype(np.int32)
            n_off = np.floor(np.maximum(-diff, 0) / coff).astype(np.int32)
            ref += n_on * con - n_off * coff
            t_end = (s * steps + k) * step_us
            # A pixel crosses in one direction per step: one signed count, one flat scan.
            signed = (n_on - n_off).ravel()
            flat = np.flatnonzero(signed)
            if flat.size:
                count = signed[flat]
                flat = np.repeat(flat, np.abs(count))
                i, rest = np.divmod(flat, H * W)
                y, x = np.divmod(rest, W)
                cols.append((i + lo, y, x, (np.repeat(count, np.abs(count)) > 0).astype(np.int8),
                             np.full(flat.size, t_end, np.int64)))
        empty = np.zeros(0, np.int64)
        i, y, x, p, t = (np.concatenate(c) for c in zip((empty,) * 5, *cols))
        # Spread the threshold crossings of one step over that step.
        t = t - step_us + np.floor(rng.uniform(0, step_us, t.size)).astype(np.int64)
        # Background activity: uniform in time and space, random polarity.
        ni = np.repeat(np.arange(lo, hi), n_noise[lo:hi])
        i = np.concatenate([i, ni])
        y = np.concatenate([y, rng.integers(0, H, ni.size)])
        x = np.concatenate([x, rng.integers(0, W, ni.size)])
        p = np.concatenate([p, rng.integers(0, 2, ni.size).astype(np.int8)])
        t = np.concatenate([t, rng.integers(0, duration, ni.size)])
        order = np.argsort(i.astype(np.int64) * (duration + 1) + t, kind="stable")
        ev = np.empty(order.size, EVENT_DTYPE)
        ev["t"], ev["x"], ev["y"], ev["p"] = t[order], x[order], y[order], p[order]
        parts.append((ev, np.bincount(i - lo, minlength=hi - lo)))

    events = np.concatenate([e for e, _ in parts])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate([c for _, c in parts]))])
    return events, offsets
