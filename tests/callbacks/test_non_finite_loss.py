"""TerminateOnNonFiniteLoss: Keras' TerminateOnNaN, plus where and why (NaN injected in
the input)."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.callbacks import (NonFiniteLossError, TerminateOnNonFiniteLoss,
                                 explain_non_finite_loss)

CAUSES = ("NaN or inf values in the input data", "learning rate too high",
          "labels outside the classes 0..3", "float16 overflow without loss scaling")


def dense_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def data_with_nan(sample, n=12):
    x = np.ones((n, 3), "float32")
    x[sample, 1] = np.nan
    return x, np.zeros((n, 4), "float32")


def test_stops_at_the_batch_with_nan_input_and_explains_at_the_end(capsys):
    x, y = data_with_nan(sample=13, n=16)    # batches of 2: batch 7 (counting from 1)
    stop = TerminateOnNonFiniteLoss()
    history = dense_model().fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0,
                                callbacks=[stop])
    assert (stop.stopped_epoch, stop.stopped_batch) == (1, 7)
    assert len(history.history["loss"]) == 1
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == "Batch 6: Invalid loss, terminating training"    # Keras' line
    assert printed[-1] == stop.explanation
    assert stop.explanation.startswith("training stopped: the loss is nan at epoch 1, batch 7")
    assert "learning rate too high (0.01; try 10x lower)" in stop.explanation
    for cause in CAUSES:
        assert cause in stop.explanation
    assert "not here: the model computes in float32" in stop.explanation


def test_raise_error_raises_the_explanation_before_anything_else_runs():
    x, y = data_with_nan(sample=4)           # batch 3 (of 6) of epoch 1
    ran = []

    class AfterStop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ran.append(epoch)

    with pytest.raises(NonFiniteLossError) as info:
        dense_model().fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0,
                          callbacks=[TerminateOnNonFiniteLoss(raise_error=True), AfterStop()])
    assert isinstance(info.value, RuntimeError)       # what Keras' raise_error raises
    message = str(info.value)
    assert "\n" not in message and "epoch 1, batch 3" in message
    assert all(cause in message for cause in CAUSES)
    assert ran == []


def test_float16_without_loss_scaling_is_named_with_the_fix():
    keras.config.set_dtype_policy("mixed_float16")
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    message = explain_non_finite_loss(model, float("inf"), epoch=2, batch=5)
    assert "the loss is inf at epoch 2, batch 5" in message
    assert "the model computes in float16: wrap the optimizer in " \
           "keras.optimizers.LossScaleOptimizer" in message


def test_a_finite_run_is_left_alone():
    x = np.ones((8, 3), "float32")
    stop = TerminateOnNonFiniteLoss(raise_error=True)
    history = dense_model().fit(x, np.zeros((8, 4)), batch_size=4, epochs=2, verbose=0,
                                callbacks=[stop])
    assert len(history.history["loss"]) == 2 and stop.explanation is None


def spiking_model(loss):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2, 3))
    h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(4))(inputs))
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
    model.compile(optimizer="adam", loss=loss)
    return model


def spiking_data_with_nan():
    x = np.ones((8, 2, 3), "float32")
    x[2, 0, 0] = np.nan                       # batch 2 (of 4)
    return x, np.zeros(8, "int32")


def test_spiking_model_with_nan_input_stops_when_trts_penalty_turns_nan():
    """In an SNN the NaN first hides behind the spike threshold (NaN >= 1 is False): the
    loss of batch 2 is finite, but its NaN gradients reach the weights, and TRT's weight
    penalty makes batch 3's loss NaN."""
    stop = TerminateOnNonFiniteLoss()
    spiking_model(kt.losses.TRTLoss(lam=1e-3)).fit(
        *spiking_data_with_nan(), batch_size=2, epochs=2, shuffle=False, verbose=0,
        callbacks=[stop])
    assert (stop.stopped_epoch, stop.stopped_batch) == (1, 3)
    assert "NaN or inf values in the input data" in stop.explanation


def test_nan_weights_behind_a_finite_loss_stop_after_the_epoch():
    """With a loss without weight penalty the NaN weights never show in the loss: the
    first Dense layer's outputs are NaN, so no LIF spikes and the logits are the head's
    bias. The epoch-end weight check catches it; without it training runs on."""
    x, y = spiking_data_with_nan()
    unchecked = spiking_model(kt.losses.SDTLoss())
    history = unchecked.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0,
                            callbacks=[TerminateOnNonFiniteLoss(check_weights=False)])
    assert np.isfinite(history.history["loss"]).all() and len(history.history["loss"]) == 2
    assert not np.isfinite(unchecked.get_weights()[0]).all()

    stop = TerminateOnNonFiniteLoss()
    history = spiking_model(kt.losses.SDTLoss()).fit(
        x, y, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 1
    assert (stop.stopped_epoch, stop.stopped_batch) == (1, None)
    assert stop.explanation.startswith("training stopped: after epoch 1 (counting from 1)")
    assert "hold NaN or inf" in stop.explanation and "emits no spike" in stop.explanation
    assert all(cause in stop.explanation for cause in CAUSES[:2])
