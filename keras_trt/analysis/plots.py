"""Plots of the analyses, written as PNG files with matplotlib's Agg canvas.

The figures are built with `matplotlib.figure.Figure` and `FigureCanvasAgg` directly, so
these functions never touch pyplot's global state or the user's interactive backend.
Every function takes the analysis result and a path, writes the PNG and returns the path.

```python
import os, tempfile
import numpy as np
from keras_trt.analysis import plots

out = tempfile.mkdtemp()
plots.plot_firing_rates({"SDT": {"lif1": 0.2, "lif2": 0.1},
                         "TRT": {"lif1": 0.15, "lif2": 0.08}}, os.path.join(out, "asfr.png"))
plots.plot_fisher({20: [1.0, 2.0, 2.5], 40: [0.5, 0.9, 1.0]}, os.path.join(out, "fi.png"))
```
"""

import os

import numpy as np

__all__ = [
    "plot_firing_rates", "plot_firing_rates_over_time", "plot_fisher", "plot_fisher_epochs",
    "plot_landscape", "plot_landscapes", "plot_landscape_1d", "landscape_levels",
    "landscape_description", "landscapes_figure", "landscape_1d_figure",
    "plot_learning_curves", "new_figure", "save_figure", "plot_early_exit",
]


def new_figure(figsize=(6.4, 4.8)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _integer_ticks(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _is_single(mapping):
    return all(not isinstance(v, dict) for v in mapping.values())


def plot_firing_rates(rates, path, title="Average spike firing rate"):
    """Bar chart of `{layer: rate}`, or grouped bars of `{label: {layer: rate}}`.

    Per-timestep rates ((T,) arrays) are averaged over T.
    """
    groups = {"": rates} if _is_single(rates) else rates
    layers = []
    for group in groups.values():
        layers += [name for name in group if name not in layers]
    fig = new_figure((max(6.4, 0.45 * len(layers) * max(1, len(groups)) + 2), 4.2))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(groups)
    x = np.arange(len(layers))
    for k, (label, group) in enumerate(groups.items()):
        values = [float(np.mean(group[name])) if name in group else np.nan for name in layers]
        ax.bar(x + (k - (len(groups) - 1) / 2) * width, values, width, label=label or None)
    ax.set_xticks(x)
    ax.set_xticklabels(layers, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("firing rate")
    ax.set_title(title)
    if len(groups) > 1:
        ax.legend()
    return save_figure(fig, path)


def plot_firing_rates_over_time(rates, path, title="Firing rate per timestep"):
    """One line per layer of `{layer: (T,) rates}` (from `firing_rates(per_timestep=True)`)."""
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for name, values in rates.items():
        values = np.atleast_1d(np.asarray(values, dtype=float))
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("timestep")
    ax.set_ylabel("firing rate")
    ax.set_title(title)
    if len(rates) <= 20:
        ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def _fisher_values(value):
    if isinstance(value, dict):
        value = value["fisher"]
    return np.asarray(value, dtype=float)


def plot_fisher(fisher, path, title="Fisher information FI(t)", log_scale=False):
    """FI(t) over t = 1..T: one curve (an array or a `fisher_information` result) or one
    curve per key of a dict (e.g. per epoch or per method), each with its IC marked."""
    from keras_trt.analysis.fisher import information_centroid

    curves = fisher if isinstance(fisher, dict) and "fisher" not in fisher else {"": fisher}
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, value in curves.items():
        values = _fisher_values(value)
        t = np.arange(1, len(values) + 1)
        ic = information_centroid(values)
        line, = ax.plot(t, values, marker="o",
                        label=(f"{label}  " if label != "" else "") + f"IC={ic:.2f}")
        if np.isfinite(ic):
            ax.axvline(ic, color=line.get_color(), linestyle=":", linewidth=1)
    _integer_ticks(ax)
    ax.set_xlabel("timesteps t (prefix length)")
    ax.set_ylabel("FI(t)  (trace of the empirical Fisher)")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_fisher_epochs(history, path, title="Fisher information during training"):
    """`{epoch: FI(1..T)}` -> FI(t) per epoch (left) and IC over epochs (right)."""
    from matplotlib import colormaps

    from keras_trt.analysis.fisher import information_centroid

    epochs = sorted(history)
    fig = new_figure((11, 4.2))
    ax, ax_ic = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    cmap = colormaps["viridis"]
    ics = []
    for k, epoch in enumerate(epochs):
        values = _fisher_values(history[epoch])
        color = cmap(k / max(1, len(epochs) - 1))
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", color=color,
                label=f"epoch {epoch}")
        ics.append(information_centroid(values))
    _integer_ticks(ax)
    ax.set_xlabel("timesteps t (prefix length)")
    ax.set_ylabel("FI(t)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax_ic.plot(epochs, ics, marker="o")
    ax_ic.set_xlabel("epoch")
    ax_ic.set_ylabel("information centroid IC")
    ax_ic.set_title("IC over epochs")
    return save_figure(fig, path)


def landscape_description(result):
    """'21x21 grid over [-1, 1]^2, 256 samples (train), seed 0' from a `loss_landscape`
    result (the parts it records), for titles."""
    parts = []
    if "steps" in result and "span" in result:
        parts.append(f"{result['steps']}x{result['steps']} grid over "
                     f"[-{result['span']:g}, {result['span']:g}]^2")
    if result.get("samples") is not None:
        split = f" ({result['split']})" if result.get("split") else ""
        parts.append(f"{result['samples']} samples{split}")
    if result.get("seed") is not None:
        parts.append(f"seed {result['seed']}")
    return ", ".join(parts)


def landscape_levels(results, levels=20, log_levels=False):
    """Contour levels shared by several `loss_landscape` results (`{label: result}` or one
    result): `levels` values spanning the smallest to the largest finite loss of all."""
    if isinstance(results, dict) and "loss" in results:
        results = {"": results}
    finite = np.concatenate([np.asarray(r["loss"], dtype=float).ravel()
                             for r in results.values()])
    finite = finite[np.isfinite(finite)]
    if not finite.size or finite.max() <= finite.min():
        return None
    if log_levels and finite.min() > 0:
        return np.geomspace(finite.min(), finite.max(), levels)
    return np.linspace(finite.min(), finite.max(), levels)


def _landscape_panel(fig, ax, result, lv):
    alphas, betas = np.asarray(result["alphas"]), np.asarray(result["betas"])
    loss = np.asarray(result["loss"], dtype=float)
    if loss.shape[0] < 2 or loss.shape[1] < 2 or lv is None:
        return ax.imshow(loss.T, origin="lower")
    A, B = np.meshgrid(alphas, betas, indexing="ij")
    filled = ax.contourf(A, B, loss, levels=lv, cmap="viridis", vmin=lv[0], vmax=lv[-1],
                         extend="neither")
    ax.contour(A, B, loss, levels=lv, colors="k", linewidths=0.3)
    ax.plot([0], [0], marker="*", color="red", markersize=10)
    ax.set_xlabel("direction 1")
    ax.set_ylabel("direction 2")
    return filled


def plot_landscape(result, path, levels=20, title="Loss landscape", log_levels=False):
    """Filled contour of a `loss_landscape` result (the centre, the model, marked); the
    grid, samples and seed the result records are added to the title. `levels` may be an
    array (e.g. `landscape_levels` of several runs, to compare them)."""
    lv = levels if np.ndim(levels) else landscape_levels(result, levels, log_levels)
    fig = new_figure((5.6, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    filled = _landscape_panel(fig, ax, result, lv)
    if lv is not None and np.asarray(result["loss"]).shape[0] > 1:
        fig.colorbar(filled, ax=ax, label="loss")
    details = landscape_description(result)
    ax.set_title(title + (f"\n{details}" if details else ""), fontsize=9)
    return save_figure(fig, path)


def _results(results):
    return {"": results} if isinstance(results, dict) and "loss" in results else results


def landscapes_figure(results, levels=20, log_levels=False, title="Loss landscapes"):
    """The figure of `plot_landscapes` (for inspection); see there."""
    results = _results(results)
    lv = levels if np.ndim(levels) else landscape_levels(results, levels, log_levels)
    n = len(results)
    fig = new_figure((4.6 * n + 1.2, 4.6))
    axes = [fig.add_subplot(1, n, k + 1) for k in range(n)]
    filled = None
    for ax, (label, result) in zip(axes, results.items()):
        filled = _landscape_panel(fig, ax, result, lv)
        ax.set_title(label, fontsize=10)
        ax.set_xlim(axes[0].get_xlim())
        ax.set_ylim(axes[0].get_ylim())
    if lv is not None and filled is not None:
        fig.colorbar(filled, ax=axes, label="loss")
    details = landscape_description(next(iter(results.values())))
    fig.suptitle(title + (f": {details}" if details else ""), fontsize=10)
    return fig


def plot_landscapes(results, path, levels=20, log_levels=False, title="Loss landscapes"):
    """`{label: loss_landscape result}` side by side with the SAME contour levels, colour
    scale and axes, so that methods can be compared (one colour bar for all)."""
    fig = landscapes_figure(results, levels, log_levels, title)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, format="png")  # no tight_layout: the shared colour bar spans the axes
    return path


def landscape_1d_figure(results, title="Loss along direction 1"):
    """The figure of `plot_landscape_1d` (for inspection); see there."""
    results = _results(results)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, result in results.items():
        loss = np.asarray(result["loss"], dtype=float)
        centre = int(np.argmin(np.abs(np.asarray(result["betas"], dtype=float))))
        ax.plot(np.asarray(result["alphas"]), loss[:, centre], marker="o",
                label=label or None)
    ax.axvline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("step along direction 1 (direction 2 at 0)")
    ax.set_ylabel("loss")
    details = landscape_description(next(iter(results.values())))
    ax.set_title(title + (f"\n{details}" if details else ""), fontsize=9)
    if len(results) > 1 or "" not in results:
        ax.legend(fontsize=8)
    return fig


def plot_landscape_1d(results, path, title="Loss along direction 1"):
    """1-D landscapes: the centre row (direction 2 at 0) of each `loss_landscape` result,
    all on one axes (so one scale), `{label: result}` or one result."""
    return save_figure(landscape_1d_figure(results, title), path)


# val_*: a validation split (Keras' validation_data); test_*: the recipes' test split.
_DEFAULT_METRICS = ("loss", "val_loss", "test_loss", "accuracy", "val_accuracy",
                    "test_accuracy")


def plot_learning_curves(runs, path, metrics=None, weight=0.5, title=None):
    """Learning curves of several runs on one figure, one panel per metric.

    Args:
        runs: `{label: CSV path, run directory, or {column: values}}` (or one of those).
        path: the PNG to write.
        metrics: columns to plot (default: those of loss, val_loss, test_loss, accuracy,
            val_accuracy, test_accuracy that the logs have).
        weight: EMA weight (0.5 as the paper; 0 plots the raw values).
    """
    from keras_trt.analysis.curves import ema, read_csv_log

    if not isinstance(runs, dict) or _looks_like_log(runs):
        runs = {"": runs}
    logs = {label: (read_csv_log(v) if isinstance(v, (str, os.PathLike)) else
                    {k: np.asarray(a, dtype=float) for k, a in v.items()})
            for label, v in runs.items()}
    if metrics is None:
        metrics = [m for m in _DEFAULT_METRICS if any(m in log for log in logs.values())]
    if not metrics:
        raise ValueError("plot_learning_curves: the logs have none of the columns "
                         f"{_DEFAULT_METRICS}; pass `metrics`.")
    cols = min(2, len(metrics))
    rows = -(-len(metrics) // cols)
    fig = new_figure((5.5 * cols, 3.8 * rows))
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, k + 1)
        for label, log in logs.items():
            if metric not in log:
                continue
            values = log[metric]
            epochs = log.get("epoch", np.arange(len(values))) + 1
            ax.plot(epochs, ema(values, weight) if weight else values, label=label or None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} (EMA {weight})" if weight else metric)
        if len(logs) > 1:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_early_exit(results, path, title="Early exit: accuracy against timesteps used"):
    """Accuracy against the mean number of timesteps of an `early_exit` sweep (one curve,
    or one per key of `{label: result}`), each point marked with its threshold; the
    accuracy of stopping every sample at t = 1..T as a dashed reference."""
    curves = results if isinstance(results, dict) and "accuracy" not in results \
        else {"": results}
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, result in curves.items():
        steps = np.asarray(result["mean_timesteps"], dtype=float)
        accuracy = np.asarray(result["accuracy"], dtype=float)
        name = f"{label} " if label else ""
        line, = ax.plot(steps, accuracy, marker="o",
                        label=f"{name}early exit ({result['criterion']})")
        for x, y, threshold in zip(steps, accuracy, result["thresholds"]):
            ax.annotate(f"{float(threshold):g}", (x, y), textcoords="offset points",
                        xytext=(3, 3), fontsize=7, color=line.get_color())
        fixed = np.asarray(result["accuracy_per_timestep"], dtype=float)
        ax.plot(np.arange(1, len(fixed) + 1), fixed, linestyle="--", marker=".",
                color=line.get_color(), alpha=0.6, label=f"{name}fixed T")
    ax.set_xlabel("mean timesteps used")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _looks_like_log(mapping):
    return all(not isinstance(v, (str, os.PathLike, dict)) for v in mapping.values())
