"""A preset's runs from the command line record the settings that today's run folders
hold, so run folders written by the recipes before keras_trt.experiments existed (recipes
at bf8ff99) resume; and a resume with other settings, or into a folder that holds a run,
ends with one line naming the flags."""

import json

import pytest

from keras_trt.experiments import get_preset, run_folder
from keras_trt.experiments.cli import arguments, preset_runs
from keras_trt.experiments.cli import study as study_command
from keras_trt.experiments.errors import ExperimentError, RunFolderError

# backup/state.json's "config" as recipes/quickstart.py --methods trt wrote it (bf8ff99).
QUICKSTART_CONFIG = {
    "method": "trt", "eta": 0.001, "lam": 5e-05, "decay": 0.5, "epsilon": 1e-05,
    "tet_lam": 0.001, "tet_phi": 1.0, "tau": 2.0, "timesteps": 10, "widths": None,
    "epochs": 5, "batch_size": 32, "lr": 0.001, "seed": 42, "max_steps": None,
    "mixed_precision": None, "select_on": "validation", "validation_fraction": 0.1,
    "validation_seed": 0, "train_samples": None}


class Captured(Exception):
    pass


@pytest.fixture
def captured_config(monkeypatch):
    """Stops `train` where it opens the run folder and keeps the config it records."""
    seen = []

    def capture(output_dir, select_on="validation", config=None, resume=False,
                overwrite=False):
        seen.append(config)
        raise Captured

    monkeypatch.setattr(run_folder, "exact_resume", capture)
    return seen


@pytest.mark.backend_independent
def test_quickstart_records_the_config_of_earlier_run_folders(captured_config, tmp_path):
    args = arguments.parse_args(get_preset("quickstart"), ["--output-dir", str(tmp_path)])
    with pytest.raises(Captured):
        preset_runs.train(get_preset("quickstart"), args)
    assert captured_config == [QUICKSTART_CONFIG]


@pytest.mark.backend_independent
def test_study_records_the_config_of_earlier_run_folders(captured_config, tmp_path):
    """recipes/study.py --methods trt --grid lam=5e-4 --seed 3 (bf8ff99): run trt[lam=0.0005]
    seed 3 with the study's budget (20 epochs, 300 training samples)."""
    with pytest.raises(Captured):
        study_command.main(["--methods", "trt", "--grid", "lam=5e-4", "--seed", "3",
                            "--seeds", "1", "--output-dir", str(tmp_path), "--verbose", "0"])
    assert captured_config == [{**QUICKSTART_CONFIG, "lam": 5e-4, "seed": 3, "epochs": 20,
                                "train_samples": 300}]


@pytest.mark.backend_independent
def test_dvs_frames_are_part_of_the_run(tmp_path):
    """--frames changes the data (counts vs the reference's binary frames): a run saved
    with one is not continued with the other."""
    preset = get_preset("dvs_cifar10_vggsnn")
    argv = ["--epochs", "2", "--output-dir", str(tmp_path / "dvs")]
    saved = arguments.parse_args(preset, [*argv, "--frames", "counts"])
    config = {**arguments.run_config(saved)}
    (tmp_path / "dvs" / "backup").mkdir(parents=True)
    (tmp_path / "dvs" / "backup" / "state.json").write_text(json.dumps(
        {"format": 1, "epoch": 1, "config": config}))
    other = arguments.parse_args(preset, [*argv, "--frames", "reference", "--resume"])
    with pytest.raises(RunFolderError) as info:
        run_folder.exact_resume(str(tmp_path / "dvs"), config=arguments.run_config(other),
                                resume=True)
    assert info.value.changed == [("frames", "counts", "reference")]
    with pytest.raises(SystemExit, match="different settings.*--frames counts -> reference"):
        with preset_runs.one_line_errors():
            raise info.value
    assert run_folder.exact_resume(str(tmp_path / "dvs"), config=config,
                                   resume=True).read_state()["epoch"] == 1
    with pytest.raises(SystemExit, match="already holds a run; pass --resume"):
        with preset_runs.one_line_errors():
            run_folder.exact_resume(str(tmp_path / "dvs"), config=config)


@pytest.mark.backend_independent
def test_expected_failures_are_one_line(capsys):
    import keras_trt as kt

    with pytest.raises(SystemExit) as info:
        with preset_runs.one_line_errors():
            raise kt.callbacks.NonFiniteLossError("training stopped: the loss is nan\n at 1")
    assert str(info.value) == "error: training stopped: the loss is nan at 1"
    with pytest.raises(SystemExit, match="^error: select_on"):
        with preset_runs.one_line_errors():
            raise ExperimentError("select_on='validation' needs validation_data")
