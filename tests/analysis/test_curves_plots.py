import os

import numpy as np
import pytest

from keras_trt.analysis import plots
from keras_trt.analysis import (ema, iterate_batches, plot_firing_rates,
                                plot_firing_rates_over_time, plot_fisher, plot_fisher_epochs,
                                plot_landscape, plot_learning_curves, read_csv_log, take_arrays)

# Pure NumPy/matplotlib: no Keras backend code, so one backend process runs them.
pytestmark = pytest.mark.backend_independent

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert os.path.isfile(path) and os.path.getsize(path) > 1000
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC


def write_log(path, values):
    with open(path, "w") as f:
        f.write("epoch,accuracy,loss,val_accuracy,val_loss\n")
        for e, v in enumerate(values):
            f.write(f"{e},{v},{1 - v},{v - 0.1},{1.1 - v}\n")
    return path


def test_ema_matches_the_papers_smoothing():
    np.testing.assert_allclose(ema([1.0, 3.0, 5.0, 5.0]), [1.0, 2.0, 3.5, 4.25])
    np.testing.assert_allclose(ema([2.0, np.nan, 4.0]), [2.0, 2.0, 3.0])
    np.testing.assert_allclose(ema([1.0, 5.0], weight=0.0), [1.0, 5.0])
    with pytest.raises(ValueError):
        ema([1.0], weight=1.0)


def test_read_csv_log(tmp_path):
    path = write_log(tmp_path / "log.csv", [0.5, 0.6])
    with open(path, "a") as f:
        f.write("2,0.7,0.3,NA,\n")
    log = read_csv_log(str(tmp_path))  # a run directory works too
    np.testing.assert_array_equal(log["epoch"], [0, 1, 2])
    np.testing.assert_allclose(log["accuracy"], [0.5, 0.6, 0.7])
    assert np.isnan(log["val_accuracy"][2]) and np.isnan(log["val_loss"][2])
    with pytest.raises(FileNotFoundError):
        read_csv_log(str(tmp_path / "missing.csv"))


def test_every_plot_writes_a_png(tmp_path):
    rates = {"lif1": 0.2, "lif2": 0.1}
    assert_png(plot_firing_rates(rates, str(tmp_path / "rates.png")))
    assert_png(plot_firing_rates({"SDT": rates, "TRT": {"lif1": 0.1, "lif2": 0.05}},
                                 str(tmp_path / "rates2.png")))
    assert_png(plot_firing_rates_over_time({"lif1": np.array([0.1, 0.2, 0.3])},
                                           str(tmp_path / "rates_t.png")))
    assert_png(plot_fisher(np.array([1.0, 2.0, 2.5]), str(tmp_path / "fi.png")))
    assert_png(plot_fisher({"fisher": [1.0, 2.0], "ic": 1.7}, str(tmp_path / "fi1.png")))
    assert_png(plot_fisher({"SDT": [1.0, 2.0], "TRT": [2.0, 2.1]}, str(tmp_path / "fi2.png"),
                           log_scale=True))
    assert_png(plot_fisher_epochs({1: [1.0, 2.0, 3.0], 5: [3.0, 3.5, 3.6]},
                                  str(tmp_path / "fi_epochs.png")))
    a = np.linspace(-1, 1, 5)
    surface = {"alphas": a, "betas": a, "loss": np.add.outer(a ** 2, a ** 2) + 1.0}
    assert_png(plot_landscape(surface, str(tmp_path / "sub" / "landscape.png")))
    assert_png(plot_landscape({**surface, "loss": np.ones((5, 5))}, str(tmp_path / "flat.png")))
    runs = {"SDT": write_log(tmp_path / "a.csv", [0.3, 0.5, 0.6]),
            "TRT": write_log(tmp_path / "b.csv", [0.4, 0.6, 0.7])}
    assert_png(plot_learning_curves(runs, str(tmp_path / "curves.png")))
    assert_png(plot_learning_curves(read_csv_log(runs["SDT"]), str(tmp_path / "one.png"),
                                    metrics=["val_accuracy"], weight=0))
    with pytest.raises(ValueError, match="metrics"):
        plot_learning_curves({"x": {"foo": [1, 2]}}, str(tmp_path / "none.png"))


def test_iterate_batches_and_take_arrays():
    x, y = np.arange(10).reshape(10, 1), np.arange(10)
    batches = list(iterate_batches((x, y), batch_size=4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert len(list(iterate_batches((x, y), steps=2, batch_size=4))) == 2
    xs, ys = take_arrays((x, y), samples=6, batch_size=4)
    np.testing.assert_array_equal(ys, np.arange(6))
    with pytest.raises(TypeError):
        list(iterate_batches(42))
    with pytest.raises(ValueError, match="steps"):
        list(iterate_batches((x, y), steps=0))


def _surface(scale, offset, steps=5):
    a = np.linspace(-1, 1, steps)
    A, B = np.meshgrid(a, a, indexing="ij")
    return {"alphas": a, "betas": a.copy(), "loss": offset + scale * (A ** 2 + 2 * B ** 2),
            "steps": steps, "span": 1.0, "samples": 64, "seed": 3, "split": "train"}


def test_compared_landscapes_share_levels_colours_and_axes(tmp_path):
    from keras_trt.analysis.plots import (landscape_1d_figure, landscape_levels,
                                          landscapes_figure)

    results = {"SDT": _surface(2.0, 1.0), "TRT": _surface(0.5, 0.8)}
    levels = landscape_levels(results, levels=7)
    # One scale from the lowest to the highest loss of ALL runs: 0.8 .. 1 + 2 * 3 = 7.
    np.testing.assert_allclose(levels, np.linspace(0.8, 7.0, 7))
    fig = landscapes_figure(results, levels=7)
    panels = [ax for ax in fig.axes if ax.get_title() in results]
    assert [ax.get_title() for ax in panels] == ["SDT", "TRT"]
    contour_sets = [c for ax in panels for c in ax.collections
                    if hasattr(c, "levels") and c.filled]
    assert len(contour_sets) == 2
    for cs in contour_sets:
        np.testing.assert_allclose(cs.levels, levels)
        assert (cs.norm.vmin, cs.norm.vmax) == (levels[0], levels[-1])
    assert panels[0].get_xlim() == panels[1].get_xlim()
    assert panels[0].get_ylim() == panels[1].get_ylim()
    assert "5x5 grid over [-1, 1]^2, 64 samples (train), seed 3" in fig._suptitle.get_text()

    fig = landscape_1d_figure(results)
    lines = fig.axes[0].get_lines()[:2]
    np.testing.assert_allclose(lines[0].get_ydata(), results["SDT"]["loss"][:, 2])
    np.testing.assert_allclose(lines[1].get_ydata(), results["TRT"]["loss"][:, 2])
    assert "seed 3" in fig.axes[0].get_title()
    for plot in (plots.plot_landscapes, plots.plot_landscape_1d):
        assert os.path.getsize(plot(results, str(tmp_path / f"{plot.__name__}.png"))) > 1000
