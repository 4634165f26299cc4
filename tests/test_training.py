import warnings

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import regularizers
from tests import reference
from tests.tiny_training import C, T, data, tiny_model
from tests.gradients import grad

ops = keras.ops


@pytest.mark.parametrize("lam,decay,eps", [(1e-5, 0.25, 1e-5), (0.3, 0.5, 0.0), (2.0, 0.0, 1.0)])
def test_penalty_value_and_gradient_equal_numpy(lam, decay, eps, rng):
    w1 = rng.normal(0, 0.8, (3, 4)).astype("float32")
    w2 = np.concatenate([rng.normal(0, 2, 5), [0.0]]).astype("float32")

    def penalty(a, b):
        return regularizers.temporal_weight_penalty([a, b], 6, lam, decay, eps)

    value, (g1, g2) = grad(penalty, w1, w2)
    np.testing.assert_allclose(float(value), reference.trt_penalty([w1, w2], 6, lam, decay, eps),
                               rtol=1e-5)
    # the gradient flows through |w| in the denominator too (the factor is not detached)
    np.testing.assert_allclose(g1, reference.trt_penalty_grad(w1, 6, lam, decay, eps),
                               rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(g2, reference.trt_penalty_grad(w2, 6, lam, decay, eps),
                               rtol=1e-5, atol=1e-12)


def test_penalty_at_one_timestep_is_plain_l2(rng):
    w = rng.normal(size=(10,)).astype("float32")
    value = regularizers.temporal_weight_penalty([w], 1, 0.1, 0.5, 1e-5)
    np.testing.assert_allclose(float(ops.convert_to_numpy(value)), 0.1 * (w**2).sum(), rtol=1e-6)


def test_weight_penalty_reads_as_a_float_quietly_and_stays_differentiable():
    """`float(model.weight_penalty(T))` (docs/concepts.md) printed torch's "Converting a
    tensor with requires_grad=True to a scalar" warning; its gradient must still flow for
    a training step of one's own."""
    lam, decay, eps = 0.3, 0.5, 1e-5
    model = tiny_model(seed=1)
    model.compile(optimizer="sgd", loss=kt.losses.TRTLoss(lam=lam, decay=decay, epsilon=eps))
    weights = [ops.convert_to_numpy(v) for v in model.penalized_variables()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(model.weight_penalty(T))
    assert value == pytest.approx(reference.trt_penalty(weights, T, lam, decay, eps), rel=1e-5)
    if keras.backend.backend() == "torch":
        import torch
        penalty = model.weight_penalty(T)
        total = penalty * 2.0 + 1.0                        # arithmetic gives plain tensors
        assert type(total) is torch.Tensor
        grads = torch.autograd.grad(total, [v.value for v in model.penalized_variables()])
        for g, w in zip(grads, weights):
            np.testing.assert_allclose(
                g.numpy(), 2.0 * reference.trt_penalty_grad(w, T, lam, decay, eps),
                rtol=1e-5, atol=1e-12)


def test_training_step_adds_the_plain_penalty_tensor():
    """The loss a training step computes holds the plain penalty tensor, not the
    float()-friendly wrapper users read (on torch a tensor subclass: dispatch overhead and
    a graph break under torch.compile inside every step)."""
    model = tiny_model(seed=1)
    model.compile(optimizer="sgd", loss=kt.losses.TRTLoss(lam=0.3))
    x, y = data()
    y_pred = model(x, training=True)
    penalty = model._penalty_tensor(T)
    if keras.backend.backend() == "torch":
        import torch
        assert type(penalty) is torch.Tensor
        assert type(model.weight_penalty(T)) is not torch.Tensor   # the readable one
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
    data_only = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
    np.testing.assert_allclose(float(loss) - float(data_only), float(penalty), rtol=1e-5)


def test_penalized_variables_are_kernels_and_gammas_only():
    model = tiny_model()
    names = sorted(v.path for v in model.penalized_variables())
    assert names == ["bn/gamma", "td_conv/conv/kernel", "td_fc/fc/kernel"]
    all_trainable = sorted(v.path for v in model.trainable_variables)
    assert "bn/beta" in all_trainable and "td_fc/fc/bias" in all_trainable


def test_fit_step_penalty_update_is_exactly_lr_times_penalty_gradient():
    """SGD: weights after one step with lam > 0 minus with lam = 0 == -lr * dR/dw."""
    x, y = data()
    lr, lam, decay, eps = 0.5, 0.05, 0.5, 1e-5
    start = tiny_model(seed=3).get_weights()
    after = {}
    for lam_ in (0.0, lam):
        model = tiny_model(seed=3)
        model.set_weights(start)
        model.compile(optimizer=keras.optimizers.SGD(lr),
                      loss=kt.losses.TRTLoss(eta=0.05, lam=lam_, decay=decay, epsilon=eps))
        model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
        after[lam_] = {v.path: ops.convert_to_numpy(v) for v in model.trainable_variables}
    start_by_path = dict(zip([v.path for v in tiny_model(seed=3).weights], start))
    for path, w_lam in after[lam].items():
        diff = w_lam - after[0.0][path]
        if path.split("/")[-1] in ("kernel", "gamma"):
            expected = -lr * reference.trt_penalty_grad(start_by_path[path], T, lam, decay, eps)
            assert np.abs(expected).max() > 1e-4
            np.testing.assert_allclose(diff, expected, rtol=2e-4, atol=2e-7)
        else:  # biases and beta are not penalised
            np.testing.assert_allclose(diff, 0.0, atol=2e-7)


def test_logged_training_loss_includes_penalty():
    x, y = data()
    model = tiny_model(seed=4)
    loss = kt.losses.TRTLoss(eta=0.05, lam=0.5, decay=0.25)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss)
    weights = [ops.convert_to_numpy(v) for v in model.penalized_variables()]
    logged = model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False,
                       verbose=0).history["loss"][0]
    y_pred = model(x, training=True)  # lr 0: same weights; BN in training mode as in fit
    data_term = float(ops.convert_to_numpy(loss.data_term(y, y_pred)))
    penalty = reference.trt_penalty(weights, T, 0.5, 0.25, 1e-5)
    assert penalty > 0.01
    np.testing.assert_allclose(logged, data_term + penalty, rtol=1e-5)
    # evaluation reports the compiled loss without the penalty
    assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] < logged - 0.005


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_trt_loss_on_plain_keras_model_raises_at_first_step(compiled):
    if compiled and keras.backend.backend() == "torch":
        pytest.skip("torch.compile of a step takes minutes here; torch steps run eagerly")
    x, y = data()
    model = tiny_model(cls=keras.Model)
    model.compile(optimizer="sgd", loss=kt.losses.TRTLoss(), run_eagerly=not compiled,
                  jit_compile=compiled)
    with pytest.raises(TypeError, match="TRTLoss was called outside a keras_trt.SpikingModel"):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="SpikingModel"):
        model.evaluate(x, y, verbose=0)


class _OwnPenaltyModel(keras.Model):
    """A plain keras.Model whose own compute_loss calls a TRTLoss and adds a penalty."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        with kt.losses.weight_penalty_scope():   # "I add the penalty myself"
            loss = kt.losses.TRTLoss(eta=0.05)(y, y_pred)
        return loss + 0.0 * ops.sum(ops.square(self.trainable_weights[0]))


class _ForgetfulModel(keras.Model):
    """A plain keras.Model whose compute_loss calls a TRTLoss and adds no penalty."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return kt.losses.TRTLoss(eta=0.05)(y, y_pred)


def test_trt_loss_in_a_models_own_compute_loss_needs_the_penalty_scope():
    x, y = data()
    model = tiny_model(seed=6, cls=_ForgetfulModel)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=None)
    with pytest.raises(TypeError, match="weight_penalty_scope"):
        model.fit(x, y, batch_size=len(x), shuffle=False, verbose=0)
    model = tiny_model(seed=6, cls=_OwnPenaltyModel)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=None)
    logged = model.fit(x, y, batch_size=len(x), shuffle=False, verbose=0).history["loss"][0]
    expected = reference.trt_data_loss(
        ops.convert_to_numpy(model(x, training=True)).astype("float64"), y, 0.05)
    np.testing.assert_allclose(logged, expected, rtol=1e-5)


def test_trt_loss_called_standalone_raises_and_data_term_gives_the_data_term():
    logits = np.random.default_rng(0).normal(0, 2, (4, T, C)).astype("float32")
    labels = np.array([0, 2, 1, 2])
    loss = kt.losses.TRTLoss(eta=0.2)
    with pytest.raises(TypeError, match="data_term"):
        loss(labels, logits)
    value = float(ops.convert_to_numpy(loss.data_term(labels, logits)))
    np.testing.assert_allclose(value, reference.trt_data_loss(logits.astype("float64"),
                                                              labels, 0.2), rtol=1e-5)


def test_trt_loss_on_model_without_weights_raises():
    inputs = keras.Input((T, 3))
    model = kt.SpikingModel(inputs, kt.LIF()(inputs))
    model.compile(optimizer="sgd", loss=kt.losses.TRTLoss())
    with pytest.raises(ValueError, match="no trainable non-bias variables"):
        model.fit(np.ones((2, T, 3), "float32"), np.zeros(2, "int32"), verbose=0)


def test_other_losses_add_no_penalty():
    x, y = data()
    model = tiny_model(seed=5)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kt.losses.TETLoss())
    logged = model.fit(x, y, batch_size=len(x), shuffle=False, verbose=0).history["loss"][0]
    expected = float(ops.convert_to_numpy(kt.losses.TETLoss()(y, model(x, training=True))))
    np.testing.assert_allclose(logged, expected, rtol=1e-5)
    assert "accuracy" in model.evaluate(x, y, verbose=0, return_dict=True)


def test_same_seed_gives_identical_losses():
    x, y = data(16)
    histories = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        model = tiny_model(seed=7)
        model.compile(optimizer="adam", loss=kt.losses.TRTLoss(lam=1e-3))
        histories.append(model.fit(x, y, batch_size=4, epochs=2, verbose=0).history["loss"])
    assert histories[0] == histories[1]
