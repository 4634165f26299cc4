"""`python -m keras_trt.experiments COMMAND` and the `keras-trt` console script: the
commands, their one-line errors, and the dispatch to the presets."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from keras_trt.experiments import PRESETS, cli
from keras_trt.experiments.cli import study
from tests.support import stderr_lines

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.backend_independent
def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"keras-trt": "keras_trt.experiments.cli:console_main"}


@pytest.mark.backend_independent
def test_usage_names_every_preset_and_command(capsys):
    assert cli.main([]) is None
    usage = capsys.readouterr().out
    for name in [*PRESETS, *cli.COMMANDS]:
        assert name in usage, name
    with pytest.raises(SystemExit, match="unknown command 'mnist'; choose a preset"):
        cli.main(["mnist"])


@pytest.mark.backend_independent
@pytest.mark.parametrize("argv,needle", [
    (["quickstart", "--methods", "trt,xyz"], "keras-trt quickstart: error: argument --methods: "
                                             "unknown method 'xyz'"),
    (["cifar10_resnet19", "--timesteps", "5"], "invalid choice: 5"),
    (["study", "--resume"], "the study resumes by itself"),
])
def test_bad_flags_end_with_one_line(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.backend_independent
def test_python_dash_m_runs_the_commands():
    done = subprocess.run([sys.executable, "-m", "keras_trt.experiments", "study", "--grid",
                           "tau=1,2"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = stderr_lines(done.stderr)
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "PARAM one of eta, lam, decay, epsilon" in lines[0]


@pytest.mark.backend_independent
def test_grid_flags_make_one_sweep_each():
    _, args, sweeps = study.parse_args(["--grid", "lam=1e-5,5e-5", "--grid", "decay=0,1",
                                        "--grid", "lam=1e-4,1e-5"])
    assert sweeps == {"lam": [1e-5, 5e-5, 1e-4], "decay": [0.0, 1.0]}
    assert (args.epochs, args.train_samples, args.seed, args.seeds) == (20, 300, 0, 5)
    preset, args, sweeps = study.parse_args(["--preset", "dvs_cifar10_vggsnn"])
    assert sweeps == {} and args.epochs == 300 and args.frame_size == 48
