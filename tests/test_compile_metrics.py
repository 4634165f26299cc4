"""`SpikingModel.compile(metrics=...)` with the metrics every Keras tutorial passes.

Keras resolves "accuracy" from the shapes of the labels and predictions; on per-timestep
logits (B, T, C) that gave a shape error, or, with one-hot labels and T == C, a wrong
number. A SpikingModel maps the accuracy names, classes, instances and functions to the
accuracy of the time-averaged logits (under the same names), refuses the other Keras
metrics with a message naming `kt.metrics.TimeAveraged`, and leaves metrics of its own
and outputs that are not per-timestep logits alone.

The model is one Dense layer with an identity kernel, so its logits are its inputs and
every expected value is computed from them in NumPy.
"""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import to_numpy

T = C = 3          # T == C: where Keras' accuracy gave a number instead of an error
B = 8


def identity_model(average=False):
    inputs = keras.Input((T, C))
    logits = kt.TimeDistributed(keras.layers.Dense(
        C, use_bias=False, kernel_initializer="identity"))(inputs)
    return kt.SpikingModel(inputs, kt.TimeAverage()(logits) if average else logits)


def logits_and_labels(seed=0):
    x = np.random.default_rng(seed).normal(0.0, 1.0, (B, T, C)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    return x, y


def time_averaged_accuracy(x, y):
    return float(np.mean(x.mean(axis=1).argmax(-1) == y))


def one_hot(y):
    return np.eye(C, dtype="float32")[y]


LABEL_FORMS = {"sparse": lambda y: y, "one_hot": one_hot}


def test_accuracy_with_one_hot_labels_and_as_many_timesteps_as_classes():
    """The silent case: Keras' CategoricalAccuracy broadcast over (B, T, C) gave a number."""
    x, y = logits_and_labels()
    model = identity_model()
    model.compile(loss=kt.losses.SDTLoss(), metrics=["accuracy"])
    results = model.evaluate(x, one_hot(y), verbose=0, return_dict=True)
    np.testing.assert_allclose(results["accuracy"], time_averaged_accuracy(x, y), rtol=1e-6)


@pytest.mark.parametrize("form", LABEL_FORMS)
def test_accuracy_names_report_the_time_averaged_accuracy_under_their_names(form):
    x, y = logits_and_labels()
    expected = time_averaged_accuracy(x, y)
    # Keras' per-timestep reading of the same logits differs: the test can tell them apart
    assert expected not in (0.0, 1.0, float(np.mean(x.argmax(-1) == y[:, None])))
    labels = LABEL_FORMS[form](y)
    names = ["accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy"]
    model = identity_model()
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kt.losses.SDTLoss(),
                  metrics=names)
    history = model.fit(x, labels, batch_size=B, epochs=1, shuffle=False, verbose=0,
                        validation_data=(x, labels)).history
    assert set(history) == {"loss", "val_loss", *names, *(f"val_{n}" for n in names)}
    for name in names:
        np.testing.assert_allclose(history[name][0], expected, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(history[f"val_{name}"][0], expected, rtol=1e-6,
                                   err_msg=name)


@pytest.mark.parametrize("form", LABEL_FORMS)
def test_keras_accuracy_classes_instances_and_functions_are_mapped(form):
    x, y = logits_and_labels(seed=1)
    expected = time_averaged_accuracy(x, y)
    assert expected not in (0.0, 1.0)
    model = identity_model()
    model.compile(loss=kt.losses.SDTLoss(), metrics=[
        keras.metrics.SparseCategoricalAccuracy(name="sparse_object"),
        keras.metrics.CategoricalAccuracy,
        keras.metrics.sparse_categorical_accuracy,
        "CategoricalAccuracy",
    ])
    results = model.evaluate(x, LABEL_FORMS[form](y), verbose=0, return_dict=True)
    names = ["sparse_object", "categorical_accuracy", "sparse_categorical_accuracy",
             "CategoricalAccuracy"]
    assert set(results) == {"loss", *names}
    for name in names:
        np.testing.assert_allclose(results[name], expected, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("metric", [
    "mse", "binary_accuracy", keras.metrics.AUC(), keras.metrics.Accuracy(),
    keras.metrics.SparseTopKCategoricalAccuracy(k=2), keras.metrics.F1Score,
    keras.metrics.top_k_categorical_accuracy,
], ids=lambda m: m if isinstance(m, str) else getattr(m, "__name__", type(m).__name__))
def test_other_keras_metrics_are_refused_with_the_fix(metric):
    model = identity_model()
    with pytest.raises(ValueError, match=r"per-timestep logits \(batch, time, classes\).*"
                                         r"kt\.metrics\.TimeAveraged"):
        model.compile(loss=kt.losses.SDTLoss(), metrics=["accuracy", metric])
    with pytest.raises(ValueError, match="TimeAveraged"):
        model.compile(loss=kt.losses.SDTLoss(), weighted_metrics=[metric])


def _mean_of_shapes(y_true, y_pred):
    """A metric of one's own: it sees the (B, T, C) logits as they are."""
    return keras.ops.ones_like(y_pred[:, 0, 0]) * float(len(y_pred.shape))


def test_time_averaged_wrapper_and_metrics_of_ones_own():
    x, y = logits_and_labels(seed=2)
    top2 = np.argsort(-x.mean(axis=1), axis=-1)[:, :2]
    expected_top2 = float(np.mean([label in row for label, row in zip(y, top2)]))
    assert 0.0 < expected_top2 < 1.0
    wrapped = kt.metrics.TimeAveraged(keras.metrics.SparseTopKCategoricalAccuracy(k=2))
    model = identity_model()
    model.compile(loss=kt.losses.SDTLoss(), metrics=[
        wrapped, keras.metrics.MeanMetricWrapper(_mean_of_shapes, name="rank"),
        kt.metrics.TemporalCrossEntropy()])
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert wrapped.name == "sparse_top_k_categorical_accuracy"
    np.testing.assert_allclose(results["sparse_top_k_categorical_accuracy"], expected_top2,
                               rtol=1e-6)
    assert results["rank"] == 3.0
    mean_logits = x.mean(axis=1)
    log_probs = mean_logits - np.log(np.exp(mean_logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(results["mean_logit_crossentropy"],
                               -log_probs[np.arange(B), y].mean(), rtol=1e-5)
    # it saves and loads as a compile metric does
    config = keras.saving.serialize_keras_object(wrapped)
    loaded = keras.saving.deserialize_keras_object(config)
    assert isinstance(loaded, kt.metrics.TimeAveraged)
    assert isinstance(loaded.metric, keras.metrics.SparseTopKCategoricalAccuracy)
    assert loaded.metric.k == 2 and loaded.name == wrapped.name


def test_time_averaged_refuses_keras_accuracy_and_non_metrics():
    with pytest.raises(ValueError, match="TemporalAccuracy"):
        kt.metrics.TimeAveraged("accuracy")
    with pytest.raises(ValueError, match="could not interpret|Could not interpret"):
        kt.metrics.TimeAveraged("no_such_metric")


def test_outputs_that_are_not_per_timestep_logits_keep_keras_metrics():
    x, y = logits_and_labels(seed=3)
    model = identity_model(average=True)          # (B, C): Keras' own metrics apply
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2)])
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(results["accuracy"], time_averaged_accuracy(x, y), rtol=1e-6)
    assert "sparse_top_k_categorical_accuracy" in results
    # no default accuracy on an output that is not (B, T, C): TemporalAccuracy needs it
    model = identity_model(average=True)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss"}
    assert to_numpy(model(x)).shape == (B, C)
