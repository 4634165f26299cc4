"""ImageNet-100 from a tiny folder of JPEGs."""

import time

import numpy as np
import pytest
import tensorflow as tf

import keras_trt as kt
from keras_trt.data import imagenet

pytestmark = pytest.mark.backend_independent


def test_class_list_is_the_packaged_100_wnids():
    classes = kt.data.imagenet100_classes()
    assert len(classes) == 100 == len(set(classes)) and classes == sorted(classes)
    assert classes[0] == "n01558993" and "n02869837" in classes


def test_labels_by_sorted_wnid_and_output_sizes(imagenet_dir):
    root, wnids = imagenet_dir
    classes = kt.data.imagenet100_classes()
    paths, labels = imagenet.list_images(root, "test")
    assert len(paths) == 6 and "n99999999" not in "".join(paths)   # unlisted class ignored
    assert labels == [classes.index(w) for w in sorted(wnids) for _ in range(2)]
    test = kt.data.imagenet100("test", data_dir=root, batch_size=4)
    shapes = [(x.shape, y.numpy().tolist()) for x, y in test]
    assert [s for s, _ in shapes] == [(4, 224, 224, 3), (2, 224, 224, 3)]
    assert sum((y for _, y in shapes), []) == labels
    train = kt.data.imagenet100("train", data_dir=root, batch_size=5, seed=0)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in train])
    assert [x.shape for x in xs] == [(5, 224, 224, 3), (4, 224, 224, 3)]
    assert sorted(np.concatenate(ys).tolist()) == sorted(imagenet.list_images(root, "train")[1])
    lo = (0 - np.array(imagenet.MEAN)) / np.array(imagenet.STD)
    hi = (1 - np.array(imagenet.MEAN)) / np.array(imagenet.STD)
    x = np.concatenate(xs)
    assert (x >= lo - 1e-5).all() and (x <= hi + 1e-5).all()


def test_test_transform_resize_shorter_side_and_center_crop():
    # 300x400 image whose column index is encoded: resize -> 256x341, crop cols 58..281.
    img = tf.tile(tf.reshape(tf.linspace(0.0, 1.0, 400), (1, 400, 1)), (300, 1, 3))
    out = imagenet.test_transform(img).numpy()
    assert out.shape == (224, 224, 3)
    full = tf.image.resize(img, (256, 341), antialias=True).numpy()
    np.testing.assert_allclose(out, full[16:240, 58:282], atol=1e-6)


def test_random_resized_crop_boxes():
    for i in range(200):
        top, left, h, w = (int(v) for v in imagenet.random_resized_crop_box(
            300, 400, tf.constant([i, 0], tf.int64)))
        assert 0 <= top and top + h <= 300 and 0 <= left and left + w <= 400
        assert 0.08 * 0.9 <= h * w / (300 * 400) <= 1.0
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    # A 1x50 strip: no try fits the ratio, the fallback crops the centre at ratio 4/3.
    assert [int(v) for v in imagenet.random_resized_crop_box(1, 50, tf.constant([0, 0]))] == [0, 24, 1, 1]


def test_missing_imagenet_fails_fast(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        kt.data.imagenet100("train", data_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    assert str(tmp_path / "train") in msg and "<wnid>/*.JPEG" in msg and "image-net.org" in msg
