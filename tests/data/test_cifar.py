"""CIFAR-10/100 through tfds' real builders, prepared offline from CIFAR binary files."""

import time

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_datasets as tfds

import keras_trt as kt
from keras_trt.data import augment
from keras_trt.data.cifar import CIFAR_MEAN_STD

pytestmark = pytest.mark.backend_independent
tfds.display_progress_bar(False)


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_test_split_is_normalised_images_in_order(name, cifar_data, register_fake_cifar_checksums):
    root, content = cifar_data
    images, labels = content[name]
    x, y = _all(getattr(kt.data, name)("test", data_dir=root, batch_size=5))
    assert x.shape == (16, 32, 32, 3) and x.dtype == np.float32 and y.dtype == np.int32
    mean, std = (np.array(v, np.float32) for v in CIFAR_MEAN_STD[name])
    # tfds stores examples in its own (key-hashed) order: match each one back.
    raw = np.rint((x * std + mean) * 255).astype(np.uint8)
    index = {images[48 + i].tobytes(): 48 + i for i in range(16)}
    order = [index[r.tobytes()] for r in raw]
    assert sorted(order) == list(range(48, 64))
    want = (images[order].astype(np.float32) / 255.0 - mean) / std
    np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y, labels[order])   # fine labels for CIFAR-100
    # Test split is not shuffled: same order every epoch.
    x2, _ = _all(getattr(kt.data, name)("test", data_dir=root, batch_size=16))
    np.testing.assert_array_equal(x, x2)


def test_train_split_shuffled_augmented_partial_batch(cifar_data, register_fake_cifar_checksums):
    root, content = cifar_data
    images, labels = content["cifar10"]
    ds = kt.data.cifar10("train", data_dir=root, batch_size=20, seed=0)
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    assert [len(y) for _, y in batches] == [20, 20, 8]            # last partial batch kept
    y = np.concatenate([b[1] for b in batches])
    assert sorted(y) == sorted(labels[:48]) and not np.array_equal(y, labels[:48])
    mean, std = (np.array(v, np.float32) for v in CIFAR_MEAN_STD["cifar10"])
    x = np.concatenate([b[0] for b in batches])
    # The constant (200) images: only "200" and "0" (crop padding / cutout) values appear,
    # and every image holds a hole of at least 8x8 (a corner-clipped cutout).
    v200, v0 = (200 / 255 - mean) / std, (0 - mean) / std
    const = []
    for i in range(48):
        is0 = np.isclose(x[i], v0, atol=1e-4).all(-1)
        is200 = np.isclose(x[i], v200, atol=1e-4).all(-1)
        if (is0 | is200).all():
            const.append(i)
            assert is0.sum() >= 64
    assert len(set(const)) == 8


def test_crop_flip_cutout_statistics():
    n = 2000
    seed = tf.constant([3, 4], tf.int64)
    # Crop: unique pixel ids reveal the offset; zero fill outside; all 9x9 offsets used.
    ids = (np.arange(32 * 32).reshape(1, 32, 32, 1) + 1).astype(np.int32)
    crops = augment.random_crop_with_padding(tf.constant(np.repeat(ids, n, 0)), 4, seed).numpy()
    offsets = set()
    for c in crops:
        r, q = np.argwhere(c[..., 0] > 0)[0]
        v = c[r, q, 0] - 1
        offsets.add((v // 32 - r, v % 32 - q))
        assert (c[..., 0] > 0).sum() == (32 - abs(v // 32 - r)) * (32 - abs(v % 32 - q))
    assert offsets == {(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)}
    # Flip: about half.
    flipped = augment.random_flip_left_right(tf.constant(np.repeat(ids, n, 0)), seed).numpy()
    frac = (flipped[:, 0, 0, 0] != 1).mean()
    assert 0.45 < frac < 0.55
    # Cutout: one hole of side 16, clipped at the borders; the centre uniform.
    holes = augment.cutout(tf.ones((n, 32, 32, 3)), 16, seed).numpy()
    assert (holes[..., 0] == holes[..., 2]).all()                # all channels
    sides = []
    for h in holes[..., 0]:
        rows = np.flatnonzero((h == 0).any(1))
        cols = np.flatnonzero((h == 0).any(0))
        assert (h[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] == 0).all()   # a rectangle
        assert (h == 0).sum() == len(rows) * len(cols)
        sides.append((len(rows), len(cols)))
    sides = np.array(sides)
    assert sides.max() == 16 and sides.min() == 8
    # Interior centres (8 <= c <= 24 in both axes): 17/32 of each axis -> 28% full holes.
    full = ((sides == 16).all(1)).mean()
    assert 0.22 < full < 0.34


def test_missing_cifar_fails_fast_without_network(tmp_path):
    import tensorflow_datasets  # noqa: F401  (import time is not what is measured)

    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        kt.data.cifar10("train", data_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    assert str(tmp_path) in msg and "cifar-10-binary.tar.gz" in msg and "download=True" in msg
    with pytest.raises(ValueError, match="split"):
        kt.data.cifar100("validation", data_dir=tmp_path)
