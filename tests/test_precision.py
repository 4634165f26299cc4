"""float64 runs float64 end to end; the mixed-precision policies keep float32 statistics.

Under `keras.config.set_floatx("float64")` every keras-trt layer, loss, metric and the TRT
penalty return float64 and agree with NumPy float64 to 1e-12 (float32 anywhere on the
way would leave ~1e-7). The full-size VGGSNN's forward pass and one SGD step agree
across torch, TensorFlow and JAX to 1e-12 (one subprocess per backend, run from the
tensorflow pytest process only).
"""

import contextlib
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import precision, regularizers
from keras_trt.dense import Float64ExactDense
from keras_trt.metrics import temporal_cross_entropy
from keras_trt.testing import to_numpy
from tests.support import BACKEND
from tests import reference
from tests.gradients import grad

ops = keras.ops
TIGHT = dict(rtol=1e-12, atol=1e-12)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def jax_x64():
    """JAX's 64-bit mode (JAX truncates float64 to float32 without it); nothing elsewhere."""
    if BACKEND != "jax":
        return contextlib.nullcontext()
    import jax

    return jax.enable_x64(True)


@pytest.fixture
def float64():
    """floatx and the dtype policy float64 (and JAX's 64-bit mode) for one test."""
    with jax_x64():
        keras.config.set_floatx("float64")
        keras.config.set_dtype_policy("float64")
        try:
            yield
        finally:
            keras.config.set_floatx("float32")
            keras.config.set_dtype_policy("float32")


def dtype_of(x):
    return keras.backend.standardize_dtype(x.dtype)


def close_to_threshold_input(shape, seed):
    """Currents whose first step lands 1e-10 above the threshold (fires in float64, not
    in float32, where 1 + 1e-10 rounds to 1) plus random currents after it."""
    x = np.random.default_rng(seed).normal(0.6, 0.9, shape)
    x[:, 0] = 1.0 + 1e-10
    return x


# ----------------------------------------------------------------------------- layers
def test_temporal_batch_norm_float64_training_and_inference(float64, rng):
    x = rng.normal(2.0, 3.0, (3, 2, 4, 4, 5))
    gamma, beta = rng.uniform(0.5, 1.5, 5), rng.normal(0.0, 0.5, 5)
    bn = kt.TemporalBatchNorm()
    bn.build(x.shape)
    bn.gamma.assign(gamma)
    bn.beta.assign(beta)
    y = bn(x, training=True)
    assert dtype_of(y) == "float64" and all(dtype_of(w) == "float64" for w in bn.weights)
    mean, var = x.mean(axis=(0, 1, 2, 3)), x.var(axis=(0, 1, 2, 3))
    np.testing.assert_allclose(to_numpy(y), (x - mean) / np.sqrt(var + 1e-5) * gamma + beta,
                               **TIGHT)
    n = 3 * 2 * 4 * 4
    moving_mean, moving_var = 0.1 * mean, 0.9 + 0.1 * var * n / (n - 1)
    np.testing.assert_allclose(to_numpy(bn.moving_mean), moving_mean, **TIGHT)
    np.testing.assert_allclose(to_numpy(bn.moving_variance), moving_var, **TIGHT)
    y = bn(x, training=False)
    np.testing.assert_allclose(
        to_numpy(y), (x - moving_mean) / np.sqrt(moving_var + 1e-5) * gamma + beta, **TIGHT)


@pytest.mark.parametrize("implementation,v_reset,surrogate,surrogate_grad", [
    ("fused", 0.0, "triangle", reference.triangle_grad),
    ("autodiff", None, "triangle", reference.triangle_grad),
    ("fused", None, kt.surrogates.Sigmoid(4.0), reference.sigmoid_grad),
    ("autodiff", 0.0, kt.surrogates.Sigmoid(4.0), reference.sigmoid_grad),
    ("fused", 0.0, kt.surrogates.ATan(2.0), reference.atan_grad),
    ("autodiff", None, kt.surrogates.ATan(2.0), reference.atan_grad),
], ids=["fused-triangle", "autodiff-triangle-soft", "fused-sigmoid-soft", "autodiff-sigmoid",
        "fused-atan", "autodiff-atan-soft"])
def test_lif_float64_spikes_and_bptt(float64, implementation, v_reset, surrogate,
                                     surrogate_grad):
    x = close_to_threshold_input((3, 6, 5), seed=1)
    upstream = np.random.default_rng(2).normal(size=x.shape)
    lif = kt.LIF(tau=2.0, v_reset=v_reset, surrogate=surrogate, implementation=implementation)
    spikes = lif(x)
    assert dtype_of(spikes) == "float64"
    expected = reference.lif_forward(x, 2.0, 1.0, v_reset)[0]
    assert expected[:, 0].all()                       # the 1e-10 margin fires
    np.testing.assert_array_equal(to_numpy(spikes), expected)
    _, (g,) = grad(lambda x_: ops.sum(lif(x_) * ops.convert_to_tensor(upstream)), x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(
        g, reference.lif_backward(x, upstream, 2.0, 1.0, v_reset, surrogate_grad), **TIGHT)


def test_time_average_and_dense_float64(float64, rng):
    x = rng.normal(size=(2, 3, 7))
    average = kt.TimeAverage()(x)
    assert dtype_of(average) == "float64"
    np.testing.assert_allclose(to_numpy(average), x.mean(axis=1), **TIGHT)
    dense = Float64ExactDense(4)
    dense.build((None, 7))
    kernel, bias = rng.normal(size=(7, 4)), rng.normal(size=4)
    dense.set_weights([kernel, bias])
    y = kt.TimeDistributed(dense)(x)
    assert dtype_of(y) == "float64"
    np.testing.assert_allclose(to_numpy(y), x @ kernel + bias, **TIGHT)


def test_dense_outside_float64_is_keras_dense(rng):
    x = rng.normal(size=(5, 6)).astype("float32")
    ours = Float64ExactDense(3, activation="relu")
    theirs = keras.layers.Dense(3, activation="relu")
    ours.build((None, 6))
    theirs.build((None, 6))
    theirs.set_weights(ours.get_weights())
    np.testing.assert_array_equal(to_numpy(ours(x)), to_numpy(theirs(x)))
    config = keras.saving.serialize_keras_object(ours)
    assert config["registered_name"] == "keras_trt>Float64ExactDense"
    assert isinstance(keras.saving.deserialize_keras_object(config), Float64ExactDense)


def test_dense_under_its_former_name():
    config = keras.saving.serialize_keras_object(Float64ExactDense(3, name="d"))
    # as a file saved before the rename names it
    config.update(class_name="Dense", registered_name="keras_trt>Dense")
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is Float64ExactDense and restored.name == "d"
    with pytest.warns(DeprecationWarning, match="keras_trt.dense.Float64ExactDense"):
        assert kt.dense.Dense is Float64ExactDense


def test_mean_exact_in_float64_and_keras_mean_otherwise(rng):
    x = rng.normal(size=(4, 3, 5))
    with jax_x64():
        mean64 = precision.mean(ops.convert_to_tensor(x, "float64"), axis=(0, 2))
        assert dtype_of(mean64) == "float64"
        np.testing.assert_allclose(to_numpy(mean64), x.mean(axis=(0, 2)), **TIGHT)
    x32 = ops.convert_to_tensor(x, "float32")
    np.testing.assert_array_equal(to_numpy(precision.mean(x32, axis=1)),
                                  to_numpy(ops.mean(x32, axis=1)))
    assert precision.accumulation_dtype("bfloat16") == "float32"
    assert precision.accumulation_dtype("float16", "float32") == "float32"
    assert precision.accumulation_dtype("float32", np.float64) == "float64"


# ------------------------------------------------------------- losses, metrics, penalty
@pytest.mark.parametrize("loss,expected", [
    (kt.losses.SDTLoss(), reference.sdt_loss),
    (kt.losses.TETLoss(lam=0.3, phi=0.5), lambda z, y: reference.tet_loss(z, y, 0.3, 0.5)),
    (kt.losses.TRTLoss(eta=0.05), lambda z, y: reference.trt_data_loss(z, y, 0.05)),
], ids=["sdt", "tet", "trt"])
def test_losses_float64(float64, loss, expected, rng):
    logits, labels = rng.normal(0, 2, (4, 3, 5)), rng.integers(0, 5, 4)
    # `call` gives the per-sample losses; the batch mean after it is Keras' reduction.
    # The scope: a TRTLoss computes its data term only where the caller adds the penalty.
    with kt.losses.weight_penalty_scope():
        per_sample = loss.call(ops.convert_to_tensor(labels), ops.convert_to_tensor(logits))
    assert dtype_of(per_sample) == "float64"
    np.testing.assert_allclose(to_numpy(per_sample).mean(), expected(logits, labels), **TIGHT)


def test_temporal_cross_entropy_float64(float64, rng):
    logits, labels = rng.normal(0, 2, (4, 3, 5)), rng.integers(0, 5, 4)
    values = temporal_cross_entropy(ops.convert_to_tensor(labels),
                                    ops.convert_to_tensor(logits))
    assert dtype_of(values) == "float64"
    np.testing.assert_allclose(to_numpy(values).mean(), reference.sdt_loss(logits, labels),
                               **TIGHT)


def test_penalty_float64_value_and_gradient(float64, rng):
    w1 = rng.normal(0, 0.8, (3, 4))
    w2 = np.concatenate([rng.normal(0, 2, 5), [0.0]])

    def penalty(a, b):
        return regularizers.temporal_weight_penalty([a, b], 6, 0.3, 0.5, 1e-5)

    value, (g1, g2) = grad(penalty, w1, w2)
    assert np.asarray(value).dtype == np.float64
    np.testing.assert_allclose(value, reference.trt_penalty([w1, w2], 6, 0.3, 0.5, 1e-5),
                               **TIGHT)
    np.testing.assert_allclose(g1, reference.trt_penalty_grad(w1, 6, 0.3, 0.5, 1e-5), **TIGHT)
    np.testing.assert_allclose(g2, reference.trt_penalty_grad(w2, 6, 0.3, 0.5, 1e-5), **TIGHT)


# ------------------------------------------------------------------ mixed precision
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_batch_norm_is_the_float32_one_cast(policy, rng):
    """Under a mixed policy tdBN keeps float32 weights and statistics: its output is the
    float32 layer's output on the same input, cast to the compute dtype."""
    x = rng.normal(1.0, 2.0, (2, 3, 4, 4, 6)).astype("float32")
    reference_bn = kt.TemporalBatchNorm()
    reference_bn.build(x.shape)
    reference_bn.gamma.assign(rng.uniform(0.5, 1.5, 6).astype("float32"))
    keras.config.set_dtype_policy(policy)
    bn = kt.TemporalBatchNorm()
    bn.build(x.shape)
    bn.set_weights(reference_bn.get_weights())
    assert all(dtype_of(w) == "float32" for w in bn.weights)
    x_half = ops.cast(x, bn.compute_dtype)
    y = bn(x_half, training=True)
    assert dtype_of(y) == policy.split("_")[1]
    expected = reference_bn(ops.cast(x_half, "float32"), training=True)
    np.testing.assert_array_equal(to_numpy(ops.cast(y, "float32")),
                                  to_numpy(ops.cast(ops.cast(expected, bn.compute_dtype),
                                                    "float32")))
    # float32 statistics; on torch the half input goes to batch_norm as it is (its
    # mixed-type kernel accumulates in float32, in another order): equal to an ulp
    np.testing.assert_allclose(to_numpy(bn.moving_variance),
                               to_numpy(reference_bn.moving_variance), rtol=3e-7, atol=0)
    assert dtype_of(bn.moving_variance) == "float32"


@pytest.mark.parametrize("policy,rtol", [("float16", 2e-3), ("bfloat16", 1.6e-2)])
def test_pure_half_policy_batch_norm_computes_in_float32(policy, rtol, rng):
    """A pure half policy (half weights too) used to fail: float32 input, half weights."""
    x = rng.normal(1.0, 2.0, (2, 3, 4, 4, 6)).astype("float32")
    bn = kt.TemporalBatchNorm(dtype=policy)
    y = bn(x, training=True)
    assert dtype_of(y) == policy and dtype_of(bn.moving_variance) == policy
    x_half = to_numpy(ops.cast(ops.cast(x, policy), "float32")).astype("float64")
    mean, var = x_half.mean(axis=(0, 1, 2, 3)), x_half.var(axis=(0, 1, 2, 3))
    np.testing.assert_allclose(to_numpy(ops.cast(y, "float32")),
                               (x_half - mean) / np.sqrt(var + 1e-5), rtol=rtol, atol=rtol)
    n = 2 * 3 * 4 * 4
    np.testing.assert_allclose(to_numpy(ops.cast(bn.moving_variance, "float32")),
                               0.9 + 0.1 * var * n / (n - 1), rtol=rtol)


def test_penalty_of_half_precision_weights_is_float32(rng):
    w = rng.normal(0, 0.8, (3, 4)).astype("float32")
    value = regularizers.temporal_weight_penalty([ops.cast(w, "bfloat16")], 4, 0.3, 0.5, 1e-5)
    assert dtype_of(value) == "float32"


# ------------------------------------------------- float64 after float32, one process
@pytest.fixture
def floatx_restored():
    """JAX's 64-bit mode for one test, and floatx float32 again after it."""
    with jax_x64():
        try:
            yield
        finally:
            keras.config.set_floatx("float32")


def test_trt_fit_after_set_floatx_float64_in_a_process_that_built_float32(floatx_restored):
    """Keras fixes the global dtype policy when the first layer is built, so a model
    built after `set_floatx("float64")` keeps float32 weights while a loss made after it
    is float64: the penalty (float32, as the weights) is added in the loss's float64.
    TensorFlow used to raise a dtype mismatch at that addition."""
    x = np.random.default_rng(0).uniform(0.0, 2.0, (4, 3, 5))
    y = np.array([0, 1, 2, 1])

    def dense_snn(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((3, 5))
        h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(6))(inputs))
        return kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))

    first = dense_snn(0)
    first.compile(optimizer="sgd", loss=kt.losses.TRTLoss(lam=1e-3))
    first.fit(x.astype("float32"), y, verbose=0)
    keras.config.set_floatx("float64")
    model = dense_snn(1)
    model.compile(optimizer=keras.optimizers.SGD(0.0),
                  loss=kt.losses.TRTLoss(eta=0.05, lam=0.1, decay=0.25))
    weights = [to_numpy(w).astype("float64") for w in model.penalized_variables()]
    logged = model.fit(x, y, batch_size=4, shuffle=False, verbose=0).history["loss"][0]
    data_term = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)["loss"]
    penalty = reference.trt_penalty(weights, 3, 0.1, 0.25, 1e-5)
    assert penalty > 1e-2 and data_term > 0.5
    np.testing.assert_allclose(logged, data_term + penalty, rtol=1e-5)


# ------------------------------------------------------------------- across backends
BACKENDS = ("torch", "tensorflow", "jax")


@pytest.mark.backend_independent
def test_vggsnn_float64_forward_and_sgd_step_agree_across_backends(tmp_path):
    """The full-size VGGSNN from the same NumPy weights and inputs: inference logits, the
    per-sample TRT loss, the penalty and the change of every weight after one SGD step
    agree across torch, TensorFlow and JAX to 1e-12 relative (float32 anywhere gives
    ~1e-7). The three subprocesses run side by side."""
    env = dict(os.environ, JAX_ENABLE_X64="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    runs = {b: subprocess.Popen(
        [sys.executable, "-m", "tests._float64_step", str(tmp_path / f"{b}.npz")],
        env=dict(env, KERAS_BACKEND=b), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for b in BACKENDS}
    try:
        for backend, run in runs.items():
            output, _ = run.communicate(timeout=480)
            assert run.returncode == 0, f"{backend}:\n{output[-3000:]}"
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
    results = {b: np.load(tmp_path / f"{b}.npz") for b in BACKENDS}
    reference_run = results["tensorflow"]
    names = [k for k in reference_run.files if k not in ("dtypes", "names", "loss")]
    assert "logits" in names and sum(k.startswith("update_") for k in names) == 42
    for backend, result in results.items():
        assert list(result["dtypes"]) == ["float64"], backend
        for name in names:
            ref, got = reference_run[name], result[name]
            assert np.abs(ref).max() > 0, name             # every weight moved, logits vary
            error = np.abs(got - ref).max() / np.abs(ref).max()
            assert error <= 1e-12, f"{backend} {name}: relative difference {error:.2e}"
    # The loss that train_on_batch reports is reduced by Keras, whose torch backend
    # divides float64 in float32: only TensorFlow and JAX report it in float64.
    np.testing.assert_allclose(results["jax"]["loss"], reference_run["loss"], rtol=1e-12)
    np.testing.assert_allclose(results["torch"]["loss"], reference_run["loss"], rtol=1e-6)
