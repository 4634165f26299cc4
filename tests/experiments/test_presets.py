"""The presets hold the paper's values: docs/method.md's hyperparameter table is theirs,
every recipe's command line defaults to them, and the compiled optimizer anneals the
learning rate per epoch."""

import re
from pathlib import Path

import keras
import pytest

from keras_trt import experiments
from keras_trt.experiments.cli import arguments

ROOT = Path(__file__).resolve().parents[2]
PAPER = ("cifar10_resnet19", "cifar100_resnet19", "imagenet100_sew_resnet34",
         "dvs_cifar10_vggsnn", "ncaltech101_vggsnn")


def method_table():
    """docs/method.md's Hyperparameters table as {row name: [cells]}."""
    text = (ROOT / "docs" / "method.md").read_text()
    section = text.split("## Hyperparameters", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def _number(cell):
    return float(cell.split()[0].split("/")[0])


@pytest.mark.backend_independent
def test_docs_hyperparameter_table_is_the_presets():
    table = method_table()
    columns = table["recipe"]
    assert len(columns) == 4
    for column, cell in enumerate(columns):
        names = re.findall(r"`(\w+)\.py`", cell)
        assert names, cell
        for name in names:
            p = experiments.get_preset(name)
            hp = p.hyperparameters
            get = lambda row: table[row][column]   # noqa: E731
            assert _number(get("TRT eta")) == hp["eta"], name
            assert _number(get("TRT lambda")) == hp["lam"], name
            assert _number(get("TRT delta (`decay`)")) == hp["decay"], name
            assert _number(get("TRT epsilon")) == hp["epsilon"], name
            tet_lam, tet_phi = (float(v) for v in get(
                "TET lambda / phi (recipes' `--tet-lam`, `--tet-phi`)").split(" / "))
            assert (tet_lam, tet_phi) == (hp["tet_lam"], hp["tet_phi"]), name
            epochs, batch = (int(v) for v in get("epochs / batch").split(" / "))
            assert (epochs, batch) == (p.epochs, p.batch_size), name
            assert _number(get("tau / v_th / v_reset / triangle gamma")) == p.tau, name
            timesteps = [int(t) for t in re.findall(r"\d+", get("T"))]
            assert timesteps == list(p.timestep_choices or (p.timesteps,)), name
            assert int(get("seed")) == p.seed, name
            assert get("network") == p.network, name
            assert get("input") == p.input and get("augmentation") == p.augmentation, name
    assert sorted(n for cell in columns for n in re.findall(r"`(\w+)\.py`", cell)) == \
        sorted(PAPER)


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", PAPER + ("quickstart",))
def test_command_line_defaults_are_the_preset(name):
    preset = experiments.get_preset(name)
    args = arguments.build_parser(preset).parse_args([])
    hp = {k: getattr(args, k) for k in preset.hyperparameters}
    assert hp == preset.hyperparameters
    assert (args.tau, args.timesteps, args.epochs, args.batch_size, args.lr, args.seed) == (
        preset.tau, preset.timesteps, preset.epochs, preset.batch_size, preset.lr,
        preset.seed)
    assert args.method == "trt"
    for option, spec in preset.options.items():
        assert getattr(args, option) == spec.default


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="Unknown preset 'mnist'; choose from cifar10_resnet19"):
        experiments.get_preset("mnist")


def test_compiled_optimizer_anneals_per_epoch():
    """lr0 / 2 (1 + cos(pi e / epochs)), constant within an epoch (here 3 steps)."""
    model = experiments.get_preset("quickstart").build_model(timesteps=2, widths=(2, 2))
    experiments.compile_model(model, "trt", epochs=4, steps_per_epoch=3, learning_rate=1e-3)
    optimizer = model.optimizer
    expected = [1e-3, 0.5e-3 * (1 + 2 ** -0.5), 0.5e-3, 0.5e-3 * (1 - 2 ** -0.5), 0.0]
    for epoch, rate in enumerate(expected):
        for step in range(3 * epoch, 3 * epoch + 3):
            optimizer.iterations.assign(step)
            assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == \
                pytest.approx(rate, rel=1e-6, abs=1e-12), (epoch, step)
    assert optimizer.epsilon == 1e-8
    assert type(model.loss).__name__ == "TRTLoss" and model.loss.lam == 1e-5   # the default
