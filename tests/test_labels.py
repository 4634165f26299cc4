"""Invalid class labels are refused, never turned into a silent loss of 0.

Eagerly (NumPy or eager tensors) the losses, the metrics and SpikingModel.fit/evaluate
raise a ValueError naming the bad values; inside a compiled step (values symbolic) the
rows with an invalid label give NaN.
"""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import to_numpy
from tests import reference
from tests.tiny_training import C, data, tiny_model
from tests.support import BACKEND

LOSSES = [kt.losses.SDTLoss(), kt.losses.TETLoss(lam=0.2), kt.losses.TRTLoss(eta=0.3)]
METRICS = [kt.metrics.TemporalAccuracy, kt.metrics.TemporalCrossEntropy]


# These tests check the losses' data terms; a TRTLoss computes one only where its caller
# promises to add the weight penalty (tests/test_training.py checks the TypeError
# otherwise).
pytestmark = pytest.mark.usefixtures("penalty_added_by_the_caller")


def logits(B=3, T_=4, C_=5, seed=0):
    return np.random.default_rng(seed).normal(0, 2, (B, T_, C_)).astype("float32")


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
@pytest.mark.parametrize("labels", [[7, -1, 2], [[7], [-1], [2]]], ids=["flat", "column"])
def test_loss_rejects_out_of_range_labels(loss, labels):
    with pytest.raises(ValueError, match=r"labels \[7, -1\] outside the 5 classes"):
        loss(np.array(labels), logits())


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
def test_loss_takes_python_lists_and_checks_them(loss):
    z = logits()
    np.testing.assert_allclose(float(to_numpy(loss([1, 4, 0], z))),
                               float(to_numpy(loss(np.array([1, 4, 0]), z))), rtol=1e-6)
    with pytest.raises(ValueError, match=r"labels \[7, -1\] outside the 5 classes"):
        loss([7, -1, 2], z)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
def test_loss_rejects_non_integer_labels(loss):
    with pytest.raises(ValueError, match=r"non-integer labels \[1.5\].*5 classes"):
        loss(np.array([1.5, 2.0, 0.0], "float32"), logits())


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
def test_loss_accepts_integral_float_labels(loss):
    y = np.array([1.0, 4.0, 0.0], "float32")
    z = logits()
    np.testing.assert_allclose(float(to_numpy(loss(y, z))),
                               float(to_numpy(loss(y.astype("int32"), z))), rtol=1e-6)


@pytest.mark.parametrize("row,why", [
    ([0.0, 0.0, 0.0, 0.0, 0.0], "sum"), ([1.5, -0.5, 0, 0, 0], "negative"),
    ([np.nan, 1.0, 0, 0, 0], "finite"), ([0.5, 0.2, 0, 0, 0], "sum"),
])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
def test_loss_rejects_rows_that_are_not_probabilities(loss, row, why):
    y = np.eye(5, dtype="float32")[[0, 1, 2]]
    y[1] = row
    with pytest.raises(ValueError, match=r"one-hot `y_true` row 1 .*5 classes"):
        loss(y, logits())


def test_loss_accepts_smoothed_labels():
    y = np.full((3, 5), 0.02, "float32")
    y[[0, 1, 2], [1, 4, 0]] = 0.92
    z = logits().astype("float64")
    log_p = reference.log_softmax(z.mean(1))
    expected = -(y * log_p).sum(-1).mean()
    np.testing.assert_allclose(float(to_numpy(kt.losses.SDTLoss()(y, z.astype("float32")))),
                               expected, rtol=1e-5)


@pytest.mark.parametrize("metric", METRICS)
def test_metrics_reject_out_of_range_labels(metric):
    with pytest.raises(ValueError, match=r"labels \[5\] outside the 5 classes"):
        metric().update_state(np.array([0, 5, 1]), logits())


def _compiled(fn):
    if BACKEND == "jax":
        import jax
        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, jit_compile=True)
    pytest.skip("torch has no symbolic tensors outside torch.compile (minutes to compile "
                "here); its in-step behaviour is covered by the SpikingModel test below")


@pytest.mark.parametrize("loss_cls", [kt.losses.SDTLoss, kt.losses.TETLoss,
                                      kt.losses.TRTLoss])
def test_compiled_loss_gives_nan_on_invalid_rows_only(loss_cls):
    loss = loss_cls(reduction=None)
    z = logits(B=4)
    y = np.array([1.0, 7.0, 2.5, 4.0], "float32")
    values = to_numpy(_compiled(lambda y_, z_: loss(y_, z_))(y, z))
    assert np.isnan(values[1]) and np.isnan(values[2])
    # the valid rows keep their values (compared with the eager loss on those rows alone)
    expected = to_numpy(loss(y[[0, 3]], z[[0, 3]]))
    np.testing.assert_allclose(values[[0, 3]], expected, rtol=1e-6)


def test_compiled_metric_gives_nan_on_invalid_rows():
    z = logits(B=4)
    y = np.array([1, 7, 2, 4], "int32")
    acc = to_numpy(_compiled(kt.metrics.temporal_accuracy)(y, z))
    assert np.isnan(acc[1])
    np.testing.assert_array_equal(acc[[0, 2, 3]],
                                  (z.mean(1).argmax(-1) == y)[[0, 2, 3]].astype("float32"))


def _compiled_model(seed=0):
    model = tiny_model(seed=seed)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=kt.losses.TRTLoss(lam=1e-3))
    return model


def _weights(model):
    return [to_numpy(v).copy() for v in model.trainable_variables]


@pytest.mark.parametrize("bad_row", [0, 6])
def test_spiking_model_fit_rejects_bad_numpy_labels_before_training(bad_row):
    x, y = data(8)
    y[bad_row] = C + 4
    model = _compiled_model()
    before = _weights(model)
    with pytest.raises(ValueError, match=rf"labels \[{C + 4}\] outside the {C} classes"):
        model.fit(x, y, batch_size=4, verbose=0)
    for w0, w1 in zip(before, _weights(model)):
        np.testing.assert_array_equal(w0, w1)


def test_spiking_model_checks_first_batch_of_a_tf_dataset_and_validation_data():
    import tensorflow as tf

    x, y = data(8)
    model = _compiled_model()
    bad = y.copy()
    bad[1] = -1
    ds = tf.data.Dataset.from_tensor_slices((x, bad)).batch(4)
    with pytest.raises(ValueError, match=r"labels \[-1\] outside"):
        model.fit(ds, verbose=0)
    with pytest.raises(ValueError, match=r"labels \[-1\] outside"):
        model.evaluate(ds, verbose=0)
    with pytest.raises(ValueError, match=r"labels \[-1\] outside"):
        model.fit(x, y, validation_data=(x, bad), verbose=0)
    with pytest.raises(ValueError, match=r"labels \[-1\] outside"):
        model.evaluate(x, bad, verbose=0)


def _generator(*batches, repeat=False):
    while True:
        yield from batches
        if not repeat:
            return


def test_spiking_model_checks_first_batch_of_a_python_generator():
    x, y = data(8)
    bad = y.copy()
    bad[5] = C
    message = rf"SpikingModel 'tiny': `y_true` holds labels \[{C}\] outside the {C} classes"
    model = _compiled_model()
    before = _weights(model)
    with pytest.raises(ValueError, match=message):
        model.fit(_generator((x, bad), (x, y)), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.evaluate(_generator((x, bad)), verbose=0)
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, validation_data=_generator((x, bad), repeat=True), verbose=0)
    for w0, w1 in zip(before, _weights(model)):
        np.testing.assert_array_equal(w0, w1)
    # the batch looked at is still trained on: the same step as on the arrays
    checked = _compiled_model(seed=1)
    reference_model = _compiled_model(seed=1)
    logged = checked.fit(_generator((x[:4], y[:4]), (x[4:], y[4:])), steps_per_epoch=2,
                         shuffle=False, verbose=0, validation_data=_generator((x, y)),
                         validation_steps=1).history
    expected = reference_model.fit(x, y, batch_size=4, shuffle=False, epochs=1, verbose=0,
                                   validation_data=(x, y)).history
    np.testing.assert_allclose(logged["loss"], expected["loss"], rtol=1e-6)
    np.testing.assert_allclose(logged["val_loss"], expected["val_loss"], rtol=1e-6)
    for w0, w1 in zip(_weights(reference_model), _weights(checked)):
        np.testing.assert_allclose(w0, w1, rtol=1e-6, atol=1e-7)


def test_spiking_model_step_with_invalid_labels_logs_nan_and_terminate_on_nan_stops():
    """Labels the first-batch check cannot see (here the second batch of a Python
    generator) reach the training step, where every backend logs NaN rather than a
    plausible loss."""
    x, y = data(8)
    bad = y.copy()
    bad[2] = C
    model = _compiled_model()
    history = model.fit(_generator((x, y), (x, bad), repeat=True), steps_per_epoch=2,
                        epochs=3, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.TerminateOnNaN()]).history
    assert len(history["loss"]) == 1 and np.isnan(history["loss"][0])
    assert np.isnan(history["accuracy"][0])


def test_the_eager_check_is_public_in_losses_and_its_former_home_warns():
    with pytest.raises(ValueError, match=r"labels \[5\] outside the 5 classes"):
        kt.losses.check_label_values(np.array([0, 5]), 5, "labels")
    import keras_trt.labels
    with pytest.warns(DeprecationWarning, match="keras_trt.losses.check_label_values"):
        assert keras_trt.labels.check_label_values is kt.losses.check_label_values
    with pytest.warns(DeprecationWarning, match="keras_trt.labels.class_targets"):
        assert callable(keras_trt.labels.class_targets)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        getattr(keras_trt.labels, "missing")
