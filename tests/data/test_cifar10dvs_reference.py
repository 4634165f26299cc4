"""CIFAR10-DVS against the TRT reference's preprocessing: which sensor axis each pipeline
flips, and `frames="reference"` reproducing its frames (docs/datasets.md, CIFAR10-DVS).

The original release holds DVS128 recordings in jAER's AEDAT 2.0 format: a '#' header,
then big-endian (uint32 address, uint32 timestamp) pairs, address bit 0 = polarity,
bits 1-7 = jAER's x, bits 8-14 = jAER's y. Two decodings of it are reimplemented here
from their documented bit layouts:
- the reference's `dat2mat.m` (jAER's DVS128 layout): x = 127 - bits 1-7, y = bits 8-14,
  polarity +1 (bit 0 clear) or -1; its frames index [slice, polarity, x, y];
- tonic's CIFAR10-DVS reader for AEDAT 2.0 (as SpikingJelly's): x = 127 - bits 8-14,
  y = 127 - bits 1-7, p = 1 - bit 0; keras-trt's frames index [t, y, x, channel].
"""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_trt.data.augment import dvs_flip_roll
from keras_trt.data.events import EVENT_DTYPE, frame_events

pytestmark = pytest.mark.backend_independent

SENSOR = (128, 128, 2)


def write_aedat2(path, addresses, timestamps):
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
    body = np.empty(len(addresses), np.dtype([("a", ">u4"), ("t", ">u4")]))
    body["a"], body["t"] = addresses, timestamps
    path.write_bytes(header + body.tobytes())


def read_raw(path):
    """tonic's own AEDAT 2.0 parsing: (addresses, timestamps)."""
    from tonic.io import get_aer_events_from_file, read_aedat_header_from_file

    version, start, _ = read_aedat_header_from_file(str(path))
    assert version == 2.0
    raw = get_aer_events_from_file(str(path), version, start)
    return raw["address"].astype(np.int64), raw["timeStamp"].astype(np.int64)


def jaer_x(a):
    return (a >> 1) & 0x7F


def jaer_y(a):
    return (a >> 8) & 0x7F


def decode_reference(a, t):
    """dat2mat.m's event matrix: columns t, 0, -1, x, y, polarity (integers)."""
    return np.stack([t, 0 * t, -1 + 0 * t, 127 - jaer_x(a), jaer_y(a), 1 - 2 * (a & 1)], 1)


def decode_tonic(a, t):
    ev = np.empty(len(a), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, 127 - jaer_y(a), 127 - jaer_x(a), 1 - (a & 1)
    return ev


def reference_frames(mat, T, size):
    """The reference's frames, reimplemented from its documented semantics: NumPy fancy
    `+= 1` (no accumulation; polarity -1 lands in channel 1), per-slice max division,
    ToPILImage (x255, truncated to uint8, a 2-channel "LA" image), Resize (Pillow bilinear),
    ToTensor (/255). Returns (T, 2, size, size)."""
    frames = np.zeros((T, 2, 128, 128))
    n = len(mat) // T
    for i in range(T):
        part = mat[i * n:(i + 1) * n]
        frames[i, part[:, 5], part[:, 3], part[:, 4]] += 1
    frames /= frames.max(axis=(1, 2, 3), keepdims=True)
    out = []
    for f in frames:
        img = Image.fromarray(np.ascontiguousarray((f * 255).astype(np.uint8).transpose(1, 2, 0)),
                              "LA")
        if size != 128:
            img = img.resize((size, size), Image.BILINEAR)
        out.append(np.asarray(img, np.float32).transpose(2, 0, 1) / 255)
    return np.stack(out)


@pytest.fixture(scope="module")
def corner_recording(tmp_path_factory):
    """Events in one corner of the sensor: jAER x in {0, 1}, jAER y in {0, 1, 2} (not
    symmetric, so a transposition shows), both polarities."""
    xs, ys, ps = np.meshgrid([0, 1], [0, 1, 2], [0, 1], indexing="ij")
    addresses = (ys.ravel() << 8) | (xs.ravel() << 1) | ps.ravel()
    path = tmp_path_factory.mktemp("aedat2") / "0.aedat"
    write_aedat2(path, addresses, np.arange(len(addresses)) * 10)
    return path


def raw_pixels_reference(frames):
    """(jAER x, jAER y) of the occupied pixels of reference frames (T, C, x, y)."""
    idx = np.argwhere(frames.sum(axis=(0, 1)) > 0)
    return {(127 - int(x), int(y)) for x, y in idx}


def raw_pixels_keras(frames):
    """(jAER x, jAER y) of the occupied pixels of keras-trt count frames (T, y, x, C)."""
    idx = np.argwhere(frames.sum(axis=(0, 3)) > 0)
    return {(127 - int(y), 127 - int(x)) for y, x in idx}


def keras_flip(frames):
    """keras-trt's training flip (shift 0): a batch of copies, keep the flipped ones."""
    batch = tf.constant(np.repeat(frames[None], 8, axis=0))
    out = dvs_flip_roll(batch, seed=tf.constant([3, 4]), max_shift=0).numpy()
    flipped = [o for o in out if not np.array_equal(o, frames)]
    assert flipped and len(flipped) < 8
    return flipped[0]


def test_both_pipelines_flip_the_same_physical_sensor_axis(corner_recording):
    a, t = read_raw(corner_recording)
    original = {(int(jaer_x(v)), int(jaer_y(v))) for v in a}
    assert original == {(x, y) for x in (0, 1) for y in (0, 1, 2)}

    ref = reference_frames(decode_reference(a, t), T=1, size=128)
    ours = frame_events(decode_tonic(a, t), SENSOR, timesteps=1, size=None)
    assert raw_pixels_reference(ref) == original == raw_pixels_keras(ours)

    # The reference flips its last array axis (dat2mat's y = jAER y); keras-trt flips W
    # (tonic's x = 127 - jAER y): both mirror jAER's y, none jAER's x.
    mirrored = {(x, 127 - y) for x, y in original}
    assert raw_pixels_reference(np.flip(ref, axis=3)) == mirrored
    assert raw_pixels_keras(keras_flip(ours)) == mirrored


def test_reference_frames_option_reproduces_the_reference_pipeline(corner_recording):
    a, t = read_raw(corner_recording)
    rng = np.random.default_rng(0)
    # Plus events spread over the sensor, so that the 48x48 resize mixes neighbours.
    more = (rng.integers(0, 128, 300) << 8) | (rng.integers(0, 128, 300) << 1) | \
        rng.integers(0, 2, 300)
    a = np.concatenate([a, more])
    t = np.arange(len(a)) * 10
    expected = reference_frames(decode_reference(a, t), T=4, size=48)
    ours = frame_events(decode_tonic(a, t), SENSOR, timesteps=4, size=48,
                        representation="reference")
    np.testing.assert_array_equal(ours, expected.transpose(0, 2, 3, 1))
    # The reference's flip is keras-trt's flip on these frames too (the last array axis).
    np.testing.assert_array_equal(np.flip(ours, axis=2),
                                  np.flip(expected, axis=3).transpose(0, 2, 3, 1))


def test_reference_frames_by_hand():
    """7 events, T = 2: slices of floor(7/2) = 3 events, the 7th dropped; a repeated pixel
    counts once, OFF and ON share channel 1, column = 127 - x."""
    ev = np.zeros(7, EVENT_DTYPE)
    ev["t"] = np.arange(7)
    ev["x"] = [5, 5, 6, 117, 0, 0, 50]
    ev["y"] = [10, 10, 10, 10, 0, 0, 50]
    ev["p"] = [1, 1, 0, 1, 0, 1, 1]
    frames = frame_events(ev, SENSOR, timesteps=2, size=None, representation="reference")
    expected = np.zeros((2, 128, 128, 2), np.float32)
    expected[0, 10, 122, 1] = expected[0, 10, 121, 1] = 1.0   # (5, 10) twice, (6, 10) OFF
    expected[1, 10, 10, 1] = expected[1, 0, 127, 1] = 1.0     # (117, 10), (0, 0) OFF and ON
    np.testing.assert_array_equal(frames, expected)

    # Resized as an 8-bit image: Pillow's bilinear filter halving 128 -> 64 weighs the
    # input columns 2i-1 .. 2i+2 by 1/8, 3/8, 3/8, 1/8 and rounds to 8 bits after each
    # pass: the pixel (10, 10) of frame 1 gives round(255 * 3/8) = 96, round(255 / 8) = 32
    # horizontally, then 96 * 3/8 = 36, 96 / 8 = 12, 32 * 3/8 = 12, 32 / 8 = 4.
    small = frame_events(ev[3:5], SENSOR, timesteps=1, size=64, representation="reference")
    np.testing.assert_array_equal(small[..., 0], 0.0)
    np.testing.assert_array_equal(np.argwhere(small[0, 2:8, 2:8, 1] > 0) + 2,
                                  [[4, 4], [4, 5], [5, 4], [5, 5]])
    np.testing.assert_allclose(small[0, 4:6, 4:6, 1], np.array([[4, 12], [12, 36]]) / 255)
    # (0, 0) lands in the corner (row 0, column 127): at the border the window is clipped
    # and renormalised, weight (3/8) / (7/8) = 3/7: round(255 * 3/7) = 109, then
    # round(109 * 3/7) = 47.
    assert small[0, 0, 63, 1] == pytest.approx(47 / 255)


def test_loader_frames_option(dvs_cifar10_dir, tmp_path):
    from keras_trt.data import dvs_cifar10

    kwargs = dict(data_dir=str(dvs_cifar10_dir[0]), timesteps=2, size=16, batch_size=8,
                  cache_dir=str(tmp_path), verbose=0)
    x, _ = next(iter(dvs_cifar10("test", frames="reference", **kwargs)))
    counts, _ = next(iter(dvs_cifar10("test", **kwargs)))
    x, counts = x.numpy(), counts.numpy()
    assert np.all(x[..., 0] == 0) and x[..., 1].max() > 0
    assert np.all(np.round(x * 255) == x * 255)               # 8-bit values
    assert not np.array_equal(x, counts) and counts[..., 0].max() > 0
    with pytest.raises(ValueError, match="frames"):
        dvs_cifar10("test", frames="binary", **kwargs)
