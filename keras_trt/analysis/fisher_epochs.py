"""The Fisher information over training, over seeds: FI(t) and IC per epoch with bands.

`FisherInformationCallback` (the recipes' `--observe-fi`) writes one `fisher.csv` per run:
one row per observed epoch, `epoch, ic, fi_1, ..., fi_T`. `read_fisher_csv` reads one;
`fisher_over_epochs` stacks the runs of one method (one per seed) on the epochs they all
observed and gives, per epoch, the mean and Student t-interval over seeds of IC, of FI(t)
and of the normalised FI(t) / sum_t FI(t) (the shape that IC summarises).
`plot_fisher_over_epochs` draws the paper's Fig. 4 in kind with seed bands: per method
FI(t) at a few epochs, and IC over epochs for every method.

```python
import os, tempfile
from keras_trt.analysis import fisher_over_epochs, plot_fisher_over_epochs

out = tempfile.mkdtemp()
def fake_run(seed):        # what --observe-fi writes, T = 3, epochs 1 and 2
    folder = os.path.join(out, f"seed{seed}")
    os.makedirs(folder)
    with open(os.path.join(folder, "fisher.csv"), "w") as f:
        f.write("epoch,ic,fi_1,fi_2,fi_3\\n1,2.0,1,1,1\\n")
        f.write(f"2,{(1 + 2 * 2 + 3 * (3 + seed)) / (6 + seed)},1,2,{3 + seed}\\n")
    return folder
runs = [fake_run(0), fake_run(1)]
over = fisher_over_epochs(runs)
print(over["epochs"].tolist(), over["ic"]["mean"].round(3).tolist())   # [1, 2] [2.0, 2.357]
plot_fisher_over_epochs({"TRT": runs}, os.path.join(out, "fi_epochs.png"))
```
"""

import csv
import math
import os

import numpy as np

from keras_trt.analysis.statistics import t_quantile

__all__ = ["read_fisher_csv", "fisher_over_epochs", "plot_fisher_over_epochs"]


def read_fisher_csv(path):
    """A `fisher.csv` (or the run folder holding it) -> {"epochs": (E,) int array, "ic":
    (E,) array, "fisher": (E, T) array}, sorted by epoch."""
    if os.path.isdir(path):
        path = os.path.join(path, "fisher.csv")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_fisher_csv: no fisher.csv at {path}.")
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if not rows or rows[0][:2] != ["epoch", "ic"] or len(rows[0]) < 3:
        raise ValueError(f"read_fisher_csv: {path} is not a fisher.csv (header 'epoch,ic,"
                         f"fi_1,...'), its header is {rows[0] if rows else 'missing'}.")
    if len(rows) < 2:
        raise ValueError(f"read_fisher_csv: {path} holds no observed epoch.")
    body = sorted(rows[1:], key=lambda r: int(r[0]))
    return {"epochs": np.array([int(r[0]) for r in body]),
            "ic": np.array([float(r[1]) for r in body]),
            "fisher": np.array([[float(v) for v in r[2:]] for r in body])}


def _band(values, confidence):
    """(S, ...) -> mean, low, high of the mean over axis 0 (t-interval; no band for S=1)."""
    mean = values.mean(axis=0)
    n = values.shape[0]
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return {"mean": mean, "low": nan, "high": nan, "values": values}
    half = (t_quantile(0.5 + confidence / 2.0, n - 1) * values.std(axis=0, ddof=1)
            / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "values": values}


def fisher_over_epochs(runs, confidence=0.95):
    """Stacks one method's runs (one per seed) on the epochs every run observed.

    Args:
        runs: run folders, fisher.csv paths or `read_fisher_csv` dicts.
        confidence: of the bands (Student t-interval of the mean over runs).

    Returns:
        dict: "epochs" (E,), "n" (runs), and "ic", "fisher", "fisher_normalized" each
        {"mean", "low", "high", "values"} with values (S, E) for IC and (S, E, T) for
        FI(t) and FI(t) / sum_t FI(t). Bands are NaN for one run.
    """
    tables = [r if isinstance(r, dict) else read_fisher_csv(r) for r in runs]
    if not tables:
        raise ValueError("fisher_over_epochs: `runs` is empty.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    steps = {t["fisher"].shape[1] for t in tables}
    if len(steps) != 1:
        raise ValueError(f"fisher_over_epochs: the runs observed different T: {sorted(steps)}.")
    epochs = sorted(set.intersection(*[set(t["epochs"].tolist()) for t in tables]))
    if not epochs:
        raise ValueError("fisher_over_epochs: the runs share no observed epoch.")
    ic, fisher = [], []
    for t in tables:
        index = [t["epochs"].tolist().index(e) for e in epochs]
        ic.append(t["ic"][index])
        fisher.append(t["fisher"][index])
    fisher = np.array(fisher, dtype=np.float64)
    total = fisher.sum(axis=-1, keepdims=True)
    normalized = np.divide(fisher, total, out=np.full_like(fisher, np.nan), where=total > 0)
    return {"epochs": np.array(epochs), "n": len(tables),
            "ic": _band(np.array(ic, dtype=np.float64), confidence),
            "fisher": _band(fisher, confidence),
            "fisher_normalized": _band(normalized, confidence)}


def _default_epochs(epochs, count=4):
    picks = np.unique(np.round(np.linspace(0, len(epochs) - 1, count)).astype(int))
    return [int(epochs[i]) for i in picks]


def _fill(ax, x, band, index, color, label):
    mean, low, high = (band[key][index] for key in ("mean", "low", "high"))
    ax.plot(x, mean, marker="o", ms=3, color=color, label=label)
    if not np.all(np.isnan(low)):
        ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


def plot_fisher_over_epochs(groups, path, epochs=None, normalize=False, confidence=0.95,
                            title=None):
    """The paper's Fig. 4 with seed bands: per group (method) FI(t) at `epochs`, then IC
    over epochs for every group.

    Args:
        groups: {label: runs} (runs as `fisher_over_epochs` takes them) or {label:
            `fisher_over_epochs` result}.
        epochs: epochs whose FI(t) is drawn (default: four spread over the observed ones).
        normalize: draw FI(t) / sum_t FI(t) (linear axis) instead of FI(t) (log axis).
        confidence: band of the mean over seeds (Student t).
    """
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    from keras_trt.analysis.plots import new_figure, save_figure

    if not groups:
        raise ValueError("plot_fisher_over_epochs: `groups` is empty.")
    results = {label: g if isinstance(g, dict) and "ic" in g else
               fisher_over_epochs(g, confidence) for label, g in groups.items()}
    key = "fisher_normalized" if normalize else "fisher"
    fig = new_figure((4.2 * (len(results) + 1), 3.8))
    cmap = colormaps["viridis"]
    for i, (label, res) in enumerate(results.items()):
        ax = fig.add_subplot(1, len(results) + 1, i + 1)
        observed = res["epochs"].tolist()
        chosen = [e for e in (epochs or _default_epochs(observed)) if e in observed]
        if not chosen:
            raise ValueError(f"plot_fisher_over_epochs: {label}: none of the epochs {epochs} "
                             f"was observed (observed: {observed}).")
        t = np.arange(1, res[key]["mean"].shape[-1] + 1)
        for k, epoch in enumerate(chosen):
            _fill(ax, t, res[key], observed.index(epoch),
                  cmap(k / max(1, len(chosen) - 1)), f"epoch {epoch}")
        if not normalize:
            ax.set_yscale("log")
        ax.set_xlabel("prefix length t")
        ax.set_ylabel("FI(t) / sum FI" if normalize else "FI(t)")
        ax.set_title(f"{label} ({res['n']} seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax = fig.add_subplot(1, len(results) + 1, len(results) + 1)
    for i, (label, res) in enumerate(results.items()):
        ax.plot(res["epochs"], res["ic"]["mean"], marker="o", ms=3, color=f"C{i}",
                label=f"{label} ({res['n']} seeds)")
        if res["n"] > 1:
            ax.fill_between(res["epochs"], res["ic"]["low"], res["ic"]["high"],
                            color=f"C{i}", alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("information centroid IC")
    ax.set_title(f"IC over epochs (mean, {100 * confidence:g}% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
