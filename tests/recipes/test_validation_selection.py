"""Recipes select the best epoch on a validation split held out of the training data;
the paper's protocol (best test accuracy) stays available as --select-on test."""

import json

import keras
import pytest

BACKEND = keras.backend.backend()
ARGV = ["--epochs", "2", "--max-steps", "2", "--batch-size", "16", "--timesteps", "2",
        "--widths", "4,8", "--verbose", "0", "--seed", "0", "--method", "sdt",
        *(["--jit", "off"] if BACKEND == "tensorflow" else [])]


def _best(acc, loss):
    return max(range(len(acc)), key=lambda i: (acc[i], -loss[i])) + 1


def test_best_epoch_follows_validation_by_default(recipe_module, tmp_path):
    common = recipe_module("_common")
    recipe = recipe_module("quickstart").RECIPE
    args = common.parse_args(recipe, [*ARGV, "--output-dir", str(tmp_path / "v")])
    assert (args.select_on, args.validation_fraction) == ("validation", 0.1)
    res = common.train(recipe, args)
    log = common.read_log(tmp_path / "v")
    for column in ("val_accuracy", "val_mean_logit_crossentropy", "test_accuracy",
                   "test_mean_logit_crossentropy", "accuracy"):
        assert len(log[column]) == 2, column
    best = _best(log["val_accuracy"], log["val_mean_logit_crossentropy"])
    assert res["selected_on"] == "validation" and res["best_epoch"] == best
    assert res["best_validation_epoch"] == best
    assert res["test_accuracy_at_best_epoch"] == log["test_accuracy"][best - 1]
    assert res["final_test_accuracy"] == pytest.approx(log["test_accuracy"][-1])
    assert res["best_test_accuracy"] == max(log["test_accuracy"])
    saved = json.loads((tmp_path / "v" / "results.json").read_text())
    assert saved["dataset"]["validation_loader_args"]["validation_fraction"] == 0.1
    assert saved["dataset"]["validation_steps"] == 2


def test_select_on_test_is_the_papers_protocol(recipe_module, tmp_path):
    common = recipe_module("_common")
    recipe = recipe_module("quickstart").RECIPE
    args = common.parse_args(recipe, [*ARGV, "--select-on", "test",
                                      "--output-dir", str(tmp_path / "t")])
    assert args.validation_fraction == 0.0      # trains on the whole training split
    res = common.train(recipe, args)
    log = common.read_log(tmp_path / "t")
    assert "val_accuracy" not in log
    assert res["best_epoch"] == _best(log["test_accuracy"],
                                      log["test_mean_logit_crossentropy"])
    assert res["best_validation_accuracy"] is None


def test_select_on_validation_needs_a_split(recipe_module, capsys):
    common = recipe_module("_common")
    recipe = recipe_module("quickstart").RECIPE
    with pytest.raises(SystemExit):
        common.parse_args(recipe, ["--validation-fraction", "0"])
    assert "--select-on validation needs --validation-fraction > 0" in capsys.readouterr().err
