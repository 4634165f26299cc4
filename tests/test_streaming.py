"""Stateful LIF / TimeAverage layers and `streaming_model` on a small Dense SNN."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import many_spike_input, to_numpy
from tests import reference


def test_stateful_lif_hand_computed():
    """tau=2, threshold 1, input 0.6 per step: u = 0.6, 0.9, 1.05 (spike, reset to 0)."""
    lif = kt.LIF(tau=2.0, v_threshold=1.0, stateful=True)
    x = np.full((1, 1, 1), 0.6, "float32")
    spikes = [float(to_numpy(lif(x))[0, 0, 0]) for _ in range(3)]
    assert spikes == [0.0, 0.0, 1.0]
    assert float(to_numpy(lif.membrane)[0, 0]) == 0.0          # hard reset
    lif(x)
    np.testing.assert_allclose(to_numpy(lif.membrane), [[0.6]])
    lif.reset_state()
    assert float(to_numpy(lif.membrane)[0, 0]) == 0.0
    assert lif.membrane.trainable is False


@pytest.mark.parametrize("v_reset,tau", [(0.0, 2.0), (0.3, 1.5), (None, 3.0)])
def test_stateful_lif_steps_equal_one_multistep_call(v_reset, tau):
    x = many_spike_input((3, 6, 5))
    expected = reference.lif_forward(x, tau, 1.0, v_reset)[0]
    assert 0.2 < expected.mean() < 0.7
    multistep = to_numpy(kt.LIF(tau=tau, v_reset=v_reset)(x))
    np.testing.assert_array_equal(multistep, expected)
    lif = kt.LIF(tau=tau, v_reset=v_reset, stateful=True)
    steps = np.concatenate([to_numpy(lif(x[:, t:t + 1])) for t in range(6)], axis=1)
    np.testing.assert_array_equal(steps, multistep)
    lif.reset_state()                  # a new sequence: chunks of 2 steps give the same
    chunks = np.concatenate([to_numpy(lif(x[:, t:t + 2])) for t in range(0, 6, 2)], axis=1)
    np.testing.assert_array_equal(chunks, multistep)


def test_stateful_time_average_is_the_running_mean():
    avg = kt.TimeAverage(stateful=True)
    out1 = to_numpy(avg(np.array([[[1.0, 2.0]]], "float32")))
    out2 = to_numpy(avg(np.array([[[3.0, 6.0]]], "float32")))
    np.testing.assert_array_equal(out1, [[1.0, 2.0]])
    np.testing.assert_array_equal(out2, [[2.0, 4.0]])
    avg.reset_state()
    np.testing.assert_array_equal(to_numpy(avg(np.array([[[5.0, 5.0]]], "float32"))),
                                  [[5.0, 5.0]])


def test_stateful_layers_need_a_static_batch_and_the_same_batch():
    inputs = keras.Input((1, 4))
    with pytest.raises(ValueError, match="batch size and frame shape must be static"):
        kt.LIF(stateful=True)(inputs)
    with pytest.raises(ValueError, match="batch size and frame shape must be static"):
        kt.TimeAverage(stateful=True)(inputs)
    lif = kt.LIF(stateful=True)
    lif(np.zeros((2, 1, 4), "float32"))
    with pytest.raises(ValueError, match="membrane of 2 samples, got a batch of 3"):
        lif(np.zeros((3, 1, 4), "float32"))


def test_stateful_config_round_trip():
    lif = kt.IF(stateful=True, v_reset=None)
    clone = kt.IF.from_config(lif.get_config())
    assert clone.stateful and clone.tau == 1.0 and clone.v_reset is None
    assert kt.LIF().get_config()["stateful"] is False
    assert kt.TimeAverage.from_config(kt.TimeAverage(stateful=True).get_config()).stateful


def small_snn(timesteps=5, static=False):
    shape = (6,) if static else (timesteps, 6)
    inputs = keras.Input(shape, name="x")
    h = kt.RepeatTime(timesteps)(inputs) if static else inputs
    h = kt.TimeDistributed(keras.layers.Dense(8))(h)
    h = kt.LIF(name="lif1", time_loop="unroll")(h)
    logits = kt.TimeDistributed(keras.layers.Dense(3))(h)
    return kt.SpikingModel(inputs, [logits, kt.TimeAverage(name="mean")(logits)])


def test_streaming_model_predict_carries_the_state_across_compiled_calls():
    """predict_on_batch (jit-compiled on JAX, tf.function on TensorFlow) updates the
    membrane variables between calls as eager calls do."""
    model = small_snn()
    x = many_spike_input((2, 5, 6), seed=3)
    logits, mean = (to_numpy(o) for o in model(x))
    stream = kt.streaming_model(model, batch_size=2)
    assert stream.input_shape == (2, 1, 6)
    assert kt.streaming.is_streaming(stream) and not kt.streaming.is_streaming(model)
    for _ in range(2):                       # the second pass after reset_states()
        steps = [stream.predict_on_batch(x[:, t:t + 1]) for t in range(5)]
        np.testing.assert_array_equal(np.concatenate([s[0] for s in steps], 1), logits)
        np.testing.assert_allclose(steps[-1][1], mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(steps[0][1], logits[:, 0], rtol=1e-6, atol=1e-6)
        assert [layer.name for layer in stream.reset_states()] == ["lif1", "mean"]


def test_streaming_model_of_a_static_input_takes_the_frame_per_step():
    model = small_snn(timesteps=4, static=True)
    x = np.random.default_rng(5).normal(0.5, 1.0, (2, 6)).astype("float32")
    logits = to_numpy(model(x)[0])
    stream = kt.streaming_model(model, batch_size=2)
    assert stream.input_shape == (2, 6)
    steps = np.concatenate([to_numpy(stream(x)[0]) for _ in range(4)], axis=1)
    np.testing.assert_array_equal(steps, logits)


def test_streaming_model_input_checks():
    model = small_snn()
    stream = kt.streaming_model(model, batch_size=2)
    with pytest.raises(ValueError, match=r"5 timesteps .* T=1 \(a streaming model takes one"):
        stream(np.zeros((2, 5, 6), "float32"))
    with pytest.raises(ValueError, match="batch of 3, but the model was built for batches "
                                         "of exactly 2"):
        stream(np.zeros((3, 1, 6), "float32"))
    with pytest.raises(ValueError, match="1 timesteps .* built for T=5"):
        model(np.zeros((2, 1, 6), "float32"))      # the multi-step form still checks T
    with pytest.raises(ValueError, match="streaming_model: batch_size must be a positive integer, got batch_size=0"):
        kt.streaming_model(model, batch_size=0)
    with pytest.raises(TypeError, match="must be a keras.Model"):
        kt.streaming_model("model.keras")
