"""keras_trt.analysis.statistics against values computed by hand (and t tables)."""

import math
import sys

import numpy as np
import pytest

from keras_trt.analysis import statistics
from keras_trt.analysis.statistics import (bootstrap_interval, mean_std, paired_difference,
                                           t_quantile)

pytestmark = pytest.mark.backend_independent

# Student t quantiles from printed tables (e.g. NIST/SEMATECH e-Handbook, Table 1.3.6.7.2).
T_TABLE = [(0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 3, 3.182), (0.975, 4, 2.776),
           (0.975, 10, 2.228), (0.95, 5, 2.015), (0.995, 4, 4.604)]


def test_mean_and_sample_std_by_hand():
    s = mean_std([1.0, 2.0, 3.0, 4.0])
    # mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; / (n - 1) = 5/3
    assert s["mean"] == 2.5 and s["std"] == pytest.approx(math.sqrt(5 / 3), abs=1e-15)
    assert (s["min"], s["max"], s["n"]) == (1.0, 4.0, 4)
    assert mean_std([0.7])["std"] == 0.0


def test_paired_t_interval_of_four_seeds_by_hand():
    a = [0.90, 0.85, 0.88, 0.92]
    b = [0.87, 0.86, 0.84, 0.89]
    d = paired_difference(a, b)
    # differences 0.03, -0.01, 0.04, 0.03: mean 0.0225; deviations 0.0075, -0.0325,
    # 0.0175, 0.0075, squares sum to 0.001475; sd = sqrt(0.001475 / 3) = 0.0221736
    # t(0.975, 3) = 3.182446; half width = 3.182446 * 0.0221736 / sqrt(4) = 0.0352831
    np.testing.assert_allclose(d["differences"], [0.03, -0.01, 0.04, 0.03], atol=1e-12)
    assert d["mean"] == pytest.approx(0.0225, abs=1e-12)
    assert d["std"] == pytest.approx(0.0221736, abs=1e-7)
    assert d["t"] == pytest.approx(3.182446, abs=1e-6)
    assert d["half_width"] == pytest.approx(0.0352831, abs=1e-7)
    assert d["low"] == pytest.approx(0.0225 - 0.0352831, abs=1e-7)
    assert d["high"] == pytest.approx(0.0225 + 0.0352831, abs=1e-7)
    assert d["n"] == 4 and d["method"] == "paired Student t"


@pytest.mark.parametrize("without_scipy", [False, True])
def test_t_quantiles_match_the_tables(without_scipy, monkeypatch):
    if without_scipy:
        monkeypatch.setitem(sys.modules, "scipy", None)    # import scipy -> ImportError
    for p, df, value in T_TABLE:
        assert t_quantile(p, df) == pytest.approx(value, abs=5e-4), (p, df)
        assert t_quantile(1 - p, df) == pytest.approx(-value, abs=5e-4)
    assert t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-12)


def test_own_quantile_agrees_with_scipy_when_installed():
    stats = pytest.importorskip("scipy.stats")
    for p in (0.6, 0.9, 0.975, 0.999):
        for df in (1, 2, 4, 9, 30, 200):
            assert statistics._t_quantile_bisection(p, df) == pytest.approx(
                stats.t.ppf(p, df), rel=1e-10)


def test_one_pair_has_no_interval_and_bad_input_is_named():
    d = paired_difference([0.9], [0.8])
    assert d["mean"] == pytest.approx(0.1) and math.isnan(d["half_width"])
    with pytest.raises(ValueError, match="`a` and `b` must pair up"):
        paired_difference([0.9, 0.8], [0.8])
    with pytest.raises(ValueError, match="`a` must hold finite numbers"):
        paired_difference([float("nan")], [0.8])
    with pytest.raises(ValueError, match="`confidence` must be in"):
        paired_difference([0.9, 0.8], [0.8, 0.7], confidence=95)


def test_bootstrap_interval_brackets_the_mean():
    assert bootstrap_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
    low, high = bootstrap_interval([0.1, 0.2, 0.3, 0.4, 0.5], resamples=2000)
    assert 0.1 <= low < 0.3 < high <= 0.5


def test_mean_interval_of_three_values_by_hand():
    s = statistics.mean_interval([1.0, 2.0, 3.0])
    # mean 2, sample std 1, t(0.975, 2) = 4.302653; half width 4.302653 / sqrt(3) = 2.484138
    assert (s["mean"], s["std"], s["n"]) == (2.0, 1.0, 3)
    assert s["half_width"] == pytest.approx(2.484138, abs=1e-6)
    assert (s["low"], s["high"]) == pytest.approx((2.0 - 2.484138, 2.0 + 2.484138), abs=1e-6)
    one = statistics.mean_interval([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["half_width"]) and math.isnan(one["low"])
    with pytest.raises(ValueError, match="confidence"):
        statistics.mean_interval([1.0, 2.0], confidence=1.0)
