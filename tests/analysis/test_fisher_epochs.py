"""keras_trt.analysis.fisher_epochs on hand-written fisher.csv files (no training)."""

import math
import os

import numpy as np
import pytest

from keras_trt.analysis import fisher_over_epochs, plot_fisher_over_epochs, read_fisher_csv

pytestmark = pytest.mark.backend_independent

T_975_1 = 12.706205


def write_run(folder, rows):
    """rows: {epoch: FI(1..T)}; IC written as the callback does, sum t FI / sum FI."""
    os.makedirs(folder, exist_ok=True)
    steps = len(next(iter(rows.values())))
    with open(os.path.join(folder, "fisher.csv"), "w") as f:
        f.write("epoch,ic," + ",".join(f"fi_{t}" for t in range(1, steps + 1)) + "\n")
        for epoch, fi in rows.items():   # any order: the reader sorts by epoch
            ic = sum((t + 1) * v for t, v in enumerate(fi)) / sum(fi)
            f.write(f"{epoch},{ic!r}," + ",".join(repr(float(v)) for v in fi) + "\n")
    return str(folder)


def test_read_fisher_csv(tmp_path):
    run = write_run(tmp_path / "a", {2: [1.0, 2.0, 3.0], 1: [1.0, 1.0, 2.0]})
    table = read_fisher_csv(run)            # a run folder or the file itself
    assert table["epochs"].tolist() == [1, 2]
    np.testing.assert_allclose(table["ic"], [(1 + 2 + 6) / 4, (1 + 4 + 9) / 6])
    np.testing.assert_allclose(table["fisher"], [[1, 1, 2], [1, 2, 3]])
    np.testing.assert_allclose(read_fisher_csv(os.path.join(run, "fisher.csv"))["ic"],
                               table["ic"])


def test_read_fisher_csv_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_fisher_csv(str(tmp_path))
    (tmp_path / "fisher.csv").write_text("epoch,loss\n1,2\n")
    with pytest.raises(ValueError, match="not a fisher.csv"):
        read_fisher_csv(str(tmp_path))
    (tmp_path / "fisher.csv").write_text("epoch,ic,fi_1\n")
    with pytest.raises(ValueError, match="no observed epoch"):
        read_fisher_csv(str(tmp_path))


def test_means_and_bands_over_seeds_by_hand(tmp_path):
    a = write_run(tmp_path / "s0", {1: [1.0, 1.0, 2.0], 2: [1.0, 2.0, 3.0], 3: [2.0, 2.0, 4.0]})
    b = write_run(tmp_path / "s1", {1: [3.0, 1.0, 0.0], 3: [1.0, 1.0, 2.0]})   # no epoch 2
    over = fisher_over_epochs([a, b])
    assert over["epochs"].tolist() == [1, 3] and over["n"] == 2
    # epoch 1: IC 9/4 = 2.25 and 5/4 = 1.25: mean 1.75, std 0.7071068; half width
    # 12.706205 * 0.7071068 / sqrt(2) = 6.3531
    np.testing.assert_allclose(over["ic"]["values"], [[2.25, 2.25], [1.25, 2.25]])
    np.testing.assert_allclose(over["ic"]["mean"], [1.75, 2.25])
    np.testing.assert_allclose(over["ic"]["high"][0] - 1.75, T_975_1 * 0.5, rtol=1e-6)
    assert over["ic"]["low"][1] == pytest.approx(2.25)     # equal values: zero width
    np.testing.assert_allclose(over["fisher"]["mean"][0], [2.0, 1.0, 1.0])
    np.testing.assert_allclose(over["fisher_normalized"]["values"][1, 0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(over["fisher_normalized"]["mean"][1], [0.25, 0.25, 0.5])
    one = fisher_over_epochs([a])
    assert one["epochs"].tolist() == [1, 2, 3] and np.isnan(one["ic"]["low"]).all()


def test_zero_fisher_gives_nan_shares_and_bad_runs_are_named(tmp_path):
    zero = {"epochs": np.array([1]), "ic": np.array([math.nan]),
            "fisher": np.zeros((1, 2))}
    assert np.isnan(fisher_over_epochs([zero])["fisher_normalized"]["mean"]).all()
    a = write_run(tmp_path / "a", {1: [1.0, 2.0]})
    with pytest.raises(ValueError, match="different T"):
        fisher_over_epochs([a, write_run(tmp_path / "b", {1: [1.0, 2.0, 3.0]})])
    with pytest.raises(ValueError, match="share no observed epoch"):
        fisher_over_epochs([a, write_run(tmp_path / "c", {2: [1.0, 2.0]})])
    with pytest.raises(ValueError, match="empty"):
        fisher_over_epochs([])


def test_plot_writes_a_png(tmp_path):
    runs = [write_run(tmp_path / f"s{s}", {e: [1.0 * e, 2.0 + s, 3.0] for e in range(1, 6)})
            for s in range(2)]
    for normalize in (False, True):
        path = plot_fisher_over_epochs({"TRT": runs, "TET": fisher_over_epochs(runs[:1])},
                                       str(tmp_path / f"fi{normalize}.png"),
                                       normalize=normalize, title="FI")
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="none of the epochs"):
        plot_fisher_over_epochs({"TRT": runs}, str(tmp_path / "x.png"), epochs=[9])
