"""keras_trt.analysis.timestep_accuracy: by hand, and equal to forward passes over the
first t timesteps only (the causality it relies on)."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.analysis import prefix_mean_accuracy, timestep_accuracy
from tests.analysis.models import mlp_snn


def test_prefix_mean_accuracy_by_hand():
    logits = np.array([[[1, 0], [0, 3], [0, 0]],      # sums [1,0] [1,3] [1,3], label 1
                       [[0, 2], [3, 0], [0, 0]]],     # sums [0,2] [3,2] [3,2], label 0
                      dtype="float32")
    np.testing.assert_array_equal(prefix_mean_accuracy(logits, [1, 0]), [0, 2, 2])
    with pytest.raises(ValueError, match="`logits` must be"):
        prefix_mean_accuracy(logits[0], [1])


def test_matches_forward_passes_over_the_first_t_timesteps():
    T, n = 4, 40
    model = mlp_snn(T=T, bn=True, seed=3)
    rng = np.random.default_rng(0)
    for v in model.non_trainable_variables:     # BN moving statistics away from 0/1
        v.assign(rng.uniform(0.5, 1.5, tuple(v.shape)).astype("float32"))
    x = rng.normal(0.5, 1.0, (n, T, 6)).astype("float32")
    y = rng.integers(0, 3, n)
    result = timestep_accuracy(model, (x, y), batch_size=16)
    assert result["samples"] == n and result["accuracy"].shape == (T,)
    for t in range(1, T + 1):
        short = mlp_snn(T=t, bn=True, seed=3)
        short.set_weights(model.get_weights())
        logits = keras.ops.convert_to_numpy(short(x[:, :t], training=False))
        expected = np.mean(np.argmax(logits.mean(axis=1), -1) == y)
        assert result["accuracy"][t - 1] == pytest.approx(expected, abs=1e-12), t
    # the last entry is the usual accuracy of the time-averaged logits
    full = keras.ops.convert_to_numpy(model(x, training=False))
    assert result["accuracy"][-1] == pytest.approx(np.mean(np.argmax(full.mean(1), -1) == y))


def test_labels_are_required():
    model = mlp_snn(T=2)
    with pytest.raises(ValueError, match="must carry labels"):
        timestep_accuracy(model, [(np.zeros((2, 2, 6), "float32"),)])
