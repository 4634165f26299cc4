"""`keras_trt.SpikingModel` used both ways in one process, in either order: subclassed
(`class MySNN(kt.SpikingModel)`) and functional (`kt.SpikingModel(inputs, outputs)`).

Which use comes first matters (Keras rewrites a class's bases the first time a subclass of
`keras.Model` is built functionally), so each order runs in a fresh interpreter.
"""

import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = r'''
import json, os, pickle, sys, tempfile, zipfile
import numpy as np, keras
import keras_trt as kt
from tests import reference

ops = keras.ops
T, C = 3, 4
LAM, DECAY, ETA = 0.5, 0.25, 0.05
rng = np.random.default_rng(0)
X = rng.uniform(0.0, 2.0, (6, T, 5)).astype("float32")
Y = rng.integers(0, C, 6)


class SubclassedSNN(kt.SpikingModel):
    def __init__(self, hidden, units, **kwargs):   # two positional arguments, not tensors
        super().__init__(**kwargs)
        self.hidden = kt.TimeDistributed(keras.layers.Dense(hidden, use_bias=False))
        self.bn = kt.TemporalBatchNorm()
        self.lif = kt.LIF()
        self.head = kt.TimeDistributed(keras.layers.Dense(units))

    def call(self, x, training=None):
        return self.head(self.lif(self.bn(self.hidden(x), training=training)))


class DeeperSNN(SubclassedSNN):          # a subclass of a subclass
    def call(self, x, training=None):
        return 2.0 * super().call(x, training=training)


class FunctionalSubclass(kt.SpikingModel):  # a subclass built from inputs and outputs
    pass


class ForwardingSubclass(kt.SpikingModel):  # its own constructor passes them on
    def __init__(self, inputs, outputs, note="", **kwargs):
        super().__init__(inputs, outputs, **kwargs)
        self.note = note


def functional_graph():
    inputs = keras.Input((T, 5))
    h = kt.TimeDistributed(keras.layers.Dense(8, use_bias=False), name="hidden")(inputs)
    h = kt.LIF(name="lif")(kt.TemporalBatchNorm(name="bn")(h))
    return inputs, kt.TimeDistributed(keras.layers.Dense(C), name="head")(h)


def check_one_step_logs_data_term_plus_penalty(model):
    """SGD(0): the logged training loss == NumPy data term + NumPy TRT penalty."""
    model(X[:1])                                                  # builds a subclass
    model.compile(optimizer=keras.optimizers.SGD(0.0),
                  loss=kt.losses.TRTLoss(eta=ETA, lam=LAM, decay=DECAY))
    weights = [ops.convert_to_numpy(v) for v in model.penalized_variables()]
    assert sorted(w.shape for w in weights) == [(5, 8), (8,), (8, C)], \
        [w.shape for w in weights]
    logged = model.fit(X, Y, batch_size=len(X), shuffle=False, verbose=0).history["loss"][0]
    logits = ops.convert_to_numpy(model(X, training=True))        # lr 0: same weights
    penalty = reference.trt_penalty(weights, T, LAM, DECAY, 1e-5)
    assert penalty > 0.01
    expected = reference.trt_data_loss(logits, Y, ETA) + penalty
    np.testing.assert_allclose(logged, expected, rtol=1e-5)


def check_subclassed():
    for cls in (SubclassedSNN, DeeperSNN):
        model = cls(8, C, name=cls.__name__.lower())
        assert type(model) is cls, type(model)
        check_one_step_logs_data_term_plus_penalty(model)


def check_functional(tmp):
    keras.utils.set_random_seed(3)
    model = kt.SpikingModel(*functional_graph(), name="functional")
    assert isinstance(model, kt.SpikingModel), type(model)
    assert type(model).__name__ == "SpikingModel", type(model)
    check_one_step_logs_data_term_plus_penalty(model)
    expected = ops.convert_to_numpy(model(X))

    path = os.path.join(tmp, "functional.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert (config["class_name"], config["registered_name"], config["module"]) == \
        ("SpikingModel", "keras_trt>SpikingModel", "keras_trt.training"), config
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kt.SpikingModel), type(loaded)
    assert isinstance(loaded.trt_loss(), kt.losses.TRTLoss)
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(X)), expected)

    revived = kt.SpikingModel.from_config(model.get_config())
    clone = keras.models.clone_model(model)
    for copy in (revived, clone):
        assert isinstance(copy, kt.SpikingModel), type(copy)
        assert [l.name for l in copy.layers[1:]] == [l.name for l in model.layers[1:]]
        copy.set_weights(model.get_weights())
        np.testing.assert_array_equal(ops.convert_to_numpy(copy(X)), expected)
    unpickled = pickle.loads(pickle.dumps(model))
    assert isinstance(unpickled, kt.SpikingModel), type(unpickled)
    np.testing.assert_array_equal(ops.convert_to_numpy(unpickled(X)), expected)

    sub = FunctionalSubclass(*functional_graph())
    assert isinstance(sub, FunctionalSubclass) and isinstance(sub, kt.SpikingModel)
    assert isinstance(keras.models.clone_model(sub), FunctionalSubclass)
    forwarding = ForwardingSubclass(*functional_graph(), note="kept")
    assert isinstance(forwarding, ForwardingSubclass) and forwarding.note == "kept"
    check_one_step_logs_data_term_plus_penalty(forwarding)


tmp = tempfile.mkdtemp()
for step in sys.argv[1]:
    check_subclassed() if step == "S" else check_functional(tmp)
# neither use may leave the classes changed for the other
assert kt.SpikingModel.__bases__ == (keras.Model,), kt.SpikingModel.__bases__
assert SubclassedSNN.__bases__ == (kt.SpikingModel,), SubclassedSNN.__bases__
assert DeeperSNN.__bases__ == (SubclassedSNN,), DeeperSNN.__bases__
for cls in (FunctionalSubclass, ForwardingSubclass):
    assert cls.__bases__ == (kt.SpikingModel,), cls.__bases__
print("OK", sys.argv[1])
'''


def test_subclassed_and_functional_spiking_models_in_either_order():
    """Each order (S: subclassed, F: functional) in its own fresh process, both at once."""
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), OMP_NUM_THREADS="1")
    runs = {order: subprocess.Popen([sys.executable, "-c", _SCRIPT, order], cwd=ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for order in ("SFS", "FSF")}
    failures = []
    for order, run in runs.items():
        try:
            out, err = run.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            run.kill()
            out, err = run.communicate()
            failures.append(f"{order}: timed out")
            continue
        if run.returncode != 0 or f"OK {order}" not in out:
            failures.append(f"{order}: exit {run.returncode}\n{err[-2500:]}")
    if failures:
        pytest.fail("\n\n".join(failures))
