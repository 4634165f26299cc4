"""DVS-CIFAR10 and N-Caltech101 loaders on recordings written in the genuine formats."""

import os
import time

import numpy as np
import pytest
from PIL import Image

import keras_trt as kt
from keras_trt.data import events as events_mod

pytestmark = pytest.mark.backend_independent


def _counts(ev, T, W, H, extend_last=False):
    """Hand-computed per-polarity counts by event number: (T, H, W, 2)."""
    n = len(ev) // T
    out = np.zeros((T, H, W, 2), np.float32)
    for i in range(T):
        sl = ev[i * n:(i + 1) * n] if not (extend_last and i == T - 1) else ev[i * n:]
        for e in sl:
            out[i, e["y"], e["x"], e["p"]] += 1
    return out


def _resize(frames, size):
    out = np.zeros((frames.shape[0], size, size, 2), np.float32)
    for t in range(frames.shape[0]):
        for c in range(2):
            out[t, :, :, c] = np.asarray(
                Image.fromarray(frames[t, :, :, c], "F").resize((size, size), Image.BILINEAR))
    return out


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_tonic_metadata_matches_ours():
    from tonic.datasets import CIFAR10DVS

    from keras_trt.data import cifar10dvs as mod
    assert tuple(CIFAR10DVS.classes) == mod.CLASSES
    assert tuple(CIFAR10DVS.sensor_size) == mod.SENSOR_SIZE


def test_dvs_cifar10_frames_split_and_cache(dvs_cifar10_dir, tmp_path, monkeypatch):
    root, events = dvs_cifar10_dir
    with pytest.warns(UserWarning, match="class folders missing"):
        ds = kt.data.dvs_cifar10("test", data_dir=root, batch_size=4, size=128,
                                 cache_dir=tmp_path)
    x, y = _all(ds)
    # 10 recordings per class: 0..8 train, 9 test; labels are CIFAR-10 ids (cat = 3).
    assert x.shape == (2, 10, 128, 128, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(y, [0, 3])
    for k, cls in enumerate(("airplane", "cat")):
        c = _counts(events[(cls, 9)], 10, 128, 128)
        want = c / c.max(axis=(1, 2, 3), keepdims=True)   # per-frame max normalisation
        np.testing.assert_allclose(x[k], want, rtol=1e-6)

    # Train: natural file order 0..8 (not 0, 1, ..., 8 with 10 sorted after 1 - irrelevant
    # here but "9" must be the test one), 48x48 resize of each channel.
    with pytest.warns(UserWarning):
        tr = kt.data.dvs_cifar10("train", data_dir=root, batch_size=32, augment=False,
                                 shuffle=False, cache_dir=tmp_path)
    x, y = _all(tr)
    assert x.shape == (18, 10, 48, 48, 2)
    np.testing.assert_array_equal(y, [0] * 9 + [3] * 9)
    c = _counts(events[("cat", 4)], 10, 128, 128)
    want = _resize(c / c.max(axis=(1, 2, 3), keepdims=True), 48)
    np.testing.assert_allclose(x[13], want, rtol=1e-5, atol=1e-6)

    # A second call reads the cache only.
    def no_framing(*a, **k):
        raise AssertionError("framed again despite the cache")
    monkeypatch.setattr(events_mod, "frame_files", no_framing)
    with pytest.warns(UserWarning):
        again = kt.data.dvs_cifar10("train", data_dir=root, batch_size=32, augment=False,
                                    shuffle=False, cache_dir=tmp_path)
    np.testing.assert_array_equal(_all(again)[0], x)
    entries = os.listdir(tmp_path / "dvs_cifar10")
    assert len(entries) == 2 and not any(e.startswith(".tmp") for e in entries)
    for e in entries:   # plain arrays, loadable without pickle
        np.load(tmp_path / "dvs_cifar10" / e / "x.npy", allow_pickle=False)


def test_dvs_cifar10_augmentation_flip_and_shift_shared_by_frames(dvs_cifar10_dir, tmp_path):
    root, _ = dvs_cifar10_dir
    kw = dict(data_dir=root, batch_size=32, shuffle=False, cache_dir=tmp_path, size=32)
    with pytest.warns(UserWarning):
        plain, _ = _all(kt.data.dvs_cifar10("train", augment=False, **kw))
        aug, _ = _all(kt.data.dvs_cifar10("train", augment=True, seed=7, **kw))
        aug2, _ = _all(kt.data.dvs_cifar10("train", augment=True, seed=7, **kw))
    np.testing.assert_array_equal(aug, aug2)          # reproducible from the seed
    flips, shifts = [], set()
    for p, a in zip(plain, aug):
        matches = [(f, dy, dx) for f in (False, True) for dy in range(-5, 6) for dx in range(-5, 6)
                   if np.array_equal(np.roll(p[:, :, ::-1] if f else p, (dy, dx), axis=(1, 2)), a)]
        # One (flip, dy, dx) explains all 10 frames at once.
        assert len(matches) == 1, matches
        flips.append(matches[0][0])
        shifts.add(matches[0][1:])
    assert 0 < sum(flips) < len(flips) and len(shifts) > 5


def test_ncaltech101_counts_split_labels(ncaltech101_dir, tmp_path):
    root, events = ncaltech101_dir
    with pytest.warns(UserWarning, match="expected 101"):
        tr = kt.data.ncaltech101("train", data_dir=root, batch_size=64, size=(180, 240),
                                 shuffle=False, cache_dir=tmp_path)
        te = kt.data.ncaltech101("test", data_dir=root, batch_size=64, size=(180, 240),
                                 cache_dir=tmp_path)
    x, y = _all(tr)
    xt, yt = _all(te)
    # ceil(0.9 * 3) = 3 and ceil(0.9 * 11) = 10 train; BACKGROUND_Google sorts first.
    np.testing.assert_array_equal(y, [0] * 3 + [1] * 10)
    np.testing.assert_array_equal(yt, [1])
    # Raw counts on the fixed 240x180 sensor, no x/y shift, remainder in the last frame.
    want = _counts(events[("accordion", 11)], 10, 240, 180, extend_last=True)
    np.testing.assert_array_equal(xt[0], want)
    want = _counts(events[("BACKGROUND_Google", 2)], 10, 240, 180, extend_last=True)
    np.testing.assert_array_equal(x[1], want)
    assert x[1].sum() == len(events[("BACKGROUND_Google", 2)])
    with pytest.warns(UserWarning):
        small, _ = _all(kt.data.ncaltech101("train", data_dir=root, shuffle=False,
                                            cache_dir=tmp_path))
    assert small.shape == (13, 10, 48, 48, 2)
    np.testing.assert_allclose(small[1], _resize(want, 48), rtol=1e-5, atol=1e-5)


def test_corrupt_recordings_name_the_file(tmp_path):
    d = tmp_path / "data" / "Caltech101" / "cls"
    d.mkdir(parents=True)
    (d / "image_0001.bin").write_bytes(b"\x01\x02\x03\x04\x05\x06\x07")  # 7 bytes: truncated
    with pytest.raises(ValueError, match="image_0001.bin"), pytest.warns(UserWarning):
        kt.data.ncaltech101("train", data_dir=tmp_path / "data", cache_dir=tmp_path / "c",
                            num_workers=1)
    d = tmp_path / "c10" / "CIFAR10DVS" / "cat"
    d.mkdir(parents=True)
    (d / "0.aedat4").write_bytes(b"#!AER-DAT4.0\r\n garbage")
    with pytest.raises(ValueError, match="0.aedat4"), pytest.warns(UserWarning):
        kt.data.dvs_cifar10("test", data_dir=tmp_path / "c10", cache_dir=tmp_path / "c")
    assert not [e for e in os.listdir(tmp_path / "c" / "dvs_cifar10") if not e.startswith(".")]


@pytest.mark.parametrize("loader", ["dvs_cifar10", "ncaltech101"])
def test_missing_dvs_data_fails_fast_with_layout(loader, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        getattr(kt.data, loader)("train", data_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    assert str(tmp_path) in msg and "Expected layout" in msg and "come from" in msg
    assert ("CIFAR10DVS/<class>" in msg) if loader == "dvs_cifar10" else ("Caltech101/<class>" in msg)


def test_bad_arguments_name_the_argument(dvs_cifar10_dir, tmp_path):
    root, _ = dvs_cifar10_dir
    with pytest.raises(ValueError, match="split"):
        kt.data.dvs_cifar10("val", data_dir=root, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="split_by"):
        kt.data.dvs_cifar10("train", data_dir=root, split_by="count", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        kt.data.ncaltech101("train", data_dir=root, batch_size=0, cache_dir=tmp_path)
