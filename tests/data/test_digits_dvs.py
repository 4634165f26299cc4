"""digits_dvs, the embedded event dataset: emulator and loader."""

import os

import numpy as np
import pytest

import keras_trt as kt
from keras_trt.data.dvs_emulator import emulate_saccades


def _images():
    from keras_trt.data.digits import _digit_images
    images, labels = _digit_images()
    return images[:6], labels[:6]


@pytest.mark.backend_independent
def test_emulator_is_deterministic_and_sane():
    images, _ = _images()
    ev, off = emulate_saccades(images, seed=3)
    ev2, off2 = emulate_saccades(images, seed=3)
    ev3, _ = emulate_saccades(images, seed=4)
    np.testing.assert_array_equal(ev, ev2)
    np.testing.assert_array_equal(off, off2)
    assert len(ev3) != len(ev) or not np.array_equal(ev3, ev)
    assert off[0] == 0 and off[-1] == len(ev) and (np.diff(off) > 500).all()
    assert set(np.unique(ev["p"])) == {0, 1}
    assert 0.35 < ev["p"].mean() < 0.65                  # ON and OFF roughly balanced
    assert ev["x"].min() >= 0 and ev["x"].max() < 32 and ev["y"].min() >= 0 and ev["y"].max() < 32
    for i in range(len(images)):
        t = ev["t"][off[i]:off[i + 1]]
        assert (np.diff(t) >= 0).all() and t[0] >= 0 and t[-1] < 300_000   # microseconds
        # Events follow the motion: all three saccades (100 ms each) produce events.
        assert all(((t >= k * 100_000) & (t < (k + 1) * 100_000)).sum() > 100 for k in range(3))


@pytest.mark.backend_independent
def test_blank_image_gives_only_noise():
    ev, off = emulate_saccades(np.zeros((1, 32, 32)), seed=0, noise_hz=0.0)
    assert len(ev) == 0 and list(off) == [0, 0]


@pytest.mark.backend_independent
def test_loader_split_shapes_and_nonempty_frames(digits_cache):
    train = kt.data.digits_dvs("train", cache_dir=digits_cache, batch_size=512)
    test = kt.data.digits_dvs("test", cache_dir=digits_cache, batch_size=512, shuffle=False)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in train])
    xt, yt = zip(*[(x.numpy(), y.numpy()) for x, y in test])
    x, y, xt, yt = map(np.concatenate, (xs, ys, xt, yt))
    assert x.shape == (1433, 10, 32, 32, 2) and xt.shape == (364, 10, 32, 32, 2)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert np.bincount(y, minlength=10).min() >= 135 and set(yt) == set(range(10))
    for arr in (x, xt):
        assert arr.min() == 0.0 and arr.max() == 1.0
        # Every frame of every sample has events (and max-normalised frames peak at 1).
        np.testing.assert_array_equal(arr.max(axis=(2, 3, 4)), 1.0)
    # Fixed split, deterministic content for a seed (reads the same cache entry).
    again = kt.data.digits_dvs("test", cache_dir=digits_cache, batch_size=512, shuffle=False)
    np.testing.assert_array_equal(np.concatenate([a.numpy() for a, _ in again]), xt)


@pytest.mark.backend_independent
def test_loader_options(digits_cache):
    x, _ = next(iter(kt.data.digits_dvs("test", cache_dir=digits_cache, batch_size=3,
                                        timesteps=4, size=16, normalize=None, shuffle=False)))
    assert x.shape == (3, 4, 16, 16, 2) and x.numpy().max() > 1.0   # raw (resized) counts
    with pytest.raises(ValueError, match="normalize"):
        kt.data.digits_dvs("train", normalize="sum", cache_dir=digits_cache)
    with pytest.raises(ValueError, match="split"):
        kt.data.digits_dvs("valid", cache_dir=digits_cache)


def test_fit_accepts_the_dataset_on_this_backend(digits_cache):
    import keras

    ds = kt.data.digits_dvs("test", cache_dir=digits_cache, batch_size=64, timesteps=4, size=8)
    model = keras.Sequential([keras.Input((4, 8, 8, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(ds.take(2), epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(hist.history["loss"][0])
    assert os.listdir(digits_cache)
