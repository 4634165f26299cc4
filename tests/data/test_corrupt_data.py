"""Corrupt, empty and non-finite inputs: an error naming the file (or sample), nothing cached."""

import os

import numpy as np
import pytest

import keras_trt as kt
from keras_trt.data import events as events_mod
from keras_trt.data.dvs_emulator import emulate_saccades
from keras_trt.data.events import EVENT_DTYPE, frame_events
from keras_trt.testing.datasets import make_events, write_aedat4, write_atis_bin

pytestmark = pytest.mark.backend_independent


def _ncaltech_dir(root, rng, n=3):
    """<root>/Caltech101/cls/image_000{1..n}.bin, genuine recordings."""
    d = root / "Caltech101" / "cls"
    d.mkdir(parents=True)
    for i in range(1, n + 1):
        write_atis_bin(d / f"image_{i:04d}.bin", make_events(rng, 200, 240, 180))
    return d


def _no_entry(cache_dir, name):
    folder = cache_dir / name
    return not folder.exists() or not os.listdir(folder)


def test_garbage_bin_of_a_valid_size_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    d = _ncaltech_dir(tmp_path / "data", rng)
    bad = d / "image_0002.bin"
    bad.write_bytes(rng.integers(0, 256, 5 * 4000, dtype=np.uint8).tobytes())  # 4000 "events"
    with pytest.raises(ValueError) as err, pytest.warns(UserWarning, match="expected 101"):
        kt.data.ncaltech101("train", data_dir=tmp_path / "data", cache_dir=tmp_path / "c",
                            num_workers=1, verbose=0)
    msg = str(err.value)
    assert str(bad) in msg and "backwards" in msg and "expected 40-bit ATIS events" in msg
    assert _no_entry(tmp_path / "c", "ncaltech101")


def test_time_ordered_bin_is_accepted_and_garbage_threshold(tmp_path):
    # The reader's own check, on files written in the genuine format.
    rng = np.random.default_rng(1)
    ev = make_events(rng, 500, 240, 180)
    write_atis_bin(tmp_path / "ok.bin", ev)
    got = events_mod.read_atis_bin(str(tmp_path / "ok.bin"))
    np.testing.assert_array_equal(got["t"], ev["t"])
    np.testing.assert_array_equal(got["x"], ev["x"])
    # Setting t[i] = 0 inside the recording makes one backward step each: 3 of 499 steps
    # (0.6%) are tolerated, 10 (2%) are garbage.
    for n_back, ok in ((3, True), (10, False)):
        bad = ev.copy()
        bad["t"][40 * np.arange(1, n_back + 1)] = 0
        assert (np.diff(bad["t"]) < 0).sum() == n_back
        write_atis_bin(tmp_path / "x.bin", bad)
        if ok:
            events_mod.read_atis_bin(str(tmp_path / "x.bin"))
        else:
            with pytest.raises(ValueError, match=f"{n_back} of 499 timestamp steps go backwards"):
                events_mod.read_atis_bin(str(tmp_path / "x.bin"))


def test_empty_bin_names_the_file(tmp_path):
    d = _ncaltech_dir(tmp_path / "data", np.random.default_rng(2))
    (d / "image_0003.bin").write_bytes(b"")
    with pytest.raises(ValueError) as err, pytest.warns(UserWarning):
        kt.data.ncaltech101("train", data_dir=tmp_path / "data", cache_dir=tmp_path / "c",
                            num_workers=1, verbose=0)
    msg = str(err.value)
    assert str(d / "image_0003.bin") in msg and "no events" in msg and "expected" in msg


def test_empty_aedat4_names_the_file(tmp_path):
    rng = np.random.default_rng(3)
    d = tmp_path / "data" / "CIFAR10DVS" / "cat"
    d.mkdir(parents=True)
    for i in range(9):
        write_aedat4(d / f"{i}.aedat4", make_events(rng, 100, 128, 128))
    (d / "9.aedat4").write_bytes(b"")
    with pytest.raises(ValueError) as err, pytest.warns(UserWarning):
        kt.data.dvs_cifar10("test", data_dir=tmp_path / "data", cache_dir=tmp_path / "c",
                            verbose=0)
    msg = str(err.value)
    assert str(d / "9.aedat4") in msg and "expected an AEDAT 4 file" in msg
    assert _no_entry(tmp_path / "c", "dvs_cifar10")


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_corrupt_jpeg_names_the_file(kind, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(4)
    d = tmp_path / "val" / "n01558993"
    d.mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(d / "a.JPEG")
    good = (d / "a.JPEG").read_bytes()
    bad = d / "b.JPEG"
    bad.write_bytes({"garbage": rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(),
                     "truncated": good[:len(good) // 2], "empty": b""}[kind])
    ds = kt.data.imagenet100("test", data_dir=tmp_path, batch_size=1, image_size=32,
                             resize_size=36)
    with pytest.raises(Exception) as err:
        for _ in ds:
            pass
    msg = str(err.value)
    assert str(bad) in msg and "expected a JPEG" in msg and "a.JPEG" not in msg


# ------------------------------------------------------------------------- non-finite inputs
def test_nan_in_events_raises_instead_of_vanishing():
    ev = np.zeros(4, [("t", np.float64), ("x", np.float64), ("y", np.float64), ("p", np.float64)])
    ev["t"], ev["x"], ev["y"], ev["p"] = [0, 1, 2, 3], [0, 1, np.nan, 1], 0, 1
    with pytest.raises(ValueError, match=r"field 'x' \(the first at event 2"):
        frame_events(ev, sensor_size=(2, 1, 2), timesteps=2, size=None)
    ev["x"][2], ev["t"][3] = 1, np.inf
    with pytest.raises(ValueError, match="non-finite value.* field 't'"):
        frame_events(ev, sensor_size=(2, 1, 2), timesteps=2, size=None)
    ev["t"][3] = 3                      # all finite: accepted, 4 events counted
    assert frame_events(ev, sensor_size=(2, 1, 2), timesteps=2, size=None).sum() == 4


def test_nan_events_in_one_recording_name_its_file(tmp_path, monkeypatch):
    d = _ncaltech_dir(tmp_path / "data", np.random.default_rng(5))
    real = events_mod.READERS["atis_bin"]

    def reader_with_nan(path):  # a reader that delivers float events (e.g. a custom one)
        ev = real(path)
        out = np.zeros(len(ev), [(n, np.float64) for n in ("t", "x", "y", "p")])
        for n in ("t", "x", "y", "p"):
            out[n] = ev[n]
        if path.endswith("image_0002.bin"):
            out["t"][7] = np.nan
        return out

    monkeypatch.setitem(events_mod.READERS, "atis_bin", reader_with_nan)
    with pytest.raises(ValueError) as err, pytest.warns(UserWarning):
        kt.data.ncaltech101("train", data_dir=tmp_path / "data", cache_dir=tmp_path / "c",
                            num_workers=1, verbose=0)
    assert str(d / "image_0002.bin") in str(err.value) and "field 't'" in str(err.value)
    assert _no_entry(tmp_path / "c", "ncaltech101")


def test_emulator_rejects_non_finite_images():
    images = np.zeros((3, 16, 16), np.float32)
    images[1, 4, 4] = np.nan
    images[2, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"images \[1, 2\] contain NaN or infinity"):
        emulate_saccades(images)


def test_cache_refuses_non_finite_frames_and_names_the_sample(tmp_path):
    from keras_trt.data import cache

    entry = cache.entry_dir("demo", {"k": 1}, tmp_path)

    def builder(tmp):
        x = np.ones((6, 2, 3), np.float32)
        x[4, 1, 2] = np.nan
        cache.save_npy(os.path.join(tmp, "x.npy"), x)
        cache.save_npy(os.path.join(tmp, "y.npy"), np.arange(6))

    with pytest.raises(ValueError, match=r"sample 4 \(rec_4.bin\) of 'x'"):
        cache.build(entry, builder, describe_sample=lambda i: f"rec_{i}.bin")
    assert os.listdir(tmp_path / "demo") == []          # nothing committed, no .tmp left
    # Small chunks: the index is found across chunk boundaries too.
    np.save(tmp_path / "big.npy", np.where(np.arange(50)[:, None] == 37, np.inf, 0.0))
    with pytest.raises(ValueError, match="sample 37 of 'big'"):
        cache.check_finite(str(tmp_path / "big.npy"), "E", chunk_bytes=24)


def test_events_with_integer_fields_need_no_check():
    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"], ev["x"], ev["p"] = [0, 1, 2], [0, 1, 1], 1
    np.testing.assert_array_equal(
        frame_events(ev, sensor_size=(2, 1, 2), timesteps=1, size=None)[0, 0, :, 1], [1, 2])
