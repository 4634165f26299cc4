"""A SpikingModel with several per-timestep outputs: its default metric follows the
outputs (one accuracy each), per-output metric lists and dicts map as for one output, and
TRTLoss on several outputs adds the weight penalty once per step.

Each output is one Dense layer over the same input (kernels fixed below), so the logits
are known in NumPy and every logged number is checked against a hand computation.
"""

import keras
import numpy as np
import pytest

import keras_trt as kt
from tests import reference

T, C, B = 4, 3, 8


def two_output_model():
    inputs = keras.Input((T, C))
    a = kt.TimeDistributed(keras.layers.Dense(C, use_bias=False), name="a")(inputs)
    b = kt.TimeDistributed(keras.layers.Dense(C, use_bias=False), name="b")(inputs)
    model = kt.SpikingModel(inputs, [a, b])
    model.set_weights(KERNELS)
    return model


KERNELS = [np.eye(C, dtype="float32"),
           np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], "float32")]


def data(seed=0):
    x = np.random.default_rng(seed).normal(0.0, 1.0, (B, T, C)).astype("float32")
    return x, np.arange(B) % C


def accuracy(logits, y):
    return float(np.mean(logits.mean(axis=1).argmax(-1) == y))


def outputs(x):
    return [x @ kernel for kernel in KERNELS]


def test_default_metric_is_one_accuracy_per_output():
    x, y = data(seed=4)
    model = two_output_model()
    model.compile(optimizer=keras.optimizers.SGD(0.0),
                  loss=[kt.losses.TETLoss(), kt.losses.TETLoss()])
    history = model.fit(x, [y, y], batch_size=B, epochs=1, shuffle=False, verbose=0,
                        validation_data=(x, [y, y])).history
    expected = [accuracy(logits, y) for logits in outputs(x)]
    assert expected[0] != expected[1]
    for name, value in zip(("a", "b"), expected):
        np.testing.assert_allclose(history[f"{name}_accuracy"][0], value, rtol=1e-6)
        np.testing.assert_allclose(history[f"val_{name}_accuracy"][0], value, rtol=1e-6)
    data_terms = [reference.tet_loss(logits.astype("float64"), y, 1e-3, 1.0)
                  for logits in outputs(x)]
    np.testing.assert_allclose(history["loss"][0], sum(data_terms), rtol=1e-5)


@pytest.mark.parametrize("metrics", [
    {"b": ["acc", keras.metrics.CategoricalAccuracy()], "a": "accuracy"},
    ["accuracy", ["acc", "categorical_accuracy"]],
], ids=["dict", "list"])
def test_metrics_per_output_map_to_the_time_averaged_accuracy(metrics):
    x, y = data(seed=5)
    model = two_output_model()
    model.compile(loss=[kt.losses.SDTLoss(), kt.losses.SDTLoss()], metrics=metrics)
    results = model.evaluate(x, [y, np.eye(C)[y]], verbose=0, return_dict=True)
    expected_a, expected_b = (accuracy(logits, y) for logits in outputs(x))
    assert expected_a != expected_b
    np.testing.assert_allclose(results["a_accuracy"], expected_a, rtol=1e-6)
    np.testing.assert_allclose(results["b_acc"], expected_b, rtol=1e-6)
    np.testing.assert_allclose(results["b_categorical_accuracy"], expected_b, rtol=1e-6)


def test_trt_loss_on_two_outputs_adds_the_penalty_once():
    x, y = data(seed=2)
    model = two_output_model()
    lam, decay, epsilon = 0.5, 0.25, 1e-5
    losses = [kt.losses.TRTLoss(eta=0.05, lam=lam, decay=decay, epsilon=epsilon),
              kt.losses.TRTLoss(eta=0.3, lam=lam, decay=decay, epsilon=epsilon)]
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=losses)
    logged = model.fit(x, [y, y], batch_size=B, epochs=1, shuffle=False,
                       verbose=0).history["loss"][0]
    data_terms = [reference.trt_data_loss(logits.astype("float64"), y, eta)
                  for logits, eta in zip(outputs(x), (0.05, 0.3))]
    penalty = reference.trt_penalty(KERNELS, T, lam, decay, epsilon)
    assert penalty > 0.1
    np.testing.assert_allclose(logged, sum(data_terms) + penalty, rtol=1e-5)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(model.weight_penalty(T))),
                               penalty, rtol=1e-5)


def test_trt_losses_with_different_penalties_are_refused_at_compile():
    model = two_output_model()
    with pytest.raises(ValueError, match=r"2 TRTLoss objects with different penalty "
                                         r"settings.*lam=0\.5.*lam=0\.1"):
        model.compile(loss=[kt.losses.TRTLoss(lam=0.5), kt.losses.TRTLoss(lam=0.1)])
    # the data terms may differ (eta), and another loss may sit beside one TRTLoss
    model.compile(loss=[kt.losses.TRTLoss(eta=0.1), kt.losses.TRTLoss(eta=0.2)])
    model.compile(loss={"a": kt.losses.TRTLoss(), "b": kt.losses.TETLoss()})
    assert model.trt_loss() is model.loss["a"]
