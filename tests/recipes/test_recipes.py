"""Every recipe runs end to end (tiny genuine-format data, tiny widths, `--max-steps`),
and its run folder holds what the docs promise: the log's columns and results.json's keys
of the recipes before keras_trt.experiments (bf8ff99). The presets' values are tested in
tests/experiments/test_presets.py."""

import json
import os

import keras
import pytest

from tests.recipes.run_folder import (DATASET_KEYS, HYPERPARAMETER_KEYS, LOG_HEADER,
                                      RESULTS_KEYS)

BACKEND = keras.backend.backend()
# Small enough for a 2-core CPU; the code path is the full recipe's. TensorFlow's XLA
# compilation of a deep SNN costs 25-80 s on 2 cores, so there the smoke runs train
# without XLA (the resume test covers the XLA path); JAX is slower eagerly than compiled.
COMMON = ["--epochs", "1", "--max-steps", "1", "--batch-size", "4", "--verbose", "0",
          "--seed", "0", *(["--jit", "off"] if BACKEND == "tensorflow" else [])]
# The deepest networks cost 50-90 s per run on JAX (2 cores); they run on torch and
# TensorFlow, the other recipes on every backend.
SKIP_ON_JAX = {"cifar100_resnet19", "imagenet100_sew_resnet34"}

CASES = {
    "cifar10_resnet19": ("cifar_root", ["--timesteps", "2", "--widths", "4,8,8,8"]),
    "cifar100_resnet19": ("cifar_root", ["--timesteps", "2", "--widths", "4,8,8,8",
                                         "--method", "tet"]),
    "imagenet100_sew_resnet34": ("imagenet_root", ["--timesteps", "2", "--widths", "4,4,8,8",
                                                   "--image-size", "32"]),
    "dvs_cifar10_vggsnn": ("dvs_cifar10_root", ["--timesteps", "4", "--widths", "4,8",
                                                "--frame-size", "16", "--method", "sdt",
                                                "--observe-fi", "all", "--fi-batches", "1"]),
    "ncaltech101_vggsnn": ("ncaltech101_root", ["--timesteps", "4", "--widths", "4,8",
                                                "--frame-size", "16"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_recipe_end_to_end(name, recipe_module, request, tmp_path):
    if BACKEND == "jax" and name in SKIP_ON_JAX:
        pytest.skip("deep network: runs on the torch and TensorFlow backends (time budget)")
    fixture, extra = CASES[name]
    data_dir = request.getfixturevalue(fixture)
    out = tmp_path / "run"
    results = recipe_module(name).main(
        [*COMMON, *extra, "--data-dir", str(data_dir), "--output-dir", str(out)])
    for f in ("results.json", "log.csv", "best.keras", "last.keras", "logs",
              "backup/state.json"):
        assert (out / f).exists(), f
    saved = json.loads((out / "results.json").read_text())
    assert saved["backend"] == keras.backend.backend()
    assert saved["epochs"] == 1 and saved["dataset"]["name"] == results["dataset"]["name"]
    assert 0.0 <= saved["final_test_accuracy"] <= 1.0
    assert saved["best_test_accuracy"] >= saved["final_test_accuracy"]
    assert "is the paper's protocol" in saved["metric_note"]
    # the best epoch is chosen on a validation split held out of the training data
    assert saved["selected_on"] == "validation" and saved["dataset"]["validation_steps"] >= 1
    assert saved["test_accuracy_at_best_epoch"] == saved["final_test_accuracy"]   # 1 epoch
    hp = saved["hyperparameters"]
    assert hp["optimizer"].startswith("Adam") and hp["data_dir"] == str(data_dir)
    assert (out / "log.csv").read_text().splitlines()[0] == LOG_HEADER
    assert set(saved) == RESULTS_KEYS and set(saved["dataset"]) == DATASET_KEYS
    assert set(saved["hyperparameters"]) >= HYPERPARAMETER_KEYS
    if "--observe-fi" in extra:   # FI(t) and IC after every epoch, in the run folder
        rows = (out / "fisher.csv").read_text().splitlines()
        assert rows[0] == "epoch,ic,fi_1,fi_2,fi_3,fi_4" and rows[1].startswith("1,")
        assert os.path.getsize(out / "fisher.png") > 1000

