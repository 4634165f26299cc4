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


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_remat_gradients_and_statistics_identical(policy):
    keras.config.set_dtype_policy(policy)
    plain, remat = _pair()
    assert [w.path.split("/")[-1] for w in plain.weights] == [
        w.path.split("/")[-1] for w in remat.weights]
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in remat.weights)
    x, y = _data()
    loss = kt.losses.TRTLoss(eta=0.05, lam=1e-3, decay=0.25)
    grads = [backend.gradients(m, x, y, lambda y_, p: loss.data_term(y_, p), training=True)
             for m in (plain, remat)]
    assert len(grads[0]) == len(plain.trainable_variables) == 8
    for g_plain, g_remat in zip(*grads):
        assert keras.backend.standardize_dtype(g_remat.dtype) == "float32"
        assert float(np.abs(to_numpy(g_plain)).max()) > 0
        np.testing.assert_array_equal(to_numpy(g_remat), to_numpy(g_plain))
    # a training-mode call updates the moving statistics once, as without remat
    before = [to_numpy(w) for w in plain.non_trainable_weights]
    for m in (plain, remat):
        m(x, training=True)
    for w_plain, w_remat, old in zip(plain.non_trainable_weights,
                                     remat.non_trainable_weights, before):
        assert np.abs(to_numpy(w_plain) - old).max() > 0, w_plain.path
        np.testing.assert_array_equal(to_numpy(w_remat), to_numpy(w_plain), err_msg=w_plain.path)


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
