"""The keras-tuner search, and one-line errors for bad arguments."""

import json
import subprocess
import sys
import tomllib

import keras
import numpy as np
import pytest

import keras_trt as kt
from tests.support import BACKEND, stderr_lines
from tests.recipes.run_folder import RECIPES, ROOT


def test_tuner_two_trials_reports_best(recipe_module, tmp_path, capsys):
    out = tmp_path / "tune"
    summary = recipe_module("tune_trt").main(
        ["--max-trials", "2", "--epochs", "1", "--max-steps", "1", "--batch-size", "16",
         "--timesteps", "4", "--widths", "4,8", "--verbose", "0", "--seed", "0",
         *(["--jit", "off"] if keras.backend.backend() == "tensorflow" else []),
         "--output-dir", str(out)])
    rows = summary["best_trials"]
    assert len(rows) == 2 and rows[0]["score"] is not None
    assert rows[0]["score"] >= rows[1]["score"]
    assert {"eta", "lam", "decay", "learning_rate"} <= set(rows[0])
    assert json.loads((out / "best_trials.json").read_text())["best_trials"][0]["trial_id"] \
        == rows[0]["trial_id"]
    printed = capsys.readouterr().out
    assert "val_accuracy" in printed and "learning_rate" in printed


@pytest.mark.skipif(keras.backend.backend() == "tensorflow",
                    reason="checks the torch and JAX backends (each in its own test run)")
def test_tuning_module_does_not_import_tensorflow():
    code = ("import sys, keras_trt.tuning as t; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
            "assert t.TUNERS == ('random', 'bayesian', 'hyperband')")
    env = {"KERAS_BACKEND": keras.backend.backend(), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _run(script, *args):
    return subprocess.run([sys.executable, str(RECIPES / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.backend_independent
@pytest.mark.parametrize("script,args,needle", [
    ("cifar10_resnet19.py", ["--method", "foo"], "invalid choice: 'foo'"),
    ("dvs_cifar10_vggsnn.py", ["--epochs", "-3"], "must be a positive integer"),
    ("ncaltech101_vggsnn.py", ["--data-dir", "/no/such/folder"], "does not exist"),
    ("cifar100_resnet19.py", ["--timesteps", "5"], "invalid choice: 5"),
    ("quickstart.py", ["--methods", "trt,xyz"], "unknown method"),
    ("tune_trt.py", ["--tuner", "grid"], "invalid choice: 'grid'"),
    ("tune_trt.py", ["--recipe", "mnist"], "invalid choice"),
])
def test_bad_arguments_exit_with_one_line(script, args, needle):
    done = _run(script, *args)
    assert done.returncode != 0
    lines = stderr_lines(done.stderr)
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in done.stderr, lines


def test_missing_dataset_is_one_line(tmp_path, recipe_module):
    """An existing but empty --data-dir: the loader's FileNotFoundError as one line."""
    with pytest.raises(SystemExit) as info:
        recipe_module("dvs_cifar10_vggsnn").main(
            ["--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"),
             "--epochs", "1", "--verbose", "0"])
    message = str(info.value)
    assert message.startswith("error: ") and "\n" not in message
    assert "CIFAR10DVS" in message or "dvs_cifar10" in message


def test_tune_extra_exists():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert {"keras-tuner", "tensorboard"} <= {r.split(">")[0].split("=")[0]
                                             for r in extras["tune"]}


def _tiny_spiking_model():
    inputs = keras.Input((4, 3))
    h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(4))(inputs))
    return kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(2))(h))


def test_a_search_with_seed_0_draws_the_same_trials_every_run(tmp_path):
    """keras-tuner reads seed 0 as "no seed"; make_tuner's seed fixes the trials whatever
    its value (two runs of docs/tuning.md's search, seed 0, tiny model and budget)."""
    if BACKEND != "torch":
        pytest.skip("keras-tuner's seeding is backend-independent: torch process only "
                    "(CI time)")
    seed = 0
    from keras_trt.tuning import TRTHyperModel, make_tuner
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 2.0, (8, 4, 3)).astype("float32")
    y = np.arange(8) % 2

    def search(run):
        hypermodel = TRTHyperModel(_tiny_spiking_model, decay=[0.25, 0.5],
                                   learning_rate=1e-3, seed=seed)
        tuner = make_tuner(hypermodel, "random", max_trials=2, overwrite=True, seed=seed,
                           directory=str(tmp_path / f"run{run}"))
        tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=8, verbose=0)
        trials = sorted(tuner.oracle.trials.values(), key=lambda trial: trial.trial_id)
        return [trial.hyperparameters.values for trial in trials]

    first, second = search(0), search(1)
    assert len(first) == 2 and first[0] != first[1]   # two different draws ...
    assert first == second                            # ... repeated by the second run


def test_tuner_seed_shifts_every_seed_and_refuses_others():
    from keras_trt.tuning import tuner_seed
    assert [tuner_seed(s) for s in (None, 0, 1, 2 ** 32 - 2)] == [None, 1, 2, 2 ** 32 - 1]
    for bad in (-1, 2 ** 32 - 1, 1.5, "0", True):
        with pytest.raises(ValueError, match=r"make_tuner: seed must be an integer in \[0, \d+\] or None, got seed="):
            tuner_seed(bad)
