import keras
import numpy as np
import pytest

import keras_trt as kt
from tests import reference
from tests.gradients import grad

GRID = np.linspace(-3.0, 3.0, 241).astype("float32")

CASES = [
    (kt.surrogates.Triangle(1.0), lambda u: reference.triangle_grad(u, 1.0)),
    (kt.surrogates.Triangle(0.5), lambda u: reference.triangle_grad(u, 0.5)),
    (kt.surrogates.Triangle(2.0), lambda u: reference.triangle_grad(u, 2.0)),
    (kt.surrogates.Sigmoid(4.0), lambda u: reference.sigmoid_grad(u, 4.0)),
    (kt.surrogates.ATan(2.0), lambda u: reference.atan_grad(u, 2.0)),
]


@pytest.mark.parametrize("surrogate,expected_grad", CASES, ids=lambda c: repr(c))
def test_forward_is_exact_heaviside_and_gradient_is_the_formula(surrogate, expected_grad):
    spikes = keras.ops.convert_to_numpy(surrogate(keras.ops.convert_to_tensor(GRID)))
    np.testing.assert_array_equal(spikes, (GRID > 0).astype("float32"))
    upstream = np.linspace(0.5, 1.5, GRID.size).astype("float32")
    _, (g,) = grad(lambda u: keras.ops.sum(surrogate(u) * keras.ops.convert_to_tensor(upstream)),
                  GRID)
    np.testing.assert_allclose(g, upstream * expected_grad(GRID.astype("float64")),
                               rtol=1e-6, atol=1e-6)


def test_zero_does_not_fire():
    out = kt.surrogates.Triangle()(keras.ops.zeros((3,)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), 0.0)


def test_get_by_name_instance_and_config():
    assert isinstance(kt.surrogates.get("Triangle"), kt.surrogates.Triangle)
    assert kt.surrogates.get("atan") == kt.surrogates.ATan()
    s = kt.surrogates.Sigmoid(alpha=3.0)
    assert kt.surrogates.get(s) is s
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert restored == s


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="surrogate.*atan.*sigmoid.*triangle"):
        kt.surrogates.get("rectangle")
    with pytest.raises(TypeError, match="surrogate"):
        kt.surrogates.get(3)


@pytest.mark.parametrize("make", [lambda: kt.surrogates.Triangle(0.0),
                                  lambda: kt.surrogates.Triangle(-1.0),
                                  lambda: kt.surrogates.Sigmoid(0.0),
                                  lambda: kt.surrogates.ATan(-2.0)])
def test_non_positive_width_rejected(make):
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        make()
