"""`analyze_run`: every analysis of the paper on a trained run's folder, into a report.

Reads from the run folder the checkpoint (`best.keras`, else `last.keras`, else the only
`.keras` file, or `checkpoint`), `results.json` (the dataset and its loader arguments,
`dataset_from_results`) and `log.csv` (learning curves), and writes into `output_dir`
(default `<run>/analysis`): firing_rates.png and firing_rates_per_timestep.png (the ASFR
of every LIF layer), fisher.png (FI(t) and its centroid), landscape.png, landscape_1d.png
and landscape.json (the filter-normalised 2-D loss landscape; with `compare` runs, every
run's on the same samples, seed and grid), learning_curves.png, energy.png and
energy.txt (MACs and spike-driven ACs per layer, pJ per sample), early_exit.png and
early_exit.csv, and report.json with every number and the settings. docs/analyses.md
defines each analysis.

Data: `data=(x, y)` arrays or an .npz file with arrays x and y; else the run's dataset
(`dataset` overrides its name) loaded as `keras_trt.data.<name>(split=..., ...)`.

```text
from keras_trt import experiments

report = experiments.analyze_run("runs/dvs_cifar10_vggsnn-trt", skip=("landscape",))
print(report["fisher"]["ic"], report["files"]["firing_rates"])
```
"""

import inspect
import json
import os
import time

import numpy as np

from keras_trt.experiments.errors import ExperimentError

__all__ = ["analyze_run", "ANALYSES", "dataset_from_results", "find_checkpoint"]

ANALYSES = ("rates", "fisher", "landscape", "curves", "energy", "early_exit")
_ARG_GROUPS = ("args", "config", "hyperparameters", "hparams", "settings", "data")
_LOADER_ARG_KEYS = ("data_args", "dataset_args", "loader_args", "data_kwargs",
                    "dataset_kwargs", "loader_kwargs")


def find_checkpoint(run, checkpoint=None):
    """The run's checkpoint: `checkpoint`, else best.keras, last.keras or the only .keras."""
    if checkpoint:
        if not os.path.isfile(checkpoint):
            raise ExperimentError(f"--checkpoint {checkpoint!r} does not exist")
        return checkpoint
    for name in ("best.keras", "last.keras"):
        if os.path.isfile(os.path.join(run, name)):
            return os.path.join(run, name)
    found = sorted(f for f in os.listdir(run) if f.endswith(".keras"))
    if len(found) == 1:
        return os.path.join(run, found[0])
    if not found:
        raise ExperimentError(f"no .keras checkpoint in {run!r} (expected best.keras or "
                              "last.keras)")
    raise ExperimentError(f"several .keras files in {run!r} ({', '.join(found)}): pass "
                          "--checkpoint")


def load_results(run):
    path = os.path.join(run, "results.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def dataset_from_results(results, split=None):
    """(dataset name or None, loader kwargs) from a run's results.json.

    Accepted layouts: `"dataset": "digits_dvs"` or `"dataset": {"name": ..., "args": {...}}`
    (keras_trt.experiments writes `{"name": ..., "train_loader_args": {...},
    "test_loader_args": {...}}`: the arguments of `split` are used) at the top level or
    inside one of "args", "config", "hyperparameters", "hparams", "settings", "data";
    loader arguments in "data_args" / "dataset_args" / "loader_args" (or "*_kwargs") next
    to it; a "data_dir" next to it is passed on too.
    """
    scopes = [results] + [results[k] for k in _ARG_GROUPS if isinstance(results.get(k), dict)]
    name, kwargs = None, {}
    for scope in scopes:
        value = scope.get("dataset")
        if isinstance(value, dict):
            name = name or value.get("name")
            for key in ("args", "kwargs", "loader_args", f"{split}_loader_args"):
                if isinstance(value.get(key), dict):
                    kwargs = {**value[key], **kwargs}
        elif isinstance(value, str) and name is None:
            name = value
        for key in _LOADER_ARG_KEYS:
            if isinstance(scope.get(key), dict):
                kwargs = {**scope[key], **kwargs}
        if scope.get("data_dir") and "data_dir" not in kwargs:
            kwargs["data_dir"] = scope["data_dir"]
    return name, kwargs


def method_label(run, results):
    for scope in [results] + [results.get(k) for k in _ARG_GROUPS]:
        if isinstance(scope, dict) and isinstance(scope.get("method"), str):
            return scope["method"].upper()
    return os.path.basename(os.path.normpath(run))


def _arrays(data, samples):
    if isinstance(data, (str, os.PathLike)):
        if not os.path.isfile(data):
            raise ExperimentError(f"--data-npz {os.fspath(data)!r} does not exist")
        with np.load(data) as f:
            if "x" not in f or "y" not in f:
                raise ExperimentError(f"--data-npz {os.fspath(data)!r} must hold arrays "
                                      "'x' and 'y'")
            return f["x"][:samples], f["y"][:samples], {"npz": os.fspath(data)}
    x, y = data
    return x[:samples], y[:samples], {"arrays": len(x)}


def _load(s, results, split, samples, stream=False, batch_size=None, **overrides):
    """(x, y, source) of the first `samples` samples of `split`; with `stream`, (the
    loader's dataset, None, source). `overrides` go to the loader when it takes them."""
    from keras_trt.analysis import take_arrays

    if s["data"] is not None:
        return _arrays(s["data"], samples)
    import keras_trt as kt

    name, kwargs = dataset_from_results(results, split)
    if s["dataset"] and s["dataset"] != name:
        kwargs = {}  # another dataset: the run's loader arguments do not apply
    name = s["dataset"] or name
    if not name:
        raise ExperimentError("no dataset: results.json names none; pass --dataset NAME or "
                              "--data-npz FILE")
    if s["data_dir"]:
        kwargs["data_dir"] = s["data_dir"]
    try:
        loader = getattr(kt.data, name)
    except (AttributeError, ImportError) as e:
        raise ExperimentError(f"keras_trt.data has no dataset loader {name!r} ({e}); pass "
                              "--dataset with one of its loaders or --data-npz FILE") from None
    kwargs.update(overrides)
    params = inspect.signature(loader).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    kwargs = {k: v for k, v in kwargs.items() if k not in ("split", "batch_size")}
    batch_size = batch_size or s["batch_size"]
    try:
        dataset = loader(split=split, batch_size=batch_size, **kwargs)
    except Exception as e:  # noqa: BLE001 - the message is what the user needs
        raise ExperimentError(f"loading dataset {name!r} (split={split!r}, {kwargs}) failed: "
                              f"{type(e).__name__}: {e}") from None
    source = {"dataset": name, "split": split, "loader_args": kwargs}
    if stream:
        return dataset, None, source
    x, y = take_arrays(dataset, samples, batch_size=batch_size)
    return x, y, source


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def curve_summary(log):
    """{column: {final, best, best_epoch}} of a CSV log (best: min for losses)."""
    out = {}
    for key, values in log.items():
        if key == "epoch" or not np.isfinite(values).any():
            continue
        best = np.nanmin(values) if "loss" in key else np.nanmax(values)
        out[key] = {"final": float(values[-1]), "best": float(best),
                    "best_epoch": int(np.nanargmin(values) if "loss" in key
                                      else np.nanargmax(values)) + 1}
    return out


def _landscapes(s, results, model, out):
    import keras

    from keras_trt import analysis

    n = s["landscape_samples"] or s["samples"]
    lx, ly, source = _load(s, results, s["landscape_split"], n, augment=False, shuffle=True,
                           seed=s["seed"])
    if s["data"] is not None:
        source["split"] = "npz"
    settings = {"steps": s["landscape_steps"], "span": s["landscape_span"],
                "samples": len(lx), "seed": s["seed"], "split": source.get("split"),
                "augmentation": False, "data": source,
                "loss_definition": "CE of the time-averaged logits, inference mode"}
    runs = {method_label(s["run"], results): model}
    for run in s["compare"]:
        label = method_label(run, load_results(run))
        while label in runs:
            label += "'"
        if not any(f.endswith(".keras") for f in os.listdir(run)):
            print(f"No checkpoint in {run}: its loss landscape is skipped.")
            continue
        runs[label] = keras.saving.load_model(find_checkpoint(run), compile=False)
    surfaces = {}
    for label, m in runs.items():
        print(f"Loss landscape {label} ...")
        surface = analysis.loss_landscape(m, (lx, ly), steps=s["landscape_steps"],
                                          span=s["landscape_span"], seed=s["seed"],
                                          batch_size=s["batch_size"], verbose=s["verbose"])
        surfaces[label] = {**surface, "split": settings["split"]}
    entry = {**settings, **surfaces[next(iter(surfaces))]}
    if len(surfaces) > 1:
        entry["runs"] = surfaces
    with open(os.path.join(out, "landscape.json"), "w") as f:
        json.dump(_jsonable({**settings, "runs": surfaces}), f, indent=2)
    files = {"landscape_json": os.path.join(out, "landscape.json")}
    if len(surfaces) > 1:
        files["landscape"] = analysis.plot_landscapes(surfaces, os.path.join(out, "landscape.png"))
    else:
        files["landscape"] = analysis.plot_landscape(
            entry, os.path.join(out, "landscape.png"),
            title=f"Loss landscape {next(iter(surfaces))}")
    files["landscape_1d"] = analysis.plot_landscape_1d(
        surfaces, os.path.join(out, "landscape_1d.png"))
    return entry, files


def _rates_and_energy(s, model, x, y, out, report):
    from keras_trt import analysis

    if "rates" not in s["skip"]:
        print("Firing rates ...")
        per_t = analysis.firing_rates(model, (x, y), per_timestep=True,
                                      batch_size=s["batch_size"], verbose=s["verbose"])
        rates = {k: float(np.mean(v)) for k, v in per_t.items()}
        report["firing_rates"] = rates
        report["firing_rates_per_timestep"] = per_t
        try:
            report["sops_per_sample"] = analysis.synaptic_operations(model, rates)
        except ValueError as e:
            report["sops_per_sample"] = {"error": str(e)}
        report["files"]["firing_rates"] = analysis.plot_firing_rates(
            rates, os.path.join(out, "firing_rates.png"))
        report["files"]["firing_rates_per_timestep"] = analysis.plot_firing_rates_over_time(
            per_t, os.path.join(out, "firing_rates_per_timestep.png"))
    if "energy" not in s["skip"]:
        print("Energy estimate ...")
        energy_rates = report.get("firing_rates") or analysis.firing_rates(
            model, (x, y), batch_size=s["batch_size"])
        try:
            energy = analysis.energy_report(model, rates=energy_rates,
                                            e_mac=s["e_mac"] * 1e-12, e_ac=s["e_ac"] * 1e-12)
        except ValueError as e:
            report["energy"] = {"error": str(e)}
        else:
            report["energy"] = energy
            with open(os.path.join(out, "energy.txt"), "w") as f:
                f.write(analysis.format_energy_table(energy) + "\n")
            report["files"]["energy_table"] = os.path.join(out, "energy.txt")
            report["files"]["energy"] = analysis.plot_energy(
                energy, os.path.join(out, "energy.png"))


def _curves(s, out, report):
    from keras_trt import analysis

    runs = {}
    for run in [s["run"]] + list(s["compare"]):
        log_path = os.path.join(run, "log.csv")
        if os.path.isfile(log_path):
            label = method_label(run, load_results(run))
            while label in runs:
                label += "'"
            runs[label] = log_path
        elif run != s["run"]:
            raise ExperimentError(f"--compare {run!r} has no log.csv")
    if runs:
        report["curves"] = {label: curve_summary(analysis.read_csv_log(p))
                            for label, p in runs.items()}
        report["files"]["learning_curves"] = analysis.plot_learning_curves(
            runs, os.path.join(out, "learning_curves.png"))
    else:
        print(f"No log.csv in {s['run']}: learning curves skipped.")


def analyze_run(run, *, checkpoint=None, output_dir=None, data=None, dataset=None,
                data_dir=None, split="test", landscape_split="train", fisher_split="train",
                samples=256, fisher_samples=None, batch_size=32, fisher_batches=101,
                fisher_batch_size=64, fisher_divisor=100.0, landscape_steps=21,
                landscape_span=1.0, landscape_samples=None, seed=0, compare=(),
                early_exit_criterion="confidence", early_exit_thresholds=None, skip=(),
                verbose=1, e_mac=4.6, e_ac=0.9):
    """Runs the analyses of `ANALYSES` not in `skip` on the run folder `run`; returns
    the report (also written as report.json). See the module docstring and
    docs/experiments.md for the arguments (the `analyze` command's flags, same names).
    Firing rates, energy and early exit use the first `samples` samples of `split`; the
    landscape `landscape_samples` (default `samples`) of `landscape_split` without
    augmentation in an order seeded by `seed`; the Fisher information the shuffled,
    augmented `fisher_split` stream (`fisher_batches` batches of `fisher_batch_size` per
    prefix length, divisor `fisher_divisor`, a number or "batches"), or with
    `fisher_samples` the first N samples as arrays. `e_mac`/`e_ac`: pJ per operation.
    """
    import keras

    import keras_trt  # noqa: F401  (registers the layers)
    import keras_trt.models  # noqa: F401  (registers model-specific layers)
    from keras_trt import analysis

    s = {k: v for k, v in locals().items() if k not in ("keras", "keras_trt", "analysis")}
    s["run"] = os.fspath(run)
    if not os.path.isdir(s["run"]):
        raise ExperimentError(f"--run {s['run']!r} is not a directory")
    bad = sorted(set(skip) - set(ANALYSES))
    if bad:
        raise ValueError(f"`skip`: unknown analyses {bad}; choose from {ANALYSES}.")
    out = output_dir or os.path.join(s["run"], "analysis")
    os.makedirs(out, exist_ok=True)
    results = load_results(s["run"])
    checkpoint = find_checkpoint(s["run"], checkpoint)
    model = keras.saving.load_model(checkpoint, compile=False)
    report = {"run": os.path.abspath(s["run"]), "checkpoint": os.path.abspath(checkpoint),
              "backend": keras.backend.backend(),
              "settings": _jsonable({k: v for k, v in s.items() if k != "data"}
                                    | {"data_npz": data if isinstance(data, (str, os.PathLike))
                                       else None}), "files": {}}
    started = time.time()
    if {"rates", "energy", "early_exit"} - set(skip):
        x, y, source = _load(s, results, split, samples)
        report["data"] = {**source, "samples": len(x)}
        _rates_and_energy(s, model, x, y, out, report)
    if "fisher" not in skip:
        print("Fisher information ...")
        arrays = bool(data is not None or fisher_samples)
        fdata, fy, fsource = _load(s, results, fisher_split, fisher_samples, stream=not arrays,
                                   batch_size=fisher_batch_size, shuffle=True, seed=seed)
        if arrays:
            fsource["samples"] = len(fdata)
            fdata = (fdata, fy)
        fi = analysis.fisher_information(model, fdata, batches=fisher_batches,
                                         divisor=fisher_divisor, batch_size=fisher_batch_size,
                                         shuffle=arrays, seed=seed, verbose=verbose)
        report["fisher"] = {**fi, "data": fsource}
        report["files"]["fisher"] = analysis.plot_fisher(fi, os.path.join(out, "fisher.png"))
    if "landscape" not in skip:
        report["landscape"], files = _landscapes(s, results, model, out)
        report["files"].update(files)
    if "curves" not in skip:
        _curves(s, out, report)
    if "early_exit" not in skip:
        print("Early exit ...")
        table = analysis.early_exit(model, (x, y), thresholds=early_exit_thresholds,
                                    criterion=early_exit_criterion, batch_size=batch_size)
        report["early_exit"] = {**table, "samples": len(x), "definition":
                                "exit at the first t whose running-mean logits reach the "
                                "threshold; computed causally from one full-T pass"}
        report["files"]["early_exit"] = analysis.plot_early_exit(
            table, os.path.join(out, "early_exit.png"))
        report["files"]["early_exit_csv"] = analysis.save_early_exit_csv(
            table, os.path.join(out, "early_exit.csv"))
    report["seconds"] = time.time() - started
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(_jsonable(report), f, indent=2)
    print(f"Report written to {out}")
    return report
