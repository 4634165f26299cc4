"""keras_trt.analysis.penalty_share against TRT's penalty computed by hand."""

import math

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.analysis import penalty_share, run_penalty_share

T = 4


def tiny_model(loss):
    """Dense(3->2) -> LIF -> Dense(2->2), no biases: 10 weights, all set to 0.5."""
    inputs = keras.Input((T, 3))
    h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(2, use_bias=False))(inputs))
    out = kt.TimeDistributed(keras.layers.Dense(2, use_bias=False))(h)
    model = kt.SpikingModel(inputs, out)
    model.compile(optimizer="adam", loss=loss)
    for v in model.trainable_variables:
        v.assign(np.full(v.shape, 0.5, "float32"))
    return model


def by_hand(lam, decay, epsilon=1e-5, w=0.5, n=10):
    # (1/T) sum_t sum_w lam w^2 / (1 + (exp(decay t) - 1)(|w| + eps)), t = 0..T-1
    return sum(n * lam * w * w / (1 + math.expm1(decay * t) * (w + epsilon))
               for t in range(T)) / T


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_penalty_and_share_by_hand(decay):
    model = tiny_model(kt.losses.TRTLoss(lam=1e-3, decay=decay, epsilon=1e-5))
    result = penalty_share(model, loss=0.2)
    expected = by_hand(1e-3, decay)
    if decay == 0.0:
        assert expected == pytest.approx(1e-3 * 10 * 0.25)   # plain L2
    assert result["penalty"] == pytest.approx(expected, rel=1e-5)
    assert result["share"] == pytest.approx(expected / 0.2, rel=1e-5)
    assert result["timesteps"] == T and result["loss"] == 0.2
    # the penalty of T = 1 is the t = 0 term alone: plain L2 whatever the decay
    assert penalty_share(model, 1.0, timesteps=1)["penalty"] == pytest.approx(2.5e-3, rel=1e-5)


def test_no_trt_loss_no_penalty_and_bad_input():
    model = tiny_model(kt.losses.TETLoss())
    assert penalty_share(model, 1.0)["penalty"] == 0.0
    with pytest.raises(ValueError, match="loss"):
        penalty_share(model, 0.0)
    with pytest.raises(TypeError, match="SpikingModel"):
        penalty_share(keras.Sequential([keras.layers.Dense(1)]), 1.0)


def test_run_folder_share(tmp_path):
    model = tiny_model(kt.losses.TRTLoss(lam=1e-3, decay=0.5, epsilon=1e-5))
    model.save(str(tmp_path / "last.keras"))
    (tmp_path / "log.csv").write_text("epoch,loss,accuracy\n0,0.9,0.5\n1,0.25,0.9\n")
    result = run_penalty_share(str(tmp_path))
    assert result["loss"] == 0.25 and result["epochs"] == 2
    assert result["share"] == pytest.approx(by_hand(1e-3, 0.5) / 0.25, rel=1e-5)
    with pytest.raises(ValueError, match="no 'val_loss'"):
        run_penalty_share(str(tmp_path), column="val_loss")
    with pytest.raises(FileNotFoundError, match="best.keras"):
        run_penalty_share(str(tmp_path), model_file="best.keras")
