"""`model.export(path, format="tf_saved_model")` of a SpikingModel, on the backends where
Keras exports one (TensorFlow, JAX): the reloaded artifact predicts what the model does,
for batch sizes the export never saw (its batch axis is symbolic)."""

import functools

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import _model_inputs as model_inputs
from keras_trt.testing import to_numpy
from tests.support import BACKEND
from tests.models.paper_models import randomise_bn_statistics, tiny_vggsnn

T = 3


@functools.lru_cache(maxsize=None)
def vgg_model():
    """conv/tdBN/LIF twice, pooling and a Dense classifier, moving statistics spread."""
    keras.utils.set_random_seed(0)
    model = tiny_vggsnn(num_classes=4, input_shape=(T, 8, 8, 2), widths=(4, 8))
    randomise_bn_statistics(model)
    return model


@pytest.mark.skipif(BACKEND == "torch", reason="Keras 3.15 exports no tf_saved_model of a "
                    "torch model (a plain keras.Model fails in torch.export too)")
def test_exported_saved_model_predicts_like_the_model(tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = vgg_model()
    model.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    rng = np.random.default_rng(3)
    for batch in (3, 5):
        x = rng.uniform(0.0, 2.0, (batch, T, 8, 8, 2)).astype("float32")
        expected = to_numpy(model(x, training=False))
        assert np.ptp(expected, axis=0).max() > 0.1   # the samples' logits differ
        np.testing.assert_allclose(reloaded.serve(x).numpy(), expected, rtol=0, atol=1e-5)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's symbolic shapes")
def test_the_shape_check_skips_a_symbolic_batch_and_still_checks_the_rest():
    import jax
    model = vgg_model()
    batch, = jax.export.symbolic_shape("batch")
    model_inputs.check_input_shapes(
        model, jax.ShapeDtypeStruct((batch, T, 8, 8, 2), "float32"))   # no error
    with pytest.raises(ValueError, match=r"5 timesteps \(axis 1\), but the model was built "
                                         r"for T=3"):
        model_inputs.check_input_shapes(
            model, jax.ShapeDtypeStruct((batch, 5, 8, 8, 2), "float32"))
