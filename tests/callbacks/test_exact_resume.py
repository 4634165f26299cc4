"""ExactResume: a fit interrupted mid-epoch and fitted again ends bit-identical to an
uninterrupted fit (weights, optimizer, best epoch), with arrays and with tf.data input;
what it saves, and what it refuses."""

import json
import os

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.callbacks import ExactResume
from keras_trt.testing import SimulatedCrash

EPOCHS, BATCH = 4, 8


def build(seed=0):
    """A tiny SNN with everything a resume must carry: tdBN statistics, a Dropout seed
    generator, TRT's penalty, Adam with the per-epoch cosine schedule."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3, 5))
    h = kt.TimeDistributed(keras.layers.Dense(8))(inputs)
    h = kt.LIF()(kt.TemporalBatchNorm()(h))
    h = keras.layers.Dropout(0.25)(h)
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
    schedule = kt.schedules.PerEpochCosineDecay(0.05, EPOCHS, steps_per_epoch=5)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=kt.losses.TRTLoss(eta=0.05, lam=1e-3, decay=0.5))
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 2, (40, 3, 5)).astype("float32"), rng.integers(0, 3, 40)


def tf_dataset(x, y):
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    return ds.shuffle(40, seed=3, reshuffle_each_iteration=True).batch(BATCH)


# Where the interrupted fits stop: after batch 2 of epoch 3, mid-epoch as a killed run.
CRASH_AT = dict(epoch=2, batch=1)


def fit(directory, kind, extra=()):
    model = build()
    x, y = data()
    resume = ExactResume(directory, monitor="val_accuracy")
    kwargs = {"x": x, "y": y, "batch_size": BATCH, "shuffle": True} if kind == "arrays" \
        else {"x": resume.wrap_dataset(tf_dataset(x, y)), "shuffle": False}
    history = model.fit(epochs=EPOCHS, validation_data=(x[:16], y[:16]), verbose=0,
                        callbacks=[resume, *extra], **kwargs)
    return model, resume, history


def values(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted fit of each kind of input, run once per module."""
    runs = {}

    def get(kind):
        if kind not in runs:
            model, resume, _ = fit(tmp_path_factory.mktemp("full"), kind)
            runs[kind] = {"variables": values(model.variables),
                          "optimizer": values(model.optimizer.variables),
                          "best": resume.best, "best_epoch": resume.best_epoch,
                          "last_logs": resume.last_logs}
        return runs[kind]

    return get


@pytest.mark.parametrize("kind", ["arrays", "tf.data"])
def test_resumed_fit_is_bit_identical_to_uninterrupted(kind, tmp_path, uninterrupted):
    full = uninterrupted(kind)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "run", kind, extra=[SimulatedCrash(**CRASH_AT)])
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 2
    resumed, resume, history = fit(tmp_path / "run", kind)

    assert resume.initial_epoch == 2 and resume.resumed == 1
    assert len(history.history["loss"]) == EPOCHS - 2       # epochs 3 and 4 only
    for a, b in zip(full["variables"], values(resumed.variables)):   # seed states too
        np.testing.assert_array_equal(a, b)
    for a, b in zip(full["optimizer"], values(resumed.optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    assert resume.best == full["best"] and resume.best_epoch == full["best_epoch"]
    assert resume.last_logs == full["last_logs"]


def test_interruption_without_the_callback_is_not_exact(tmp_path, uninterrupted):
    """The check above can fail: resuming from the saved weights alone (Keras'
    BackupAndRestore restores no random state) ends elsewhere."""
    full = uninterrupted("arrays")
    x, y = data()
    model = build()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "keras"), delete_checkpoint=False)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[backup, SimulatedCrash(**CRASH_AT)])
    model = build()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[backup])
    assert any(not np.array_equal(a, b) for a, b in zip(full["variables"],
                                                        values(model.variables)))


class SetLogs(keras.callbacks.Callback):
    """Replaces the epoch's validation metrics with scripted values."""

    def __init__(self, scripted):
        super().__init__()
        self.scripted = scripted

    def on_epoch_end(self, epoch, logs=None):
        logs.update(self.scripted[epoch])


def test_best_epoch_uses_later_monitors_to_break_ties_and_saves_the_best_model(tmp_path):
    x, y = data()
    scripted = [{"val_acc": 0.5, "val_l": 2.0}, {"val_acc": 0.7, "val_l": 1.5},
                {"val_acc": 0.7, "val_l": 1.2}, {"val_acc": 0.7, "val_l": 1.3},
                {"val_acc": 0.6, "val_l": 0.1}]
    best_path = tmp_path / "models" / "best.weights.h5"      # a folder not there yet
    saved_at = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved_at[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    resume = ExactResume(tmp_path / "b", monitor=["val_acc", "val_l"], mode=["max", "min"],
                         best_filepath=best_path)
    model = build()
    model.fit(x, y, batch_size=BATCH, epochs=5, verbose=0,
              callbacks=[SetLogs(scripted), Snapshot(), resume])
    assert resume.best_epoch == 3 and resume.best == [0.7, 1.2]
    check = build()
    check.optimizer.build(check.trainable_variables)
    check.load_weights(best_path)
    for a, b in zip(check.get_weights(), saved_at[3]):
        np.testing.assert_array_equal(a, b)
    state = json.loads((tmp_path / "b" / "state.json").read_text())
    assert state["best_epoch"] == 3 and state["epoch"] == 5
    # One weights file, the one the state names (older ones are removed).
    assert sorted(p for p in os.listdir(tmp_path / "b") if p.endswith(".h5")) == \
        [state["weights"]]


def test_epoch_cut_short_by_a_nan_loss_is_not_saved(tmp_path):
    x, y = data()
    # A NaN in batch 3: the LIF's threshold comparison turns NaN potentials into no spikes,
    # so batch 3's loss is finite, but its gradients are NaN, and so are the weights and
    # TRT's weight penalty of batch 4.
    x[20] = np.nan
    model = build()
    resume = ExactResume(tmp_path / "b", monitor=None)
    with pytest.warns(UserWarning, match="epoch 1 stopped after 4 of 5 steps"):
        model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                  callbacks=[kt.callbacks.TerminateOnNonFiniteLoss(), resume])
    assert resume.read_state() is None and resume.epochs_completed == 0


def test_epoch_that_leaves_nan_weights_is_not_saved(tmp_path):
    x, y = data()
    x[20] = np.nan
    model = build()
    model.compile(optimizer="adam", loss=kt.losses.SDTLoss())   # no penalty: loss finite
    resume = ExactResume(tmp_path / "b", monitor=None)
    with pytest.warns(UserWarning, match="epoch 1 left NaN or inf weights"):
        history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                            callbacks=[resume])
    assert np.isfinite(history.history["loss"]).all()
    assert resume.read_state() is None


def test_refits_continue_or_refuse_and_leave_later_fits_alone(tmp_path):
    x, y = data()
    model = build()

    def resume(config):
        return ExactResume(tmp_path / "b", monitor=None, config=config)

    model.fit(x, y, epochs=2, verbose=0, callbacks=[resume({"lr": 0.05})])
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[resume({"lr": 0.05})])
    assert len(history.history["loss"]) == 1                   # epoch 3 only
    with pytest.raises(ValueError, match=r"other settings \(lr: 0.05 -> 0.1\)"):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[resume({"lr": 0.1})])
    with pytest.raises(ValueError, match=r"other settings \(lr: 0.05 -> None\)"):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[resume({"frames": "counts"})])
    # A setting added after the run was saved (a newer version records more) continues.
    history = model.fit(x, y, epochs=4, verbose=0,
                        callbacks=[resume({"lr": 0.05, "frames": "counts"})])
    assert len(history.history["loss"]) == 1                   # epoch 4 only
    # Keras keeps the resumed epoch on the model; a plain fit must not inherit it.
    assert len(model.fit(x, y, epochs=2, verbose=0).history["loss"]) == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="`mode` must be"):
        ExactResume("d", mode="largest")
    with pytest.raises(ValueError, match="one entry per monitored metric"):
        ExactResume("d", monitor=["a", "b"], mode=["min"])
    with pytest.raises(ValueError, match="best_filepath"):
        ExactResume("d", best_filepath="best.h5")
    with pytest.raises(TypeError, match="JSON"):
        ExactResume("d", config={"f": object()})
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        ExactResume("d").wrap_dataset(np.zeros(3))
    import tensorflow as tf
    with pytest.raises(ValueError, match="infinite"):
        ExactResume("d").wrap_dataset(tf.data.Dataset.range(3).repeat())
