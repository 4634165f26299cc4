"""Rematerialisation (`kt.Remat`, `VGGSNN(remat=True)`): the same gradients, moving
statistics and outputs as the model without it, and it survives saving."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import backend
from tests.conftest import to_numpy
from tests.models._common import tiny_vggsnn

SHAPE = (3, 8, 8, 2)


def _pair():
    plain = tiny_vggsnn(input_shape=SHAPE, widths=(4, 8))
    remat = tiny_vggsnn(input_shape=SHAPE, widths=(4, 8), remat=True)
    remat.set_weights(plain.get_weights())
    return plain, remat


def _data():
    rng = np.random.default_rng(0)
    x = (rng.random((2,) + SHAPE) < 0.4).astype("float32")
    return x, np.array([1, 3])


def test_remat_gradients_and_statistics_identical():
    plain, remat = _pair()
    assert [w.path.split("/")[-1] for w in plain.weights] == [
        w.path.split("/")[-1] for w in remat.weights]
    x, y = _data()
    loss = kt.losses.TRTLoss(eta=0.05, lam=1e-3, decay=0.25)
    grads = [backend.gradients(m, x, y, lambda y_, p: kt.losses.TETLoss()(y_, p),
                               training=True) for m in (plain, remat)]
    assert len(grads[0]) == len(plain.trainable_variables) == 8
    for g_plain, g_remat in zip(*grads):
        assert float(np.abs(to_numpy(g_plain)).max()) > 0
        np.testing.assert_array_equal(to_numpy(g_remat), to_numpy(g_plain))
    # one optimiser step each: the moving statistics are updated once, as without remat
    for m in (plain, remat):
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        m.train_on_batch(x, y)
    for w_plain, w_remat in zip(plain.weights, remat.weights):
        np.testing.assert_array_equal(to_numpy(w_remat), to_numpy(w_plain), err_msg=w_plain.path)
    stats = [to_numpy(w) for w in plain.weights if "moving_mean" in w.path]
    assert all(np.abs(s).max() > 0 for s in stats)


def test_remat_gradients_identical_under_mixed_bfloat16():
    keras.config.set_dtype_policy("mixed_bfloat16")
    plain, remat = _pair()
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in remat.weights)
    x, y = _data()
    grads = [backend.gradients(m, x, y, lambda y_, p: kt.losses.TETLoss()(y_, p),
                               training=True) for m in (plain, remat)]
    for g_plain, g_remat in zip(*grads):
        assert keras.backend.standardize_dtype(g_remat.dtype) == "float32"
        np.testing.assert_array_equal(to_numpy(g_remat), to_numpy(g_plain))


def test_remat_saves_and_reloads(tmp_path):
    _, remat = _pair()
    path = str(tmp_path / "remat.keras")
    remat.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("block1_remat"), kt.Remat)
    x, _ = _data()
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(remat(x)))


def test_remat_rejects_a_non_layer():
    with pytest.raises(TypeError, match="Remat: `layer` must be a keras.layers.Layer"):
        kt.Remat(lambda x: x)
