"""Every recipe runs end to end (tiny genuine-format data, tiny widths, `--max-steps`),
and its run folder holds what the docs promise."""

import json
import os

import keras
import pytest

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
    assert (out / "log.csv").read_text().startswith("epoch,")
    if "--observe-fi" in extra:   # FI(t) and IC after every epoch, in the run folder
        rows = (out / "fisher.csv").read_text().splitlines()
        assert rows[0] == "epoch,ic,fi_1,fi_2,fi_3,fi_4" and rows[1].startswith("1,")
        assert os.path.getsize(out / "fisher.png") > 1000


def test_paper_defaults(recipe_module):
    """Defaults as paper Table S2 (docs/method.md, Hyperparameters): epochs, batch, lr, T,
    tau, eta/lambda/delta/eps."""
    import _common as common

    expect = {
        "cifar10_resnet19": (0.05, 1e-5, 0.25, 2.0, 6),
        "cifar100_resnet19": (0.05, 1e-5, 0.25, 2.0, 6),
        "imagenet100_sew_resnet34": (0.001, 5e-5, 0.5, 1.0, 4),
        "dvs_cifar10_vggsnn": (0.001, 5e-5, 0.5, 2.0, 10),
        "ncaltech101_vggsnn": (0.05, 5e-5, 0.5, 2.0, 10),
    }
    for name, (eta, lam, decay, tau, T) in expect.items():
        args = common.build_parser(recipe_module(name).RECIPE).parse_args([])
        assert (args.eta, args.lam, args.decay, args.epsilon) == (eta, lam, decay, 1e-5), name
        assert (args.tau, args.timesteps, args.epochs, args.batch_size, args.lr) == (
            tau, T, 300, 64, 1e-3), name
        assert args.method == "trt"
    # The compiled optimizer anneals the rate per epoch: lr0 / 2 (1 + cos(pi e / epochs)),
    # constant within an epoch (here 3 steps).
    quick = recipe_module("quickstart")
    args = common.parse_args(quick.RECIPE, ["--timesteps", "2", "--widths", "2,2",
                                            "--epochs", "4", "--lr", "0.001"])
    model = common.compile_model(quick.build_model(args), args, steps_per_epoch=3)
    optimizer = model.optimizer
    expected = [1e-3, 0.5e-3 * (1 + 2 ** -0.5), 0.5e-3, 0.5e-3 * (1 - 2 ** -0.5), 0.0]
    for epoch, rate in enumerate(expected):
        for step in range(3 * epoch, 3 * epoch + 3):
            optimizer.iterations.assign(step)
            assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == \
                pytest.approx(rate, rel=1e-6, abs=1e-12), (epoch, step)
