import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.analysis import fisher_information, information_centroid
from tests.analysis.models import data, mlp_snn

T, D, C = 3, 5, 4


def linear_model():
    """Per-timestep logits O_t = x_t W + b: the gradient of the prefix CE is closed-form."""
    inputs = keras.Input((T, D))
    outputs = kt.TimeDistributed(keras.layers.Dense(C, bias_initializer="random_normal"))(inputs)
    return kt.SpikingModel(inputs, outputs)


def hand_fisher(w, b, batches, divisor):
    """NumPy: z_t = mean_{k<t} x_k W + b; dCE/dW = xbar_t^T (softmax(z_t) - onehot) / B."""
    fi = np.zeros(T)
    for x, y in batches:
        x = x.astype(np.float64)
        onehot = np.eye(C)[y]
        for t in range(1, T + 1):
            xbar = x[:, :t].mean(axis=1)
            z = xbar @ w + b
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = (p - onehot) / len(x)
            fi[t - 1] += (np.sum((xbar.T @ g) ** 2) + np.sum(g.sum(axis=0) ** 2)) / divisor
    return fi


def test_fisher_of_linear_model_equals_hand_computation():
    model = linear_model()
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (24, T, D)).astype("float32")
    y = rng.integers(0, C, 24).astype("int32")
    w, b = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in model.trainable_variables)
    batches = [(x[:8], y[:8]), (x[8:16], y[8:16]), (x[16:], y[16:])]

    result = fisher_information(model, (x, y), batches=2, batch_size=8)
    expected = hand_fisher(w, b, batches[:2], divisor=100.0)
    assert result["fisher"].shape == (T,)
    np.testing.assert_allclose(result["fisher"], expected, rtol=2e-5)
    assert result["batches"] == 2 and result["samples"] == 16
    assert result["ic"] == pytest.approx(np.sum(np.arange(1, T + 1) * expected) / expected.sum(),
                                         rel=2e-5)

    # divisor="batches" averages over the batches used; one-hot labels work as well.
    onehot = np.eye(C, dtype="float32")[y]
    result = fisher_information(model, (x, onehot), batches=None, batch_size=8,
                                divisor="batches", per_variable=True)
    np.testing.assert_allclose(result["fisher"], hand_fisher(w, b, batches, divisor=3),
                               rtol=2e-5)
    per_var = result["per_variable"]
    assert len(per_var) == 2
    np.testing.assert_allclose(sum(per_var.values()), result["fisher"], rtol=1e-10)


def test_spiking_model_fisher_has_T_entries_and_ic_in_range():
    model = mlp_snn(T=4, bn=True)
    x, y = data(32, T=4)
    result = fisher_information(model, (x, y), batches=2, batch_size=16, verbose=1)
    fisher = result["fisher"]
    assert fisher.shape == (4,)
    assert np.all(np.isfinite(fisher)) and np.all(fisher >= 0) and fisher.sum() > 0
    assert 1.0 <= result["ic"] <= 4.0
    # Inference mode: the BatchNorm moving statistics are untouched.
    moving = model.get_layer("bn1").moving_mean
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(moving), 0.0)


def test_information_centroid():
    assert information_centroid([1.0, 0.0, 0.0]) == 1.0
    assert information_centroid([0.0, 0.0, 2.0]) == 3.0
    assert information_centroid([1.0, 1.0, 1.0, 1.0]) == 2.5
    assert np.isnan(information_centroid([0.0, 0.0]))


def test_argument_errors():
    model = linear_model()
    x = np.zeros((4, T, D), "float32")
    with pytest.raises(ValueError, match="divisor"):
        fisher_information(model, (x, np.zeros(4, "int32")), divisor=0)
    with pytest.raises(ValueError, match="labels must lie"):
        fisher_information(model, (x, np.full(4, C, "int32")))


class Passes:
    """A loader that yields other batches on every pass (as a reshuffling DataLoader)."""

    def __init__(self, passes):
        self.passes, self.started = passes, 0

    def __iter__(self):
        batches = self.passes[self.started % len(self.passes)]
        self.started += 1
        return iter(batches)


def _split(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def test_each_prefix_length_gets_a_fresh_pass_over_the_data_as_the_reference():
    model = linear_model()
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (3 * 12, T, D)).astype("float32")
    y = rng.integers(0, C, 36).astype("int32")
    w, b = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in model.trainable_variables)
    passes = [_split(x[12 * k:12 * (k + 1)], y[12 * k:12 * (k + 1)], 4) for k in range(3)]

    loader = Passes(passes)
    result = fisher_information(model, loader, batches=2)
    assert loader.started == T and result["stream"] == "per_prefix"
    # FI(t) comes from the first 2 batches of the t-th pass, divided by 100.
    expected = [hand_fisher(w, b, passes[t][:2], 100.0)[t] for t in range(T)]
    np.testing.assert_allclose(result["fisher"], expected, rtol=2e-5)
    assert result["batches"] == 2 and result["samples"] == 8

    loader = Passes(passes)
    shared = fisher_information(model, loader, batches=2, stream="shared")
    assert loader.started == 1
    np.testing.assert_allclose(shared["fisher"], hand_fisher(w, b, passes[0][:2], 100.0),
                               rtol=2e-5)


def test_shuffled_arrays_get_a_new_permutation_per_prefix_length():
    model = linear_model()
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (10, T, D)).astype("float32")
    y = rng.integers(0, C, 10).astype("int32")
    w, b = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in model.trainable_variables)
    result = fisher_information(model, (x, y), batches=None, batch_size=4, shuffle=True,
                                seed=7, divisor="batches")
    orders = np.random.default_rng(7)
    expected = []
    for t in range(T):
        order = orders.permutation(10)
        expected.append(hand_fisher(w, b, _split(x[order], y[order], 4), 3)[t])
    np.testing.assert_allclose(result["fisher"], expected, rtol=2e-5)


def test_defaults_are_the_reference_protocol():
    import inspect

    from keras_trt.callbacks import FisherInformationCallback

    for fn in (fisher_information, FisherInformationCallback.__init__):
        params = inspect.signature(fn).parameters
        assert params["batches"].default == 101       # steps 0..100
        assert params["divisor"].default == 100.0     # although 101 batches are used
        assert params["batch_size"].default == 64
        assert params["stream"].default == "per_prefix"
    with pytest.raises(ValueError, match="stream"):
        fisher_information(linear_model(), (np.zeros((4, T, D), "float32"),
                                            np.zeros(4, "int32")), stream="fresh")
