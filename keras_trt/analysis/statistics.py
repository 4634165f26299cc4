"""Statistics over seeds: mean and spread, and paired differences with a confidence interval.

A comparison of two methods trained on the same seeds (same initialisation, data order and
augmentation per seed) is a paired one: the per-seed differences d_i = a_i - b_i carry the
comparison, and their Student t-interval

    mean(d) +- t_{1 - alpha/2, n - 1} * std(d, ddof=1) / sqrt(n)

is the 95% confidence interval of the mean difference (for `confidence=0.95`), valid when
the differences are roughly normal. With 5 seeds t_{0.975, 4} = 2.776: the interval is
wide, and an interval that contains 0 means "no difference shown". The t quantile comes
from SciPy when it is installed, else from this module's own incomplete-beta inversion
(agreeing with SciPy to 1e-10). `bootstrap_interval` is the percentile bootstrap of the
mean, for comparison (with few seeds it is narrower than the t-interval: it ignores the
uncertainty of the spread).

```python
from keras_trt.analysis.statistics import mean_std, paired_difference

s = mean_std([0.80, 0.82, 0.84])
print(round(s["mean"], 4), round(s["std"], 4))        # 0.82 0.02
d = paired_difference([0.86, 0.85, 0.88], [0.84, 0.84, 0.85])   # differences .02 .01 .03
print(round(d["mean"], 4), round(d["low"], 4), round(d["high"], 4))   # 0.02 -0.0048 0.0448
```
"""

import math

import numpy as np

__all__ = ["mean_std", "mean_interval", "paired_difference", "t_quantile",
           "bootstrap_interval"]


def _values(values, name):
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"`{name}` must hold at least one number, got none.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"`{name}` must hold finite numbers, got {a.tolist()}.")
    return a


def mean_std(values):
    """Mean, sample standard deviation (ddof=1; 0 for one value), min, max and n."""
    a = _values(values, "values")
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def mean_interval(values, confidence=0.95):
    """`mean_std` plus the Student t-interval of the mean: mean +- t * std / sqrt(n).

    Adds "half_width", "low", "high" (NaN for one value) and "confidence" to `mean_std`'s
    dict: the band of a mean over seeds (e.g. one cell of a hyperparameter sweep).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    stats = mean_std(values)
    n = stats["n"]
    half = (t_quantile(0.5 + confidence / 2.0, n - 1) * stats["std"] / math.sqrt(n)
            if n > 1 else float("nan"))
    return {**stats, "half_width": half, "low": stats["mean"] - half,
            "high": stats["mean"] + half, "confidence": confidence}


def _betacf(a, b, x):
    """Continued fraction of the regularized incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t, df):
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p, df):
    """The p-quantile of Student's t distribution with `df` degrees of freedom.

    `t_quantile(0.975, 4)` is 2.7764451...
    """
    if not 0 < p < 1:
        raise ValueError(f"`p` must be in (0, 1), got {p!r}.")
    if not df > 0:
        raise ValueError(f"`df` must be > 0, got {df!r}.")
    try:
        from scipy import stats
        return float(stats.t.ppf(p, df))
    except ImportError:
        pass
    return _t_quantile_bisection(p, df)


def _t_quantile_bisection(p, df):
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -_t_quantile_bisection(1.0 - p, df)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if _t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-13 * max(1.0, high):
            break
    return 0.5 * (low + high)


def paired_difference(a, b, confidence=0.95):
    """The paired differences a_i - b_i (same seeds) with their Student t-interval.

    Returns:
        dict: "differences" (list), "mean", "std" (ddof=1), "n", "t" (the quantile),
        "half_width", "low", "high", "confidence", "method" ("paired Student t"). With one
        pair the interval is undefined: half_width, low and high are NaN.
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"`a` and `b` must pair up (one value per seed each), got "
                         f"{a.size} and {b.size} values.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    d = a - b
    n = d.size
    mean = float(d.mean())
    if n < 2:
        std = t = half = float("nan")
    else:
        std = float(d.std(ddof=1))
        t = t_quantile(0.5 + confidence / 2.0, n - 1)
        half = t * std / math.sqrt(n)
    return {"differences": d.tolist(), "mean": mean, "std": std, "n": int(n), "t": t,
            "half_width": half, "low": mean - half, "high": mean + half,
            "confidence": confidence, "method": "paired Student t"}


def bootstrap_interval(values, confidence=0.95, resamples=10000, seed=0):
    """Percentile-bootstrap interval of the mean of `values`: (low, high)."""
    a = _values(values, "values")
    rng = np.random.default_rng(seed)
    means = a[rng.integers(0, a.size, (int(resamples), a.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))
