import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.analysis import firing_rates, lif_layers, synaptic_operations
from tests.analysis.models import data, dyadic, mlp_snn, set_dyadic_weights


def lif_reference(current, tau=2.0, v_th=1.0):
    """NumPy LIF of SPEC 1.1 (hard reset to 0) over axis 1, float64."""
    u = np.zeros_like(current[:, 0], dtype=np.float64)
    spikes = []
    for t in range(current.shape[1]):
        u = u / tau + current[:, t]
        s = (u - v_th > 0).astype(np.float64)
        u = (1 - s) * u
        spikes.append(s)
    return np.stack(spikes, axis=1)


def explicit_spikes(model, x):
    """Spikes of lif1 and lif2 from an explicit NumPy forward of the dense and LIF layers."""
    def dense(name, h):
        w, b = (keras.ops.convert_to_numpy(v).astype(np.float64)
                for v in model.get_layer(name).trainable_variables)
        return h @ w + b

    s1 = lif_reference(dense("fc1", x.astype(np.float64)))
    s2 = lif_reference(dense("fc2", s1))
    return {"lif1": s1, "lif2": s2}


def test_rates_equal_mean_of_explicit_spikes():
    rng = np.random.default_rng(1)
    model = mlp_snn()
    set_dyadic_weights(model, rng)
    x = dyadic(rng, (20, 4, 6), denominator=4, low=-2, high=7)
    y = rng.integers(0, 3, 20)
    spikes = explicit_spikes(model, x)
    # The explicit forward through the model's own layers gives the same spikes.
    own = keras.ops.convert_to_numpy(
        model.get_layer("lif1")(model.get_layer("fc1")(x)))
    np.testing.assert_array_equal(own, spikes["lif1"])
    assert 0 < spikes["lif1"].mean() < 1 and 0 < spikes["lif2"].mean() < 1

    rates = firing_rates(model, (x, y), batch_size=8)  # 3 batches, the last partial
    assert list(rates) == ["lif1", "lif2"]
    for name, s in spikes.items():
        assert rates[name] == pytest.approx(s.mean(), rel=1e-12)

    per_t = firing_rates(model, (x, y), per_timestep=True, batch_size=32)
    for name, s in spikes.items():
        np.testing.assert_allclose(per_t[name], s.mean(axis=(0, 2)), rtol=1e-12)

    two = firing_rates(model, (x, y), steps=1, batch_size=8)
    assert two["lif1"] == pytest.approx(spikes["lif1"][:8].mean(), rel=1e-12)


def test_execution_order_not_name_order():
    model = mlp_snn(names=("z_first", "a_second"))
    rates = firing_rates(model, data(8), batch_size=8)
    assert list(rates) == ["z_first", "a_second"]
    assert [layer.name for layer in lif_layers(model)] == ["z_first", "a_second"]


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.fc1 = kt.TimeDistributed(keras.layers.Dense(8))
        self.lif_a = kt.LIF(name="lif_a")
        self.fc2 = kt.TimeDistributed(keras.layers.Dense(3))

    def call(self, x, training=None):
        return self.fc2(self.lif_a(self.fc1(x)))


def test_subclassed_model_rates():
    model = Subclassed()
    x, y = data(12)
    model(x)
    spikes = keras.ops.convert_to_numpy(model.lif_a(model.fc1(x)))
    rates = firing_rates(model, (x, y), batch_size=12)
    assert list(rates) == ["lif_a"]
    assert rates["lif_a"] == pytest.approx(spikes.mean(), rel=1e-6)
    assert "call" not in model.lif_a.__dict__  # the recorder removed itself


def test_tf_dataset_and_pydataset_inputs():
    x, y = data(16)
    model = mlp_snn()
    expected = firing_rates(model, (x, y), batch_size=16)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return x[8 * i:8 * i + 8], y[8 * i:8 * i + 8]

    got = firing_rates(model, Batches(), verbose=1)
    assert got == pytest.approx(expected, rel=1e-6)
    got = firing_rates(model, [(x[:8], y[:8]), (x[8:], y[8:])])
    assert got == pytest.approx(expected, rel=1e-6)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    assert firing_rates(model, ds) == pytest.approx(expected, rel=1e-6)


def test_synaptic_operations_definition(conv_model):
    model = conv_model
    rates = {"lif1": 0.5, "lif2": 0.25}
    sops = synaptic_operations(model, rates)
    # lif1 (6x6x4 spikes) -> avgpool -> conv2 3x3, 4->5, output 3x3x5, over T = 2.
    conv2_macs = 2 * (3 * 3 * 5) * (3 * 3 * 4)
    # lif2 (3x3x5 = 45 neurons) -> flatten -> Dense(3): fan-out 3 per neuron.
    head_macs = 2 * 45 * 3
    assert sops["targets"] == {"lif1": ["conv2"], "lif2": ["head"]}
    assert sops["per_layer"]["lif1"] == pytest.approx(0.5 * conv2_macs)
    assert sops["per_layer"]["lif2"] == pytest.approx(0.25 * 45 * 3 * 2)
    assert sops["per_layer"]["lif2"] == pytest.approx(0.25 * head_macs)
    assert sops["total"] == pytest.approx(0.5 * conv2_macs + 0.25 * head_macs)

    with pytest.raises(ValueError, match="not a LIF layer"):
        synaptic_operations(model, {"conv1": 0.1})


def test_no_lif_layer_is_an_error():
    inputs = keras.Input((4, 6))
    model = keras.Model(inputs, kt.TimeDistributed(keras.layers.Dense(3))(inputs))
    with pytest.raises(ValueError, match="no keras_trt.LIF"):
        firing_rates(model, data(4))
