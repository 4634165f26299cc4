import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.analysis import evaluate_loss, filter_normalize, loss_landscape, random_direction


@pytest.fixture(scope="module")
def model_and_data(conv_model):
    model = conv_model
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 3.0, (12, 2, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 3, 12).astype("int32")
    # Non-trivial BatchNorm statistics, so that inference mode matters.
    for name in ("bn1", "bn2"):
        bn = model.get_layer(name)
        bn.moving_mean.assign(rng.normal(0.2, 0.1, bn.moving_mean.shape).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.5, 1.5, bn.moving_variance.shape)
                                  .astype("float32"))
    return model, (x, y)


def snapshot(model):
    return [keras.ops.convert_to_numpy(v).tobytes() for v in model.variables]


def test_centre_is_model_loss_and_weights_restored(model_and_data):
    model, (x, y) = model_and_data
    before = snapshot(model)
    surface = loss_landscape(model, (x, y), steps=3, span=0.5, seed=1, batch_size=5,
                             verbose=1)
    assert snapshot(model) == before
    assert surface["loss"].shape == (3, 3) and surface["accuracy"].shape == (3, 3)
    np.testing.assert_allclose(surface["alphas"], [-0.5, 0.0, 0.5])
    # The settings to report with the surface: grid, samples per point, seed.
    assert (surface["steps"], surface["span"], surface["samples"], surface["seed"]) == (
        3, 0.5, 12, 1)
    model.compile(loss=kt.losses.SDTLoss(), metrics=[kt.metrics.TemporalAccuracy()])
    loss, acc = model.evaluate(x, y, batch_size=12, verbose=0)
    assert surface["loss"][1, 1] == pytest.approx(loss, rel=1e-5)
    assert surface["center"] == surface["loss"][1, 1]
    assert surface["accuracy"][1, 1] == pytest.approx(acc)
    assert np.all(np.isfinite(surface["loss"]))
    assert not np.allclose(surface["loss"], surface["loss"][1, 1])  # the surface varies
    # Same seed, same surface.
    again = loss_landscape(model, (x, y), steps=3, span=0.5, seed=1, batch_size=12)
    np.testing.assert_allclose(again["loss"], surface["loss"], rtol=1e-5)


def test_weights_restored_after_an_error(model_and_data):
    model, (x, y) = model_and_data
    before = snapshot(model)

    class Failing:
        calls = 0

        def __iter__(self):
            Failing.calls += 1
            if Failing.calls > 2:
                raise RuntimeError("boom")
            yield x, y

    with pytest.raises(RuntimeError, match="boom"):
        loss_landscape(model, Failing(), steps=3)
    assert snapshot(model) == before


def test_filter_normalised_directions_have_filter_norms(model_and_data):
    model, _ = model_and_data
    for ignore_1d in (True, False):
        direction = random_direction(model, seed=3, ignore_1d=ignore_1d)
        assert len(direction) == len(model.trainable_variables)
        for d, v in zip(direction, model.trainable_variables):
            w = keras.ops.convert_to_numpy(v).astype(np.float64)
            assert d.shape == w.shape
            if w.ndim == 1:  # biases and BatchNorm gamma/beta
                np.testing.assert_array_equal(d, 0.0 if ignore_1d else w)
                continue
            # Keras kernels: output filters on the last axis.
            axes = tuple(range(w.ndim - 1))
            np.testing.assert_allclose(np.linalg.norm(d.reshape(-1, w.shape[-1]), axis=0),
                                       np.sqrt(np.sum(w ** 2, axis=axes)), rtol=1e-8)
    # The directions are seeded and differ between seeds.
    a, b = random_direction(model, seed=3), random_direction(model, seed=3)
    c = random_direction(model, seed=4)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_filter_normalize_conv_shape():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 2, 4))
    d = filter_normalize(rng.normal(size=w.shape), w)
    for i in range(4):
        assert np.linalg.norm(d[..., i]) == pytest.approx(np.linalg.norm(w[..., i]))


def test_given_directions_and_errors(model_and_data):
    model, (x, y) = model_and_data
    zeros = [np.zeros(v.shape) for v in model.trainable_variables]
    flat = loss_landscape(model, (x, y), steps=3, directions=(zeros, zeros))
    np.testing.assert_allclose(flat["loss"], evaluate_loss(model, (x, y))[0], rtol=1e-6)
    with pytest.raises(ValueError, match="shapes"):
        loss_landscape(model, (x, y), steps=3, directions=([np.zeros(1)], [np.zeros(1)]))
    with pytest.raises(ValueError, match="span"):
        loss_landscape(model, (x, y), span=0)


@pytest.mark.parametrize("steps", [2, 4, 0, 3.0])
def test_even_steps_are_refused(model_and_data, steps):
    """An even grid has no centre point (it returned center = nan): refused, as is a
    non-integer or non-positive one, before any evaluation."""
    model, (x, y) = model_and_data
    with pytest.raises(ValueError, match=r"loss_landscape: steps must be (odd|a positive "
                                         r"integer) \(grid points per axis; odd, .*\), got "
                                         rf"steps={steps!r}\."):
        loss_landscape(model, (x, y), steps=steps)


def test_one_step_is_the_model_itself(model_and_data):
    model, (x, y) = model_and_data
    surface = loss_landscape(model, (x, y), steps=1, batch_size=12)
    assert surface["loss"].shape == (1, 1) and surface["alphas"].tolist() == [0.0]
    assert surface["center"] == pytest.approx(evaluate_loss(model, (x, y))[0], rel=1e-6)


def filter_normalised_gaussian(rng, weights):
    """The documented direction, drawn here without the library: a standard Gaussian per
    variable, each output filter (last axis) scaled to the norm of the weights' filter,
    1-D variables zeroed."""
    direction = []
    for w in weights:
        d = rng.standard_normal(w.shape)
        if w.ndim <= 1:
            direction.append(np.zeros_like(d))
            continue
        filters_w, filters_d = w.reshape(-1, w.shape[-1]), d.reshape(-1, w.shape[-1])
        direction.append(d * np.linalg.norm(filters_w, axis=0)
                         / (np.linalg.norm(filters_d, axis=0) + 1e-10))
    return direction


def test_off_centre_points_equal_evaluate_with_weights_moved_by_hand(model_and_data):
    """Every grid point is the loss and accuracy `model.evaluate` reports for
    theta + alpha d1 + beta d2, with d1 and d2 drawn by hand from the same seed."""
    model, (x, y) = model_and_data
    span, seed = 0.5, 7
    surface = loss_landscape(model, (x, y), steps=3, span=span, seed=seed, batch_size=12)
    variables = model.trainable_variables
    weights = [keras.ops.convert_to_numpy(v).astype(np.float64) for v in variables]
    rng = np.random.default_rng(seed)
    d1 = filter_normalised_gaussian(rng, weights)
    d2 = filter_normalised_gaussian(rng, weights)
    model.compile(loss=kt.losses.SDTLoss(), metrics=[kt.metrics.TemporalAccuracy()])
    losses = np.empty((3, 3))
    try:
        for i, alpha in enumerate((-span, 0.0, span)):
            for j, beta in enumerate((-span, 0.0, span)):
                for v, w, u1, u2 in zip(variables, weights, d1, d2):
                    v.assign((w + alpha * u1 + beta * u2).astype("float32"))
                losses[i, j], accuracy = model.evaluate(x, y, batch_size=12, verbose=0)
                assert surface["accuracy"][i, j] == pytest.approx(accuracy), (i, j)
    finally:
        for v, w in zip(variables, weights):
            v.assign(w.astype("float32"))
    # The points differ from each other (and from the centre) by far more than rounding.
    assert np.ptp(losses) > 0.1 and np.ptp(losses - losses.T) > 0.01
    np.testing.assert_allclose(surface["loss"], losses, rtol=1e-5)
