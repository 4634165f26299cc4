"""`.keras` files of keras-trt models load in a fresh process that only ran
`import keras, keras_trt`, and predict the same under every backend.

Budget: the fresh-process test starts one child process (all loads) per backend run. The
cross-backend test starts its own process per backend, so the backend of the pytest
process does not matter: it runs in the tensorflow run only. It trains a small VGGSNN
under the three backends at once, then loads the three files under the three backends at
once (about 60-70 s of CPU time in all, ~35 s on two idle cores).
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import to_numpy
from tests.support import BACKEND
from tests.models.paper_models import (TINY_BUILDERS, random_input, random_labels,
                                  randomise_bn_statistics)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY_MODULES = ("tensorflow", "tonic", "matplotlib", "keras_tuner", "sklearn")


def _run_python(code, args, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(runs, timeout):
    """Waits up to `timeout` s for {label: Popen}; fails with each failed child's stderr."""
    deadline = time.monotonic() + timeout
    failures = []
    for label, run in runs.items():
        try:
            _, err = run.communicate(timeout=max(1.0, deadline - time.monotonic()))
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
    h = kt.TimeDistributed(kt.spatial.FastConv2D(4, 3, padding="same", use_bias=False))(h)
    h = kt.IF(surrogate=kt.surrogates.ATan(3.0))(kt.TemporalBatchNorm()(h))
    h = kt.TimeDistributed(kt.spatial.FastMaxPooling2D(2))(h)
    h = kt.TimeDistributed(kt.spatial.FastAveragePooling2D(2))(h)
    h = kt.TimeDistributed(keras.layers.Flatten())(h)
    outputs = kt.TimeAverage()(kt.TimeDistributed(keras.layers.Dense(3))(h))
    return kt.SpikingModel(inputs, outputs, name="every_layer")


def _logits_and_spikes(model, x):
    lifs = [layer.output for layer in model.layers if isinstance(layer, kt.LIF)]
    return [to_numpy(y) for y in keras.Model(model.inputs, [model.output] + lifs)([x])]


def _spread_batch_norm_statistics(model, seed=0):
    """Moving statistics and affine parameters away from their initial values, so that
    inference depends on every one of them and the deep layers spike."""
    randomise_bn_statistics(model, seed)


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
    lifs = [layer.output for layer in model.layers if isinstance(layer, keras_trt.LIF)]
    probe = keras.Model(model.inputs, [model.output] + lifs)
    for i, y in enumerate(probe([inputs[key]], training=False)):
        predictions[f"{key}/{i}"] = keras.ops.convert_to_numpy(y)
np.savez(spec["predictions"], **predictions)
json.dump({"imported": imported, "resolved": resolved, "models": models},
          open(spec["report"], "w"))
'''


def test_keras_files_load_in_a_fresh_process_after_import_keras_trt(tmp_path):
    names = _registered_keras_trt_classes()
    # keras_trt>Conv2D and keras_trt>Dense: files saved before FastConv2D and
    # Float64ExactDense had these names load as them
    assert {"keras_trt>FastConv2D", "keras_trt>Conv2D", "keras_trt>Dense", "keras_trt>TileTime",
            "keras_trt>LIF", "keras_trt>TRTLoss", "keras_trt>SpikingModel",
            "keras_trt>Triangle"} <= set(names)
    assert names["keras_trt>Conv2D"] == names["keras_trt>FastConv2D"]

    # (model, compiled loss, metrics); the first trains one step, so that its file holds
    # optimizer variables too (a step of each would cost JAX a compilation each)
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
        if loss is not None:
            model.compile(optimizer="adam", loss=loss, metrics=metrics)
        if key == "vggsnn":
            model.fit(random_input(model), random_labels(model), epochs=1, verbose=0)
        _spread_batch_norm_statistics(model)
        inputs[key] = random_input(model, batch=3, seed=7)
        expected[key] = _logits_and_spikes(model, inputs[key])
        spec["files"][key] = str(tmp_path / f"{key}.keras")
        model.save(spec["files"][key])
    np.savez(spec["inputs"], **inputs)
    (tmp_path / "spec.json").write_text(json.dumps(spec))

    _wait({"loader": _run_python(_FRESH_LOADER, [tmp_path / "spec.json"], BACKEND)}, 240)

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
            logits, *spikes = expected[key]
            # the deeper half of the LIF layers spikes: the comparison covers every weight
            assert max(s.mean() for s in spikes[len(spikes) // 2:]) > 0.01, key
            for i, y in enumerate(expected[key]):
                np.testing.assert_array_equal(predictions[f"{key}/{i}"], y,
                                              err_msg=f"{key} output {i}")


# -------------------------------------------------------------- across the backends
BACKENDS = ("torch", "tensorflow", "jax")
BATCH = 4

_TRAIN_AND_SAVE = r"""
import sys
import numpy as np, keras
import keras_trt as kt

out, backend = sys.argv[1], keras.backend.backend()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
# The unrolled time loop: the loaders call the model eagerly (JAX's scan would compile
# its body at every call).
model = kt.models.VGGSNN(num_classes=4, input_shape=(4, 16, 16, 2), widths=(8,) * 8,
                         time_loop="unroll")
x = rng.uniform(0.0, 2.0, (16, 4, 16, 16, 2)).astype("float32")
y = rng.integers(0, 4, 16)
# 30 steps bring the moving BatchNorm statistics (momentum 0.1) close enough to the batch
# statistics for every layer to spike at inference. TensorFlow runs them eagerly as fast
# as it compiles them.
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=kt.losses.TRTLoss(lam=1e-4),
              run_eagerly=backend == "tensorflow")
model.fit(x, y, batch_size=8, epochs=15, verbose=0)
model.save(f"{out}/{backend}.keras")
np.savez(f"{out}/{backend}-weights.npz", *[keras.ops.convert_to_numpy(v) for v in model.weights])
"""

_LOAD_AND_PREDICT = r"""
import glob, os, sys
import numpy as np, keras
import keras_trt as kt

folder, outputs = sys.argv[1], {}
x = np.load(os.path.join(folder, "inputs.npy"))
for path in sorted(glob.glob(os.path.join(folder, "*.keras"))):
    saved_by = os.path.basename(path)[:-len(".keras")]
    model = keras.saving.load_model(path)
    assert isinstance(model.trt_loss(), kt.losses.TRTLoss), model.loss
    for i, v in enumerate(model.weights):
        outputs[f"{saved_by}/weights/{i:03d}"] = keras.ops.convert_to_numpy(v)
    lifs = [layer.output for layer in model.layers if isinstance(layer, kt.LIF)]
    probe = keras.Model(model.inputs, lifs + [model.output])
    # inference (moving BatchNorm statistics) first: training=True updates them
    for mode, training in (("inference", False), ("training", True)):
        *spikes, logits = probe([x], training=training)
        outputs[f"{saved_by}/{mode}/logits"] = keras.ops.convert_to_numpy(logits)
        for i, s in enumerate(spikes):
            outputs[f"{saved_by}/{mode}/spikes{i}"] = \
                keras.ops.convert_to_numpy(s).astype("uint8")
np.savez(os.path.join(folder, f"loaded-by-{keras.backend.backend()}.npz"), **outputs)
"""


def _compare_outputs(reference, other, label):
    """Spikes equal and logits within 1e-5, per sample; one sample may differ.

    Float32 rounding differs between backends (~1e-7): a membrane potential that close to
    the threshold flips a spike, and the flip spreads through that sample's later layers
    and timesteps. An error in the file (weights, statistics, configuration) changes
    every sample, so one sample with a flip is tolerated, no more. Returns the number of
    samples with a flipped spike.
    """
    flipped = np.zeros(BATCH, bool)
    for key in (k for k in reference if "/spikes" in k):
        flipped |= (reference[key] != other[key]).reshape(BATCH, -1).any(axis=1)
    assert flipped.sum() <= 1, f"{label}: spikes differ in samples {np.flatnonzero(flipped)}"
    logits = next(k for k in reference if k.endswith("/logits"))
    np.testing.assert_allclose(other[logits][~flipped], reference[logits][~flipped],
                               rtol=0, atol=1e-5, err_msg=label)
    return int(flipped.sum())


@pytest.mark.backend_independent
def test_trained_vggsnn_predicts_the_same_after_loading_under_every_backend(tmp_path):
    """Train and save under each backend, load each file under each backend (all six
    directions): the loaded variables equal the trained ones, and spikes and logits of
    every layer equal those under the saving backend, at inference and in training mode.

    (Measured: no spike differs and the logits agree within 3e-7. A small ResNet-19 too
    would add about 25 s of CPU time to the ~65 s this takes, for the same kind of check.)
    """
    _wait({f"train {b}": _run_python(_TRAIN_AND_SAVE, [tmp_path], b) for b in BACKENDS}, 300)
    x = np.random.default_rng(5).uniform(0.0, 2.0, (BATCH, 4, 16, 16, 2)).astype("float32")
    np.save(tmp_path / "inputs.npy", x)
    _wait({f"load {b}": _run_python(_LOAD_AND_PREDICT, [tmp_path], b) for b in BACKENDS}, 300)

    loaded = {b: dict(np.load(tmp_path / f"loaded-by-{b}.npz")) for b in BACKENDS}
    flips = {}
    for saved_by in BACKENDS:
        with np.load(tmp_path / f"{saved_by}-weights.npz") as saved:
            trained = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        for loaded_by in BACKENDS:
            weights = [v for k, v in sorted(loaded[loaded_by].items())
                       if k.startswith(f"{saved_by}/weights/")]
            assert len(weights) == len(trained) == 8 * 5 + 2, (saved_by, loaded_by)
            for i, (a, b) in enumerate(zip(weights, trained)):
                np.testing.assert_array_equal(a, b, err_msg=f"{saved_by} weight {i}")
        for mode in ("inference", "training"):
            prefix = f"{saved_by}/{mode}/"
            reference = {k: v for k, v in loaded[saved_by].items() if k.startswith(prefix)}
            # every layer spikes, so every weight and statistic shapes the output
            rates = [reference[f"{prefix}spikes{i}"].mean() for i in range(8)]
            assert min(rates) > 0.01, f"{prefix}: spike rates {rates}"
            assert np.ptp(reference[prefix + "logits"], axis=0).max() > 0.1, prefix
            for loaded_by in BACKENDS:
                if loaded_by != saved_by:
                    other = {k: v for k, v in loaded[loaded_by].items()
                             if k.startswith(prefix)}
                    flips[prefix + loaded_by] = _compare_outputs(
                        reference, other, f"{prefix} loaded by {loaded_by}")
    assert len(flips) == 2 * 6
