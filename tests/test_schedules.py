"""PerEpochCosineDecay: PyTorch's CosineAnnealingLR stepped per epoch, as a Keras schedule,
and the tuner's use of it."""

import math

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.schedules import PerEpochCosineDecay


def rate(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_rate_is_constant_within_an_epoch_and_cosine_across_epochs():
    schedule = PerEpochCosineDecay(0.1, epochs=5, steps_per_epoch=4)
    steps = np.arange(24)
    # Independent of the implementation: epoch e = step // 4, rate = 0.05 (1 + cos(pi e / 5)).
    expected = 0.05 * (1 + np.cos(np.pi * (steps // 4) / 5))
    got = np.array([rate(schedule, int(s)) for s in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    assert got[0] == pytest.approx(0.1) and got[19] < got[15] and abs(got[20]) < 1e-9
    assert schedule.learning_rate_at_epoch(2) == pytest.approx(
        0.05 * (1 + math.cos(0.4 * math.pi)), rel=1e-12)


def test_epoch_boundary_is_exact_for_many_steps_per_epoch():
    # 299 epochs of 100000 steps and one step short of epoch 300: a float32 quotient
    # (29999999 / 100000 = 299.99999) would round up to epoch 300 and give rate 0.
    schedule = PerEpochCosineDecay(1.0, epochs=300, steps_per_epoch=100_000)
    step = keras.ops.convert_to_tensor(300 * 100_000 - 1, "int64" if keras.backend.backend()
                                       != "jax" else "int32")
    assert rate(schedule, step) == pytest.approx(0.5 * (1 + math.cos(math.pi * 299 / 300)),
                                                 rel=1e-5)


def test_initial_epoch_offsets_step_zero():
    schedule = PerEpochCosineDecay(1.0, epochs=4, steps_per_epoch=3, initial_epoch=2)
    assert rate(schedule, 0) == pytest.approx(0.5)          # epoch 2 of 4: cos(pi/2) = 0
    assert rate(schedule, 3) == pytest.approx(0.5 * (1 - math.sqrt(0.5)), rel=1e-6)


def test_optimizer_with_the_schedule_saves_and_reloads(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(PerEpochCosineDecay(0.01, 7, 5)), loss="mse")
    model.fit(np.ones((10, 3), "float32"), np.zeros((10, 2), "float32"), batch_size=2,
              epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    schedule = loaded.optimizer.get_config()["learning_rate"]
    assert schedule["config"]["epochs"] == 7 and schedule["config"]["steps_per_epoch"] == 5
    # 10 steps done = epoch 2 of 7.
    assert float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)) == pytest.approx(
        0.005 * (1 + math.cos(2 * math.pi / 7)), rel=1e-6)


@pytest.mark.parametrize("kwargs,needle", [
    ({"initial_learning_rate": 0.0, "epochs": 3, "steps_per_epoch": 2}, "initial_learning_rate"),
    ({"initial_learning_rate": 0.1, "epochs": 0, "steps_per_epoch": 2}, "epochs must be a positive integer"),
    ({"initial_learning_rate": 0.1, "epochs": 3, "steps_per_epoch": 2.5}, "steps_per_epoch"),
    ({"initial_learning_rate": 0.1, "epochs": 3, "steps_per_epoch": 2, "initial_epoch": -1},
     "initial_epoch"),
])
def test_bad_arguments_name_the_argument(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        PerEpochCosineDecay(**kwargs)


class RecordRate(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


@pytest.mark.parametrize("initial_epoch", [0, 2])
def test_tuner_fit_anneals_per_epoch_from_the_absolute_epoch(initial_epoch):
    keras_tuner = pytest.importorskip("keras_tuner")
    from keras_trt.tuning import TRTHyperModel

    def build():
        inputs = keras.Input((2, 3))
        h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(4))(inputs))
        return kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(2))(h))

    hypermodel = TRTHyperModel(build, learning_rate=0.02, seed=0)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 2, 3)).astype("float32"), rng.integers(0, 2, 10)
    record = RecordRate()
    # 10 samples in batches of 4: 3 steps per epoch; epochs initial_epoch..3 of 4.
    hypermodel.fit(hp, model, x, y, batch_size=4, epochs=4, initial_epoch=initial_epoch,
                   callbacks=[record], verbose=0)
    epochs = [e for e in range(initial_epoch, 4) for _ in range(3)]
    expected = [0.01 * (1 + math.cos(math.pi * e / 4)) for e in epochs]
    np.testing.assert_allclose(record.rates, expected, rtol=1e-6, atol=1e-9)
