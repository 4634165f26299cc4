"""Each Keras internal that keras_trt/_keras_compat.py relies on, checked against the
installed Keras: a Keras upgrade that removes or changes one fails here, naming it."""

import importlib

import keras
import numpy as np
import pytest

import keras_trt._keras_compat as compat


def _broken(entry, detail):
    return (f"Keras {keras.__version__} no longer provides what "
            f"keras_trt/_keras_compat.py's `{entry}` relies on: {detail}. Update that "
            "entry (and its users) for this Keras.")


def _functional_model():
    inputs = keras.Input((3,))
    return inputs, keras.layers.Dense(2)(inputs)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_functional_is_the_class_of_functional_models():
    inputs, outputs = _functional_model()
    assert isinstance(keras.Model(inputs, outputs), compat.Functional), _broken(
        "Functional", "keras.Model(inputs, outputs) is not an instance of "
        "keras.src.models.functional.Functional")
    assert not isinstance(_Subclassed(), compat.Functional), _broken(
        "Functional", "a subclassed model is an instance of Functional")


def test_functional_init_arguments_recognises_inputs_and_outputs():
    inputs, outputs = _functional_model()
    found = (compat.functional_init_arguments((inputs, outputs), {}),
             compat.functional_init_arguments((), {"inputs": inputs, "outputs": outputs}),
             compat.functional_init_arguments((), {"name": "m"}))
    assert found == (True, True, False), _broken(
        "functional_init_arguments", f"expected (True, True, False), got {found}")


def test_backend_optimizer_module_prefix_names_keras_backends():
    prefix = compat.BACKEND_OPTIMIZER_MODULE_PREFIX
    try:
        importlib.import_module(prefix + keras.backend.backend())
    except ImportError as error:
        pytest.fail(_broken("BACKEND_OPTIMIZER_MODULE_PREFIX", f"no module {prefix!r} + "
                            f"the backend name ({error})"))
    module = keras.saving.serialize_keras_object(keras.optimizers.Adam())["module"]
    assert module == "keras.optimizers" or module.startswith(prefix), _broken(
        "BACKEND_OPTIMIZER_MODULE_PREFIX", f"a serialized Adam names module {module!r}")
    if keras.backend.backend() == "torch":   # the case keras_trt.saved_compile fixes
        assert module.startswith(prefix), _broken(
            "BACKEND_OPTIMIZER_MODULE_PREFIX", f"torch's Adam is saved as {module!r}")


def _fit_epochs(model, **fit_kwargs):
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    history = model.fit(x, y, epochs=3, verbose=0, **fit_kwargs)
    return history.epoch


def test_set_initial_epoch_moves_the_first_epoch_of_fit():
    inputs, outputs = _functional_model()
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    compat.set_initial_epoch(model, 2)
    epochs = _fit_epochs(model)
    assert epochs == [2], _broken("set_initial_epoch", f"fit(epochs=3) after "
                                  f"set_initial_epoch(model, 2) ran epochs {epochs}")
    compat.set_initial_epoch(model, None)
    assert _fit_epochs(model) == [0, 1, 2], _broken(
        "set_initial_epoch", "set_initial_epoch(model, None) did not restore fit's start")


def test_metric_direction_is_read_by_keras_callbacks():
    assert compat.metric_direction(keras.metrics.MeanSquaredError()) == "down", _broken(
        "metric_direction", "MeanSquaredError has no direction 'down'")
    assert compat.metric_direction(keras.metrics.CategoricalAccuracy()) == "up", _broken(
        "metric_direction", "CategoricalAccuracy has no direction 'up'")
    metric = keras.metrics.MeanMetricWrapper(
        lambda y, p: keras.ops.mean(p, axis=-1), name="score")
    compat.set_metric_direction(metric, "up")
    inputs, outputs = _functional_model()
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", metrics=[metric])
    # Without a direction, EarlyStopping in "auto" mode refuses a metric it cannot rank.
    stop = keras.callbacks.EarlyStopping(monitor="score", mode="auto", patience=5)
    try:
        _fit_epochs(model, callbacks=[stop])
    except ValueError as error:
        pytest.fail(_broken("set_metric_direction", f"EarlyStopping ignored it ({error})"))


def test_optimizer_trainable_variables_are_those_it_was_built_for():
    variables = [keras.Variable(np.ones(2, "float32")), keras.Variable(np.ones(3, "float32"))]
    optimizer = keras.optimizers.Adam()
    optimizer.build(variables)
    found = compat.optimizer_trainable_variables(optimizer)
    assert [id(v) for v in found] == [id(v) for v in variables], _broken(
        "optimizer_trainable_variables", "the optimizer's variables are not those it "
        "was built for")
