"""The analyses of a run folder (keras_trt.experiments.analyze_run, through the analyze
command's flags: recipes/analyze.py) on a tiny fake run directory."""

import json

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.experiments.cli import analyze
from tests.analysis.models import data, mlp_snn


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    model = mlp_snn(T=3, hidden=(6, 5))
    model.compile(optimizer="adam", loss=kt.losses.TRTLoss())
    x, y = data(24, T=3)
    model.save(str(run / "best.keras"))
    with open(run / "log.csv", "w") as f:
        f.write("accuracy,epoch,loss,val_accuracy,val_loss\n")
        for e in range(4):
            f.write(f"{0.4 + 0.1 * e},{e},{1.2 - 0.1 * e},{0.3 + 0.1 * e},{1.3 - 0.1 * e}\n")
    with open(run / "results.json", "w") as f:
        json.dump({"dataset": "tiny_fake", "data_args": {"T": 3, "unused": 1},
                   "hyperparameters": {"method": "trt"}}, f)
    np.savez(run / "data.npz", x=x, y=y)
    return run


def test_analyze_with_npz(run_dir, tmp_path):
    out = tmp_path / "report"
    report = analyze.main(["--run", str(run_dir), "--data-npz", str(run_dir / "data.npz"),
                           "--output", str(out), "--samples", "16", "--batch-size", "8",
                           "--fisher-batches", "2", "--landscape-steps", "3",
                           "--verbose", "0"])
    for name in ("firing_rates", "firing_rates_per_timestep", "fisher", "landscape",
                 "learning_curves"):
        path = out / f"{name}.png"
        assert path.is_file() and path.stat().st_size > 1000, name
    with open(out / "report.json") as f:
        saved = json.load(f)
    assert list(saved["firing_rates"]) == ["lif1", "lif2"]
    assert saved["sops_per_sample"]["total"] >= 0
    assert len(saved["fisher"]["fisher"]) == 3 and 1 <= saved["fisher"]["ic"] <= 3
    assert np.array(saved["landscape"]["loss"]).shape == (3, 3)
    assert saved["curves"]["TRT"]["val_accuracy"]["best_epoch"] == 4
    assert saved["data"]["samples"] == 16
    assert report["checkpoint"].endswith("best.keras")


def test_analyze_with_dataset_loader_from_results(run_dir, tmp_path, monkeypatch):
    x, y = data(24, T=3)
    calls = []

    def tiny_fake(split="train", batch_size=64, T=10, data_dir=None):
        calls.append((split, batch_size, T))
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, 24, batch_size)]

    monkeypatch.setattr(kt.data, "tiny_fake", tiny_fake, raising=False)
    analyze.main(["--run", str(run_dir), "--output", str(tmp_path), "--samples", "8",
                  "--batch-size", "8", "--fisher-batches", "1", "--fisher-batch-size", "8",
                  "--skip", "curves", "landscape", "--verbose", "0"])
    assert ("test", 8, 3) in calls and ("train", 8, 3) in calls
    assert (tmp_path / "report.json").is_file()


def test_landscape_on_unaugmented_training_samples_and_fisher_on_the_training_stream(
        run_dir, tmp_path, monkeypatch):
    """Landscape: the training split without augmentation, in a seeded random order (Li et
    al.'s tool evaluates the training loss); Fisher: the shuffled, augmented training
    stream, 64 per batch, a fresh pass per t (the reference). Settings go to the files."""
    x, y = data(24, T=3)
    calls = []

    def tiny_fake(split="train", batch_size=64, T=10, data_dir=None, augment=None,
                  shuffle=None, seed=None):
        calls.append({"split": split, "batch_size": batch_size, "augment": augment,
                      "shuffle": shuffle, "seed": seed})
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, 24, batch_size)]

    monkeypatch.setattr(kt.data, "tiny_fake", tiny_fake, raising=False)
    out = tmp_path / "report"
    report = analyze.main(["--run", str(run_dir), "--output", str(out), "--samples", "12",
                           "--fisher-batches", "1", "--landscape-steps", "3", "--seed", "5",
                           "--skip", "curves", "rates", "energy", "early_exit",
                           "--verbose", "0"])
    fisher_call, landscape_call = calls
    assert fisher_call == {"split": "train", "batch_size": 64, "augment": None,
                           "shuffle": True, "seed": 5}
    assert landscape_call["split"] == "train" and landscape_call["augment"] is False
    assert landscape_call["shuffle"] is True and landscape_call["seed"] == 5
    assert report["fisher"]["stream"] == "per_prefix" and report["fisher"]["batches"] == 1
    with open(out / "landscape.json") as f:
        saved = json.load(f)
    assert (saved["steps"], saved["span"], saved["samples"], saved["seed"], saved["split"],
            saved["augmentation"]) == (3, 1.0, 12, 5, "train", False)
    assert np.array(saved["runs"]["TRT"]["loss"]).shape == (3, 3)
    assert (out / "landscape_1d.png").stat().st_size > 1000


def test_compared_runs_share_samples_seed_and_plot_scales(run_dir, tmp_path):
    other = tmp_path / "sdt_run"
    other.mkdir()
    model = mlp_snn(T=3, hidden=(6, 5), seed=1)
    model.save(str(other / "best.keras"))
    with open(other / "results.json", "w") as f:
        json.dump({"method": "sdt"}, f)
    out = tmp_path / "report"
    report = analyze.main(["--run", str(run_dir), "--data-npz", str(run_dir / "data.npz"),
                           "--compare", str(other), "--output", str(out), "--samples", "8",
                           "--landscape-steps", "3", "--skip", "curves", "rates", "fisher",
                           "--verbose", "0"])
    runs = report["landscape"]["runs"]
    assert sorted(runs) == ["SDT", "TRT"]
    assert not np.allclose(runs["SDT"]["loss"], runs["TRT"]["loss"])
    # Each run's surface is its own model's on the same 8 samples and seed.
    from keras_trt.analysis import loss_landscape

    x, y = np.load(run_dir / "data.npz")["x"][:8], np.load(run_dir / "data.npz")["y"][:8]
    np.testing.assert_allclose(
        runs["SDT"]["loss"], loss_landscape(model, (x, y), steps=3, seed=0)["loss"], rtol=1e-5)
    assert (out / "landscape.png").stat().st_size > 1000


def test_analyze_errors(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        analyze.main(["--run", str(run_dir), "--dataset", "no_such_dataset",
                      "--output", str(tmp_path), "--skip", "fisher", "curves"])
    assert "no dataset loader 'no_such_dataset'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        analyze.main(["--run", str(tmp_path / "missing")])
    with pytest.raises(SystemExit):
        analyze.main(["--run", str(tmp_path)])  # no checkpoint
    assert "no .keras checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        analyze.main(["--run", str(run_dir), "--landscape-steps", "4"])
    assert "--landscape-steps must be odd" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        analyze.main(["--run", str(run_dir), "--early-exit-thresholds", "0.5", "1.5"])
    assert "--early-exit-thresholds must lie in [0, 1], got [1.5]" in capsys.readouterr().err


def test_dataset_from_results():
    from keras_trt.experiments import analyze

    assert analyze.dataset_from_results({"dataset": "digits_dvs"}) == ("digits_dvs", {})
    assert analyze.dataset_from_results(
        {"args": {"dataset": "cifar10", "data_dir": "/d"}}) == ("cifar10", {"data_dir": "/d"})
    assert analyze.dataset_from_results(
        {"dataset": {"name": "dvs_cifar10", "args": {"T": 10}}}) == ("dvs_cifar10", {"T": 10})
    assert analyze.dataset_from_results({}) == (None, {})
    # The layout keras_trt.experiments.train writes.
    results = {"dataset": {"name": "digits_dvs", "train_loader_args": {"augment": True},
                           "test_loader_args": {"augment": False}}}
    assert analyze.dataset_from_results(results, "train") == ("digits_dvs", {"augment": True})
    assert analyze.dataset_from_results(results, "test") == ("digits_dvs", {"augment": False})
