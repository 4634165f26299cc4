import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.analysis import firing_rates, lif_layers, synaptic_operations
from tests.analysis.models import data, dyadic, mlp_snn, set_dyadic_weights


def lif_reference(current, tau=2.0, v_th=1.0):
    """NumPy LIF (docs/method.md, LIF neuron; hard reset to 0) over axis 1, float64."""
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


# ------------------------------------------------------------- a hand-counted network
# Input (B=3, T=3, 2 neurons) -> LIF "a" (tau 2, threshold 1, reset to 0) -> Dense without
# bias, kernel diag(1.5, 0.5) -> LIF "b" -> Dense head. Spikes by hand (v_t = v_{t-1}/2 + x_t,
# a spike when v_t > 1, then v_t = 0):
#   a, sample 0: neuron 0 x = 1.5, 0, 1.2 -> v 1.5*, 0, 1.2*          spikes 1 0 1
#                neuron 1 x = 0.6, 0.8, 0 -> v 0.6, 0.3 + 0.8 = 1.1*, 0 spikes 0 1 0
#      sample 1: neuron 0 x = 0.9 (x3)    -> v 0.9, 0.45 + 0.9*, 0.9    spikes 0 1 0
#                neuron 1 x = 0 (x3), and sample 2 is all zeros          no spike
#   a per timestep: 1, 2, 1 spikes of 3 x 2 slots -> 1/6, 2/6, 1/6; mean 4/18.
#   b input = 1.5 a_0 and 0.5 a_1: sample 0 neuron 0 1.5, 0, 1.5 -> spikes 1 0 1; neuron 1
#   0, 0.5, 0 -> none; sample 1 neuron 0 0, 1.5, 0 -> spike at t = 1.
#   b per timestep: 1, 1, 1 spikes -> 1/6 each; mean 3/18.
HAND_X = np.array([[[1.5, 0.6], [0.0, 0.8], [1.2, 0.0]],
                   [[0.9, 0.0], [0.9, 0.0], [0.9, 0.0]],
                   [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], "float32")
HAND_RATES = {"a": 4 / 18, "b": 3 / 18}
HAND_PER_T = {"a": [1 / 6, 2 / 6, 1 / 6], "b": [1 / 6, 1 / 6, 1 / 6]}


def _hand_layers():
    return dict(a=kt.LIF(name="a"), b=kt.LIF(name="b"),
                fc=kt.TimeDistributed(keras.layers.Dense(2, use_bias=False)),
                head=kt.TimeDistributed(keras.layers.Dense(1)))


class HandSubclassed(keras.Model):
    def __init__(self):
        super().__init__()
        layers = _hand_layers()
        # Attributes in another order than the calls: the rates follow the calls.
        self.head, self.b, self.fc, self.a = (layers[k] for k in ("head", "b", "fc", "a"))

    def call(self, x):
        return self.head(self.b(self.fc(self.a(x))))


def hand_model(kind):
    if kind == "subclassed":
        model = HandSubclassed()
        model(HAND_X)
        fc = model.fc
    else:
        layers = _hand_layers()
        fc = layers["fc"]
        stack = [keras.Input((3, 2)), layers["a"], fc, layers["b"], layers["head"]]
        if kind == "sequential":
            model = keras.Sequential(stack)
        else:
            h = stack[0]
            for layer in stack[1:]:
                h = layer(h)
            model = keras.Model(stack[0], h)
    fc.layer.kernel.assign(np.diag([1.5, 0.5]).astype("float32"))
    return model


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed"])
def test_rates_equal_a_hand_count(kind):
    model = hand_model(kind)
    y = np.zeros(3, "int32")
    rates = firing_rates(model, (HAND_X, y), batch_size=2)  # the last batch is partial
    assert list(rates) == ["a", "b"]
    assert rates == pytest.approx(HAND_RATES, rel=1e-12)
    per_t = firing_rates(model, (HAND_X, y), per_timestep=True, batch_size=3)
    for name, expected in HAND_PER_T.items():
        np.testing.assert_allclose(per_t[name], expected, rtol=1e-12)


def test_lif_hidden_in_a_custom_layer_or_called_twice_is_a_type_error():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = kt.LIF(name="inner")

        def call(self, x):
            return self.inner(x)

        def compute_output_shape(self, shape):
            return shape

    inputs = keras.Input((3, 2))
    hidden = keras.Model(inputs, Block()(inputs))
    assert [layer.name for layer in lif_layers(hidden)] == ["inner"]
    with pytest.raises(TypeError, match="'inner'.*not layers of"):
        firing_rates(hidden, (HAND_X, np.zeros(3)))

    shared = kt.LIF(name="shared")
    inputs = keras.Input((3, 2))
    twice = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(TypeError, match="'shared'.*more than once"):
        firing_rates(twice, (HAND_X, np.zeros(3)))


def test_synaptic_operations_through_add_and_not_for_sequential():
    """Two LIF layers (2 and 2 neurons) added and fed to Dense(3) over T = 3: each counts
    its own operand, rate x 2 neurons x 3 outputs x 3 timesteps."""
    inputs = keras.Input((3, 2))
    s1, s2 = kt.LIF(name="s1")(inputs), kt.LIF(name="s2")(inputs)
    summed = keras.layers.Add(name="add")([s1, s2])
    out = kt.TimeDistributed(keras.layers.Dense(3), name="fc")(summed)
    sops = synaptic_operations(keras.Model(inputs, out), {"s1": 0.5, "s2": 0.25})
    assert sops["targets"] == {"s1": ["fc"], "s2": ["fc"]}
    assert sops["per_layer"] == pytest.approx({"s1": 0.5 * 18, "s2": 0.25 * 18})
    assert sops["total"] == pytest.approx(0.75 * 18)
    with pytest.raises(ValueError, match="functional model"):
        synaptic_operations(hand_model("sequential"), HAND_RATES)
