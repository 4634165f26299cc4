"""The quick start (reduced budget): the table, the study's finding after it, and the
files it writes (run folders with the recipes' log columns and results.json keys).
Training, resuming and the refusals of a run folder are tested on the library
(tests/experiments/test_training.py)."""

import json

import keras
import pytest

from tests.recipes.run_folder import LOG_HEADER, RESULTS_KEYS

BACKEND = keras.backend.backend()
TINY = ["--epochs", "1", "--max-steps", "1", "--batch-size", "16", "--timesteps", "4",
        "--widths", "4,8", "--verbose", "0", "--seed", "0",
        *(["--jit", "off"] if BACKEND == "tensorflow" else [])]
# All three methods on torch; two elsewhere (each method compiles its own step).
METHODS = ("sdt", "tet", "trt") if BACKEND == "torch" else ("sdt", "trt")


def test_quickstart_reduced_budget(recipe_module, tmp_path, capsys):
    out = tmp_path / "qs"
    summary = recipe_module("quickstart").main(
        [*TINY, "--methods", ",".join(METHODS), "--output-dir", str(out)])
    printed = capsys.readouterr().out
    for method in METHODS:
        assert method.upper() in printed.split("train acc")[-1]
    assert "gap" in printed
    assert "python recipes/study.py" in printed.split("gap")[-1]   # the study's finding
    for f in ("results.json", "table.txt", "learning_curves.png", "sdt/log.csv",
              "trt/results.json", "trt/best.keras"):
        assert (out / f).exists(), f
    saved = json.loads((out / "results.json").read_text())
    assert [m["method"] for m in saved["methods"]] == list(METHODS)
    for row in saved["methods"]:
        assert row["gap"] == pytest.approx(row["train_accuracy"] - row["test_accuracy"])
    assert saved == json.loads(json.dumps(summary))
    assert set(saved) == {"dataset", "model", "epochs", "batch_size", "seed", "timesteps",
                          "max_steps", "backend", "wall_time_s", "select_on",
                          "validation_fraction", "train_samples", "note", "methods"}
    assert (out / "sdt" / "log.csv").read_text().splitlines()[0] == LOG_HEADER
    assert set(json.loads((out / "trt" / "results.json").read_text())) == RESULTS_KEYS
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"

