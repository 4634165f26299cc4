import keras
import numpy as np
import pytest

import keras_trt as kt

ops = keras.ops


def test_time_distributed_equals_per_timestep_application(rng):
    x = rng.normal(size=(3, 4, 6, 6, 2)).astype("float32")
    conv = keras.layers.Conv2D(5, 3, padding="same")
    wrapped = kt.TimeDistributed(conv)
    out = ops.convert_to_numpy(wrapped(x))
    assert out.shape == (3, 4, 6, 6, 5)
    for t in range(4):
        np.testing.assert_allclose(out[:, t], ops.convert_to_numpy(conv(x[:, t])),
                                   rtol=1e-5, atol=1e-6)


def test_time_distributed_symbolic_shape_and_reload(tmp_path, rng):
    inputs = keras.Input((5, 8, 8, 3))
    td = kt.TimeDistributed(keras.layers.Conv2D(4, 3, strides=2, padding="valid"))
    assert td.compute_output_shape((None, 5, 8, 8, 3)) == (None, 5, 3, 3, 4)
    model = keras.Model(inputs, td(inputs))
    path = tmp_path / "td.keras"
    model.save(path)
    x = rng.normal(size=(2, 5, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(keras.saving.load_model(path).predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_temporal_batch_norm_statistics_over_batch_time_space(rng):
    x = rng.normal(2.0, 3.0, size=(4, 3, 5, 5, 6)).astype("float32")
    bn = kt.TemporalBatchNorm()
    y = ops.convert_to_numpy(bn(x, training=True))
    mean = x.mean(axis=(0, 1, 2, 3))
    var = x.var(axis=(0, 1, 2, 3))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)
    # PyTorch semantics: momentum 0.1 on the new statistic, unbiased running variance
    n = 4 * 3 * 5 * 5
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_mean), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_variance),
                               0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)


def test_temporal_batch_norm_inference_uses_moving_statistics(rng):
    bn = kt.TemporalBatchNorm()
    x = rng.normal(size=(2, 3, 4)).astype("float32")        # rank 3: (B, T, C)
    bn.build(x.shape)
    bn.moving_mean.assign(np.array([1.0, 2.0, 3.0, 4.0], "float32"))
    bn.moving_variance.assign(np.array([4.0, 1.0, 0.25, 1.0], "float32"))
    bn.gamma.assign(np.array([2.0, 1.0, 1.0, 1.0], "float32"))
    y = ops.convert_to_numpy(bn(x, training=False))
    expected = (x - [1, 2, 3, 4]) / np.sqrt(np.array([4, 1, 0.25, 1]) + 1e-5) * [2, 1, 1, 1]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_temporal_batch_norm_weights_are_gamma_beta_and_moving_stats():
    bn = kt.TemporalBatchNorm()
    bn.build((None, 4, 8))
    assert sorted(v.name for v in bn.trainable_variables) == ["beta", "gamma"]
    assert sorted(v.name for v in bn.non_trainable_variables) == ["moving_mean",
                                                                  "moving_variance"]


def test_repeat_time_and_time_average(rng):
    x = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    rep = ops.convert_to_numpy(kt.RepeatTime(5)(x))
    assert rep.shape == (2, 5, 4, 4, 3)
    for t in range(5):
        np.testing.assert_array_equal(rep[:, t], x)
    seq = rng.normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(kt.TimeAverage()(seq)), seq.mean(1),
                               rtol=1e-6)


@pytest.mark.parametrize("layer", [kt.TemporalBatchNorm, kt.TimeAverage,
                                   lambda: kt.TimeDistributed(keras.layers.Dense(2))])
def test_rank_2_input_rejected(layer):
    with pytest.raises(ValueError, match="rank >= 3"):
        layer()(np.zeros((4, 3), "float32"))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_repeat_time_validates_timesteps(bad):
    with pytest.raises(ValueError, match="timesteps"):
        kt.RepeatTime(bad)


def test_batch_norm_validates_arguments():
    with pytest.raises(ValueError, match="momentum"):
        kt.TemporalBatchNorm(momentum=0.99 + 1)
    with pytest.raises(ValueError, match="epsilon"):
        kt.TemporalBatchNorm(epsilon=0.0)


def test_tile_time_repeats_a_length_one_time_axis(rng):
    x = rng.normal(size=(2, 1, 3, 4)).astype("float32")
    tiled = ops.convert_to_numpy(kt.TileTime(5)(x))
    assert tiled.shape == (2, 5, 3, 4)
    np.testing.assert_array_equal(tiled, np.repeat(x, 5, axis=1))
    with pytest.raises(ValueError, match=r"expected input \(batch, 1, \.\.\.\)"):
        kt.TileTime(5)(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="timesteps"):
        kt.TileTime(0)


def test_tile_time_moved_from_models():
    assert kt.TileTime is kt.layers.TileTime
    config = keras.saving.serialize_keras_object(kt.TileTime(3, name="stem_repeat"))
    assert config["module"] == "keras_trt.layers"
    # as a file saved when the class lived in the models' private module names it
    config["module"] = "keras_trt.models._blocks"
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is kt.TileTime and restored.timesteps == 3
    with pytest.warns(DeprecationWarning, match="keras_trt.layers.TileTime"):
        assert kt.models.TileTime is kt.TileTime
