"""The shared framing pipeline against hand-computed counts."""

import numpy as np
import pytest
from PIL import Image

from keras_trt.data.events import EVENT_DTYPE, frame_events, resize_frames

pytestmark = pytest.mark.backend_independent


def _events(t, x, y, p):
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def test_split_by_number_counts_per_polarity():
    # 7 events, T=3 -> floor(7/3)=2 per frame, the last event dropped (reference code).
    ev = _events(t=[0, 1, 2, 3, 4, 5, 6], x=[0, 0, 1, 2, 2, 3, 3], y=[0, 0, 1, 2, 2, 0, 0],
                 p=[1, 1, 0, 1, 0, 0, 1])
    f = frame_events(ev, sensor_size=(4, 3, 2), timesteps=3, size=None)
    assert f.shape == (3, 3, 4, 2) and f.dtype == np.float32
    want = np.zeros((3, 3, 4, 2), np.float32)
    want[0, 0, 0, 1] = 2          # two ON events on the same pixel are counted, not clipped
    want[1, 1, 1, 0] = 1
    want[1, 2, 2, 1] = 1
    want[2, 2, 2, 0] = 1
    want[2, 0, 3, 0] = 1
    np.testing.assert_array_equal(f, want)


def test_extend_last_keeps_the_remainder():
    ev = _events(t=np.arange(7), x=np.arange(7), y=0, p=1)
    f = frame_events(ev, sensor_size=(8, 1, 2), timesteps=3, size=None, extend_last=True)
    np.testing.assert_array_equal(f[..., 1].sum(axis=(1, 2)), [2, 2, 3])
    assert f[2, 0, 6, 1] == 1


def test_split_by_time():
    # window = (90 - 0) // 3 = 30 us: [0, 30), [30, 60), [60, 90).
    ev = _events(t=[0, 10, 29, 30, 59, 60, 89, 90], x=[0, 1, 2, 3, 4, 5, 6, 7], y=0, p=1)
    f = frame_events(ev, sensor_size=(8, 1, 2), timesteps=3, split_by="time", size=None)
    np.testing.assert_array_equal(f[..., 1].sum(axis=(1, 2)), [3, 2, 2])


def test_max_normalisation_and_empty_frames():
    ev = _events(t=[0, 1, 2, 3], x=[0, 0, 1, 1], y=0, p=[1, 1, 0, 1])
    f = frame_events(ev, sensor_size=(2, 1, 2), timesteps=2, size=None, normalize="max")
    np.testing.assert_allclose(f[0, 0, :, 1], [1.0, 0.0])
    np.testing.assert_allclose(f[1, 0, 1], [1.0, 1.0])
    # Fewer events than frames: every frame empty, all zero, no NaN.
    g = frame_events(ev[:1], sensor_size=(2, 1, 2), timesteps=4, size=None, normalize="max")
    assert g.shape == (4, 1, 2, 2) and not np.isnan(g).any() and g.max() == 0
    h = frame_events(ev[:0], sensor_size=(3, 2, 2), timesteps=4, size=None)
    assert h.shape == (4, 2, 3, 2) and h.max() == 0


def test_resize_each_channel_independently_antialiased():
    rng = np.random.default_rng(0)
    frames = rng.random((2, 128, 128, 2)).astype(np.float32)
    frames[..., 1] = 0.0    # an empty ON channel must not change the OFF channel (no LA premultiply)
    out = resize_frames(frames, 48)
    assert out.shape == (2, 48, 48, 2)
    for t in range(2):
        want = np.asarray(Image.fromarray(frames[t, :, :, 0], "F").resize((48, 48), Image.BILINEAR))
        np.testing.assert_allclose(out[t, :, :, 0], want, rtol=1e-6)
    assert out[..., 1].max() == 0
    # Antialiased: a pixel checkerboard averages to ~0.5 instead of aliasing.
    board = (np.indices((128, 128)).sum(0) % 2).astype(np.float32)[None, :, :, None]
    np.testing.assert_allclose(resize_frames(board, 48)[0, 4:-4, 4:-4, 0], 0.5, atol=0.05)


def test_events_outside_the_sensor_are_dropped_and_bad_args_raise():
    ev = _events(t=[0, 1], x=[0, 5], y=[0, 0], p=[1, 1])
    f = frame_events(ev, sensor_size=(2, 1, 2), timesteps=1, size=None)
    assert f.sum() == 1
    with pytest.raises(ValueError, match="split_by"):
        frame_events(ev, sensor_size=(2, 1, 2), split_by="events")
    with pytest.raises(ValueError, match="timesteps"):
        frame_events(ev, sensor_size=(2, 1, 2), timesteps=0)
