import keras
import numpy as np
import pytest

import keras_trt as kt
from tests import reference

ops = keras.ops


# These tests check the losses' data terms; a TRTLoss computes one only where its caller
# promises to add the weight penalty (tests/test_training.py checks the TypeError
# otherwise).
pytestmark = pytest.mark.usefixtures("penalty_added_by_the_caller")


def logits_and_labels(B=6, T=4, C=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2, (B, T, C)).astype("float32"), rng.integers(0, C, B)


LOSSES = [
    (kt.losses.SDTLoss(), reference.sdt_loss),
    (kt.losses.TETLoss(lam=1e-3, phi=1.0), lambda z, y: reference.tet_loss(z, y, 1e-3, 1.0)),
    (kt.losses.TETLoss(lam=0.3, phi=0.5), lambda z, y: reference.tet_loss(z, y, 0.3, 0.5)),
    (kt.losses.TETLoss(lam=0.0), lambda z, y: reference.tet_loss(z, y, 0.0)),
    (kt.losses.TRTLoss(eta=0.05), lambda z, y: reference.trt_data_loss(z, y, 0.05)),
    (kt.losses.TRTLoss(eta=0.5), lambda z, y: reference.trt_data_loss(z, y, 0.5)),
    (kt.losses.TRTLoss(eta=0.0), lambda z, y: reference.trt_data_loss(z, y, 0.0)),
]


@pytest.mark.parametrize("label_form", ["int", "int_column", "one_hot"])
@pytest.mark.parametrize("loss,expected", LOSSES, ids=lambda c: getattr(c, "name", ""))
def test_loss_equals_numpy(loss, expected, label_form):
    logits, labels = logits_and_labels()
    y = {"int": labels, "int_column": labels[:, None],
         "one_hot": np.eye(5, dtype="float32")[labels]}[label_form]
    value = float(ops.convert_to_numpy(loss(y, logits)))
    np.testing.assert_allclose(value, expected(logits.astype("float64"), labels), rtol=1e-5)


def test_losses_differ_from_each_other():
    logits, labels = logits_and_labels(seed=1)
    values = {float(ops.convert_to_numpy(l(labels, logits))) for l, _ in LOSSES[:2]}
    assert len(values) == 2


def test_float16_logits_computed_in_float32():
    logits, labels = logits_and_labels(seed=2)
    value = kt.losses.TRTLoss()(labels, ops.cast(logits, "float16"))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(float(ops.convert_to_numpy(value)),
                               reference.trt_data_loss(logits.astype("float16")
                                                       .astype("float64"), labels),
                               rtol=1e-4)


@pytest.mark.parametrize("loss", [kt.losses.SDTLoss(), kt.losses.TETLoss(), kt.losses.TRTLoss()])
def test_rank_2_logits_rejected(loss):
    with pytest.raises(ValueError, match="y_pred.*rank 3"):
        loss(np.array([0, 1]), np.zeros((2, 3), "float32"))


@pytest.mark.parametrize("loss", [kt.losses.SDTLoss(), kt.losses.TETLoss(), kt.losses.TRTLoss()])
def test_one_hot_with_wrong_class_count_rejected(loss):
    with pytest.raises(ValueError, match="one-hot `y_true` has 4 classes but `y_pred` has 5"):
        loss(np.eye(4, dtype="float32")[[0, 1]], np.zeros((2, 3, 5), "float32"))


@pytest.mark.parametrize("kwargs,match", [
    (dict(eta=-0.1), "eta"), (dict(eta=1.5), "eta"), (dict(lam=-1e-5), "lam"),
    (dict(decay=-0.1), "decay"), (dict(epsilon=-1e-5), "epsilon"),
    (dict(eta=float("nan")), "eta"),
])
def test_trt_hyperparameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=f"`{match}` must be"):
        kt.losses.TRTLoss(**kwargs)


def test_tet_lambda_validated():
    with pytest.raises(ValueError, match="`lam` must be in"):
        kt.losses.TETLoss(lam=2.0)


@pytest.mark.parametrize("loss", [kt.losses.SDTLoss(), kt.losses.TETLoss(lam=0.2, phi=0.7),
                                  kt.losses.TRTLoss(eta=0.1, lam=2e-5, decay=0.4, epsilon=0.01)])
def test_loss_serialization_round_trip(loss):
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()


def test_temporal_metrics():
    logits, labels = logits_and_labels(B=8, seed=3)
    acc = kt.metrics.TemporalAccuracy()
    acc.update_state(labels, logits)
    expected = (logits.mean(1).argmax(-1) == labels).mean()
    np.testing.assert_allclose(float(ops.convert_to_numpy(acc.result())), expected, rtol=1e-6)
    acc_onehot = kt.metrics.TemporalAccuracy()
    acc_onehot.update_state(np.eye(5, dtype="float32")[labels], logits)
    np.testing.assert_allclose(float(ops.convert_to_numpy(acc_onehot.result())), expected)
    ce = kt.metrics.TemporalCrossEntropy()
    ce.update_state(labels, logits)
    np.testing.assert_allclose(float(ops.convert_to_numpy(ce.result())),
                               reference.sdt_loss(logits.astype("float64"), labels), rtol=1e-5)
