"""`.keras` files of keras-trt models load in a fresh process that only ran
`import keras, keras_trt`, and predict the same under every backend.

Budget: the fresh-process test runs one child process per backend run; the cross-backend
test runs in the tensorflow process only (it starts its own process per backend, so the
backend of the pytest process does not matter) and trains each model a few steps per
backend, the three trainings at once.
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_trt as kt
from tests.conftest import BACKEND
from tests.models._common import (
    TINY_BUILDERS, predict, random_input, random_labels, tiny_resnet19, tiny_vggsnn,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY_MODULES = ("tensorflow", "tonic", "matplotlib", "keras_tuner", "sklearn")


def _run_python(code, args, backend, timeout, extra_env=None):
    env = dict(os.environ, KERAS_BACKEND=backend, OMP_NUM_THREADS="1", **(extra_env or {}))
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(runs, timeout):
    """Waits for {label: Popen}; fails the test with each failed child's stderr tail."""
    failures = []
    for label, run in runs.items():
        try:
            out, err = run.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.kill()
            run.communicate()
            failures.append(f"{label}: timed out after {timeout} s")
            continue
        if run.returncode != 0:
            failures.append(f"{label}: exit {run.returncode}\n{err[-3000:]}")
    if failures:
        pytest.fail("\n\n".join(failures))


# ------------------------------------------------------------ fresh-process loading
def _registered_keras_trt_classes():
    """{registered name: "module.qualname"} of every keras_trt class, all modules imported.

    Importing every module (the lazy ones included) is what makes this list complete:
    a class registered in a module that `import keras_trt` skips shows up here only.
    """
    for module in pkgutil.walk_packages(kt.__path__, "keras_trt."):
        if not module.name.startswith("keras_trt.backend."):  # each needs its own backend
            importlib.import_module(module.name)
    return {name: f"{obj.__module__}.{obj.__qualname__}"
            for name, obj in keras.saving.get_custom_objects().items()
            if name.startswith("keras_trt>")}


def _every_layer_model():
    """A small model that uses the public layers the paper models do not."""
    inputs = keras.Input((8, 8, 2))
    h = kt.RepeatTime(2)(inputs)
    h = kt.TimeDistributed(kt.spatial.Conv2D(4, 3, padding="same", use_bias=False))(h)
    h = kt.IF(surrogate=kt.surrogates.ATan(3.0))(kt.TemporalBatchNorm()(h))
    h = kt.TimeDistributed(kt.spatial.MaxPooling2D(2))(h)
    h = kt.TimeDistributed(kt.spatial.AveragePooling2D(2))(h)
    h = kt.TimeDistributed(keras.layers.Flatten())(h)
    outputs = kt.TimeAverage()(kt.TimeDistributed(keras.layers.Dense(3))(h))
    return kt.SpikingModel(inputs, outputs, name="every_layer")


_FRESH_LOADER = r'''
import json, sys
import keras
before = set(sys.modules)
import keras_trt
imported = sorted({name.split(".")[0] for name in set(sys.modules) - before})
import numpy as np

spec = json.load(open(sys.argv[1]))
resolved = {}
for name in spec["names"]:
    obj = keras.saving.get_registered_object(name)
    resolved[name] = None if obj is None else f"{obj.__module__}.{obj.__qualname__}"
inputs = np.load(spec["inputs"])
models, predictions = {}, {}
for key, path in spec["files"].items():
    model = keras.saving.load_model(path)                     # safe_mode=True
    loss = getattr(model, "loss", None)
    models[key] = {
        "class": type(model).__name__,
        "is_spiking_model": isinstance(model, keras_trt.SpikingModel),
        "loss": None if loss is None else type(loss).__name__,
        "metrics": [m["class_name"] for m in (model.get_compile_config() or {}).get(
            "metrics") or []],
    }
    predictions[key] = keras.ops.convert_to_numpy(model(inputs[key], training=False))
np.savez(spec["predictions"], **predictions)
json.dump({"imported": imported, "resolved": resolved, "models": models},
          open(spec["report"], "w"))
'''


def test_keras_files_load_in_a_fresh_process_after_import_keras_trt(tmp_path):
    names = _registered_keras_trt_classes()
    assert {"keras_trt>Conv2D", "keras_trt>TileTime", "keras_trt>LIF", "keras_trt>TRTLoss",
            "keras_trt>SpikingModel", "keras_trt>Triangle"} <= set(names)

    models = {
        "vggsnn": (TINY_BUILDERS["vggsnn"](surrogate=kt.surrogates.ATan(2.5)),
                   kt.losses.TRTLoss(eta=0.1, lam=1e-3), None),
        "resnet19": (TINY_BUILDERS["resnet19"](surrogate=kt.surrogates.Sigmoid(3.0)),
                     kt.losses.TETLoss(lam=0.01),
                     [kt.metrics.TemporalAccuracy(), kt.metrics.TemporalCrossEntropy()]),
        "sew_resnet34": (TINY_BUILDERS["sew_resnet34"](surrogate=kt.surrogates.Triangle(0.5)),
                         kt.losses.SDTLoss(), None),
        "every_layer": (_every_layer_model(), None, None),
    }
    spec = {"names": sorted(names), "files": {}, "inputs": str(tmp_path / "inputs.npz"),
            "predictions": str(tmp_path / "predictions.npz"),
            "report": str(tmp_path / "report.json")}
    inputs, expected = {}, {}
    for key, (model, loss, metrics) in models.items():
        if loss is not None:          # one training step: the optimizer state is saved too
            model.compile(optimizer="adam", loss=loss, metrics=metrics)
            model.fit(random_input(model), random_labels(model), epochs=1, verbose=0)
        inputs[key] = random_input(model, batch=3, seed=7)
        expected[key] = predict(model, inputs[key])
        spec["files"][key] = str(tmp_path / f"{key}.keras")
        model.save(spec["files"][key])
    np.savez(spec["inputs"], **inputs)
    (tmp_path / "spec.json").write_text(json.dumps(spec))

    _wait({"loader": _run_python(_FRESH_LOADER, [tmp_path / "spec.json"], BACKEND, 240)}, 240)

    report = json.loads((tmp_path / "report.json").read_text())
    heavy = sorted(set(report["imported"]) & set(HEAVY_MODULES))
    assert not heavy, f"`import keras_trt` imported {heavy}"
    assert report["resolved"] == names
    for key, (model, loss, metrics) in models.items():
        loaded = report["models"][key]
        assert loaded["class"] == "SpikingModel" and loaded["is_spiking_model"], loaded
        assert loaded["loss"] == (None if loss is None else type(loss).__name__), loaded
    assert report["models"]["resnet19"]["metrics"] == \
        ["TemporalAccuracy", "TemporalCrossEntropy"]
    with np.load(spec["predictions"]) as predictions:
        for key in models:
            assert np.abs(expected[key]).max() > 0, key
            np.testing.assert_array_equal(predictions[key], expected[key], err_msg=key)
