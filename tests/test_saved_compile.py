"""A `.keras` file saved on another backend compiles for this one: `jit_compile` as
`compile()` chooses by default here, and the optimizer as this backend's class with its
saved state (keras_trt._saved_compile).

A file from another backend is made in-process: the model is saved here, and the compile
configuration in the file is edited to what the other backend writes (Keras stores the
resolved `jit_compile`, True on JAX and False on torch and TensorFlow on a CPU; torch
stores its own optimizer subclass). A backend cannot be switched inside one process, and
that edit is all that differs between the files (tests/models/test_saving.py checks the
weights of files saved under each backend in subprocesses)."""

import json
import zipfile

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt import _saved_compile as saved_compile
from keras_trt.testing import to_numpy
from tests.support import BACKEND

# What compile(jit_compile="auto") chooses on a CPU (docs/concepts.md, jit per backend).
AUTO_JIT = {"torch": False, "tensorflow": False, "jax": True}[BACKEND]
OTHER_BACKEND = {"torch": "jax", "tensorflow": "torch", "jax": "tensorflow"}[BACKEND]


def tiny_model():
    inputs = keras.Input((4, 3))
    h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(6))(inputs))
    return kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(2))(h))


def data():
    rng = np.random.default_rng(0)
    return rng.uniform(0.0, 2.0, (8, 4, 3)).astype("float32"), np.arange(8) % 2


def saved_file(tmp_path, **compile_kwargs):
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=kt.losses.TRTLoss(lam=1e-3),
                  **compile_kwargs)
    path = tmp_path / "model.keras"
    model.save(path)
    return model, path


def compile_config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))["compile_config"]


def edit_compile_config(path, edit):
    """Rewrites the compile configuration inside the .keras zip with `edit(config)`."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config["compile_config"])
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def test_a_default_compile_is_saved_as_auto(tmp_path):
    _, path = saved_file(tmp_path)
    config = compile_config(path)
    assert config["jit_compile"] == "auto" and saved_compile.BACKEND_KEY not in config
    assert keras.saving.load_model(path).jit_compile is AUTO_JIT


@pytest.mark.parametrize("saved_jit", [True, False])
def test_another_backends_jit_compile_loads_as_this_backends_default(tmp_path, saved_jit):
    """Each backend has one failing case without the fix: a JAX-saved True turned
    torch.compile on, a TensorFlow-saved False ran JAX eagerly."""
    _, path = saved_file(tmp_path)

    def as_written_elsewhere(config):
        config["jit_compile"] = saved_jit            # the other backend's resolved value
        config.pop(saved_compile.BACKEND_KEY, None)  # a file of an older keras-trt ...
    edit_compile_config(path, as_written_elsewhere)
    assert keras.saving.load_model(path).jit_compile is AUTO_JIT

    def chosen_on_another_backend(config):
        config["jit_compile"] = saved_jit            # ... or an explicit choice there
        config[saved_compile.BACKEND_KEY] = OTHER_BACKEND
    edit_compile_config(path, chosen_on_another_backend)
    assert keras.saving.load_model(path).jit_compile is AUTO_JIT


def test_an_explicit_jit_compile_is_kept_on_its_own_backend(tmp_path):
    _, path = saved_file(tmp_path, jit_compile=not AUTO_JIT)
    config = compile_config(path)
    assert (config["jit_compile"], config[saved_compile.BACKEND_KEY]) == (not AUTO_JIT,
                                                                           BACKEND)
    assert keras.saving.load_model(path).jit_compile is (not AUTO_JIT)


def test_a_torch_saved_optimizer_trains_here_with_its_saved_state(tmp_path):
    """torch saves its own Adam subclass, which TensorFlow and JAX cannot run ("expected
    Tensor as element 0 in argument 0, but got ResourceVariable")."""
    x, y = data()
    model, path = saved_file(tmp_path)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)   # one step: iterations and moments
    model.save(path)
    edit_compile_config(path, lambda config: config["optimizer"].update(
        module="keras.src.backend.torch.optimizers.torch_adam", registered_name="Adam"))

    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(to_numpy(loaded.optimizer.iterations)) == 1
    saved, restored = model.optimizer.variables, loaded.optimizer.variables
    assert len(saved) == len(restored) == 2 + 2 * len(model.trainable_weights)
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(to_numpy(b), to_numpy(a), err_msg=a.path)
    assert all(np.abs(to_numpy(v)).max() > 0 for v in saved
               if v.path.endswith("_momentum"))   # the step left moments to restore

    before = [to_numpy(w) for w in loaded.trainable_weights]
    history = loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(to_numpy(loaded.optimizer.iterations)) == 2
    assert any(np.abs(to_numpy(w) - b).max() > 0 for w, b in zip(loaded.trainable_weights,
                                                                  before))


def test_a_loss_scale_optimizers_inner_torch_optimizer_is_rebuilt_too():
    inner = {"module": "keras.src.backend.torch.optimizers.torch_sgd", "class_name": "SGD",
             "config": {"learning_rate": 0.1}, "registered_name": "SGD"}
    config = {"optimizer": {"module": "keras.optimizers", "class_name": "LossScaleOptimizer",
                            "config": {"inner_optimizer": inner}, "registered_name": None},
              "loss": None, "jit_compile": False, saved_compile.BACKEND_KEY: BACKEND}
    portable = saved_compile.config_for_this_backend(config)
    assert portable["optimizer"]["config"]["inner_optimizer"]["module"] == "keras.optimizers"
    assert portable["jit_compile"] is False and saved_compile.BACKEND_KEY not in portable
    assert config["optimizer"]["config"]["inner_optimizer"] is inner   # not modified
    assert inner["module"].startswith("keras.src.backend.torch")
