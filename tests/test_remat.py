"""Rematerialisation (`kt.Remat`, `VGGSNN(remat=True)`): the same gradients, moving
statistics and outputs as the model without it, and it survives saving."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import backend
from keras_trt.testing import to_numpy
from tests.models.paper_models import tiny_vggsnn

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


# ------------------------------------------------------------------ time chunks
# float32 rounding of sums taken in another order (the chunks' statistics, the chunked
# backward pass), relative to the largest gradient: measured at most 1.2e-6 on every
# backend (three seeds, this block with 4 channels on 6x6 frames)
CHUNK_RTOL = 2e-5


def _value(y):
    # a torch training-mode output requires grad: NumPy cannot read it
    return to_numpy(y.detach() if hasattr(y, "detach") else y)


def _chunk_block(time_chunk):
    return kt.Remat(keras.Sequential([
        kt.TimeDistributed(keras.layers.Conv2D(3, 3, padding="same", use_bias=False)),
        # pooled before tdBN: its statistics count the pooled frames
        kt.TimeDistributed(keras.layers.AveragePooling2D(2)),
        kt.TemporalBatchNorm(),
        kt.LIF(v_threshold=0.5, time_loop="unroll"),
    ]), time_chunk=time_chunk)


def test_time_chunks_equal_the_whole_block():
    """B=2, T=3: chunks of 2 and 1 timesteps (the last one partial) against the
    unwrapped block."""
    rng = np.random.default_rng(1)
    # multiples of 1/4, as pooled spikes: torch keeps such a block input as bytes
    x = (rng.integers(0, 5, size=(2, 3, 4, 4, 2)) / 4).astype("float32")
    w = rng.normal(size=(2, 3, 2, 2, 3)).astype("float32")
    chunked = _chunk_block(2)
    chunked.build(x.shape)
    plain = chunked.layer
    start = [to_numpy(v) for v in plain.weights]
    inputs = keras.Input(x.shape[1:])

    def grads(layer):
        model = keras.Model(inputs, layer(inputs))
        for v, value in zip(plain.weights, start):
            v.assign(value)
        loss = lambda _, p: keras.ops.sum(keras.ops.multiply(p, w))   # noqa: E731
        g = backend.gradients(model, x, None, loss, training=True)
        for v, value in zip(plain.weights, start):
            v.assign(value)
        y = _value(model(x, training=True))    # updates the moving statistics once
        stats = [to_numpy(v) for v in plain.non_trainable_weights]
        return [to_numpy(a) for a in g], stats, y

    g_plain, stats_plain, y_plain = grads(plain)
    g_chunked, stats_chunked, y_chunked = grads(chunked)
    # spikes in later chunks depend on the membrane carried in: without it the
    # gradients would differ far beyond rounding
    assert len(g_plain) == 3 and float(np.abs(g_plain[0]).max()) > 0
    for a, b in zip(g_chunked, g_plain):
        np.testing.assert_allclose(a, b, rtol=0, atol=CHUNK_RTOL * np.abs(b).max())
    for a, b, old in zip(stats_chunked, stats_plain, [start[3], start[4]]):
        assert np.abs(b - old).max() > 0
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(y_chunked, y_plain)


def test_time_chunks_carry_the_membrane():
    """A constant current of 0.4 under a threshold of 0.65 (tau 2): u = 0.4, 0.6, 0.7
    fires at t=2, the first step of the second chunk, only if the membrane built up in
    the first chunk is carried over (from 0 it would read 0.4, 0.6 again)."""
    block = kt.Remat(keras.Sequential([
        kt.TimeDistributed(keras.layers.Identity()), kt.TemporalBatchNorm(),
        kt.LIF(v_threshold=0.65, time_loop="unroll")]), time_chunk=2)
    x = np.arange(4, dtype="float32").reshape(1, 4, 1)
    block.build(x.shape)
    norm = block.layer.layers[1]
    norm.gamma.assign([0.0])       # the current is beta at every step
    norm.beta.assign([0.4])
    y = _value(block(x, training=True))[0, :, 0]
    np.testing.assert_array_equal(y, [0.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("bad", [0, -1, 2.0, "2", True])
def test_time_chunk_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="Remat: `time_chunk` must be None or an integer"):
        kt.Remat(keras.Sequential([kt.LIF()]), time_chunk=bad)


def test_time_chunk_rejects_a_block_it_cannot_cut():
    with pytest.raises(ValueError, match="`time_chunk` needs a block of per-frame layers"):
        kt.Remat(keras.Sequential([kt.LIF(), kt.TemporalBatchNorm()]), time_chunk=2)
    with pytest.raises(ValueError, match="`remat` must be True or False"):
        tiny_vggsnn(input_shape=SHAPE, widths=(4, 8), remat=0)


def test_time_chunk_rejects_a_functional_block_that_is_not_a_chain():
    inputs = keras.Input((3, 4))
    h = kt.TimeDistributed(keras.layers.Dense(4))(inputs)
    residual = keras.layers.Add()([inputs, h])
    with pytest.raises(ValueError, match="form a chain"):
        kt.Remat(keras.Model(inputs, kt.LIF()(kt.TemporalBatchNorm()(residual))),
                 time_chunk=2)
    shared = kt.TimeDistributed(keras.layers.Dense(4))
    twice = shared(shared(inputs))
    with pytest.raises(ValueError, match="form a chain"):
        kt.Remat(keras.Model(inputs, twice), time_chunk=2)


def test_a_functional_chain_is_cut_in_call_order():
    inputs = keras.Input((3, 4))
    conv = kt.TimeDistributed(keras.layers.Dense(4), name="conv")
    norm, lif = kt.TemporalBatchNorm(name="norm"), kt.LIF(name="lif")
    block = kt.Remat(keras.Model(inputs, lif(norm(conv(inputs)))), time_chunk=2)
    assert [layer.name for layer in block._chain] == ["conv", "norm", "lif"]


@pytest.mark.parametrize("bad", [dict(remat_time_chunk=0), dict(remat_time_chunk=True),
                                 dict(remat_time_chunk=2.0)])
def test_vggsnn_rejects_a_bad_time_chunk(bad):
    with pytest.raises(ValueError, match="`remat_time_chunk` must be None or an integer"):
        tiny_vggsnn(input_shape=SHAPE, widths=(4, 8), remat=True, **bad)
    with pytest.raises(ValueError, match="needs `remat=True`"):
        tiny_vggsnn(input_shape=SHAPE, widths=(4, 8), remat_time_chunk=2)


def test_vggsnn_integer_remat_is_deprecated_and_still_chunks():
    with pytest.warns(DeprecationWarning, match=r"remat=True, remat_time_chunk=3"):
        model = tiny_vggsnn(input_shape=SHAPE, widths=(4, 8), remat=3)
    assert model.get_layer("block1_remat").time_chunk == 3


def test_vggsnn_time_chunks_saves_and_reloads(tmp_path):
    model = tiny_vggsnn(input_shape=SHAPE, widths=(4, 8), remat=True, remat_time_chunk=2)
    assert model.get_layer("block1_remat").time_chunk == 2
    path = str(tmp_path / "chunked.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("block2_remat").time_chunk == 2
