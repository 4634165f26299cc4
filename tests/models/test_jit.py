"""`jit_compile=True` works with the paper's models on every backend (torch.compile on
torch, XLA on TensorFlow, jax.jit on JAX) and computes what the eager step computes.

The first compiled step takes about 30 s on torch and 5-10 s on TensorFlow and JAX
here, so one tiny model per family runs two steps (docs/performance.md has the
full-size first-step times).
"""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import to_numpy
from tests.models.paper_models import random_input, random_labels, tiny_resnet19, tiny_vggsnn


def _two_steps(build, jit_compile):
    keras.utils.set_random_seed(7)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2, epsilon=1e-8),
                  loss=kt.losses.TRTLoss(eta=0.05, lam=1e-3, decay=0.25),
                  metrics=[], jit_compile=jit_compile)
    x, y = random_input(model, batch=4), random_labels(model, batch=4)
    losses = [float(model.train_on_batch(x, y)) for _ in range(2)]
    return losses, [to_numpy(v) for v in model.trainable_weights], model


@pytest.mark.parametrize("build", [tiny_vggsnn, tiny_resnet19], ids=["vggsnn", "resnet19"])
def test_jit_compiled_step_equals_eager_step(build):
    if build is tiny_resnet19 and keras.backend.backend() != "jax":
        pytest.skip("ResNet-19's compiled step: checked under JAX, where jit is the "
                    "default (VGGSNN covers the compiled step on every backend; CI time)")
    eager_losses, eager_weights, _ = _two_steps(build, jit_compile=False)
    jit_losses, jit_weights, model = _two_steps(build, jit_compile=True)
    assert model.jit_compile is True
    assert np.all(np.isfinite(jit_losses)) and jit_losses[0] != jit_losses[1]
    np.testing.assert_allclose(jit_losses, eager_losses, rtol=1e-4, atol=1e-5)
    for w_jit, w_eager in zip(jit_weights, eager_weights):
        np.testing.assert_allclose(w_jit, w_eager, rtol=1e-3, atol=1e-4)
