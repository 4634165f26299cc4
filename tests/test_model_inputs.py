"""A SpikingModel fed the wrong number of timesteps, frame size or rank raises one clear
ValueError on every backend and entry point, also after its steps have been compiled
(where JAX used to run on silently and TensorFlow failed inside TimeDistributed)."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from tests.tiny_training import C, T, data, tiny_model


@pytest.fixture(scope="module")
def trained_model():
    model = tiny_model(seed=0)
    model.compile(optimizer="sgd", loss=kt.losses.TRTLoss(lam=1e-3))
    x, y = data(4)
    # compile and run every step function once with the right shape first
    model.fit(x, y, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    return model


BAD_INPUTS = {
    "timesteps": ((2, 6, 6, 6, 2),
                  r"input '\w+' has shape \(2, 6, 6, 6, 2\), expected "
                  r"\(batch, 4, 6, 6, 2\): 6 timesteps \(axis 1\), but the model was built "
                  r"for T=4"),
    "frame": ((2, T, 5, 5, 2),
              r"has shape \(2, 4, 5, 5, 2\), expected \(batch, 4, 6, 6, 2\): frames of shape "
              r"\(5, 5, 2\), but the model expects \(6, 6, 2\)"),
    "rank": ((2, 6, 6, 2),
             r"has shape \(2, 6, 6, 2\), expected \(batch, 4, 6, 6, 2\): rank 4, but the "
             r"model expects rank 5"),
}


def _run(model, entry, x):
    y = np.zeros(len(x), "int32")
    if entry == "call":
        return model(x)
    if entry == "fit_dataset":
        import tensorflow as tf
        return model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(2), verbose=0)
    method = getattr(model, entry)
    if entry in ("predict", "predict_on_batch"):
        return method(x, **({"verbose": 0} if entry == "predict" else {}))
    return method(x, y, **({"verbose": 0} if entry in ("fit", "evaluate") else {}))


@pytest.mark.parametrize("entry", ["call", "predict", "fit", "evaluate", "fit_dataset",
                                   "train_on_batch", "test_on_batch", "predict_on_batch"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_wrong_input_shape_gives_one_clear_error(trained_model, entry, case):
    shape, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        _run(trained_model, entry, np.zeros(shape, "float32"))


def test_right_shape_still_runs_after_the_errors(trained_model):
    x, _ = data(2)
    assert tuple(trained_model.predict(x, verbose=0).shape) == (2, T, C)


def test_symbolic_call_with_wrong_timesteps_is_refused():
    model = tiny_model(seed=1)
    with pytest.raises(ValueError, match=r"3 timesteps \(axis 1\), but the model was built for T=4"):
        model(keras.Input((3, 6, 6, 2)))
