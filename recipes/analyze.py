"""Runs every analysis of the paper on a recipe's output directory and writes a report.

    python recipes/analyze.py --run runs/dvs_cifar10_trt

reads from the run directory
- the checkpoint: `best.keras` if present, else `last.keras`, else the only `.keras` file
  (or `--checkpoint FILE`);
- `results.json`: the dataset name and loader arguments (see `dataset_from_results`);
- `log.csv` (Keras CSVLogger) for the learning curves (skipped if absent),

and writes into `--output` (default `<run>/analysis`):
- `firing_rates.png`, `firing_rates_per_timestep.png`: the ASFR of every LIF layer;
- `fisher.png`: FI(t) for t = 1..T with the information centroid;
- `landscape.png`: the filter-normalised 2-D loss landscape (CE of the time-averaged
  logits, inference mode), its grid, sample count, split and seed in the title;
  `landscape_1d.png`: its centre row (direction 2 at 0); `landscape.json`: the grids and
  those settings. With `--compare` runs, every run's landscape is computed on the same
  samples with the same seed and grid, and `landscape.png` shows them side by side with
  the same contour levels, colour scale and axes, `landscape_1d.png` on one axes;
- `learning_curves.png`: EMA-smoothed (0.5) curves of this run and of `--compare` runs;
- `energy.png`, `energy.txt`: per weight layer, MACs and spike-driven ACs and their
  energy (pJ per sample) against the same network without spikes
  (`keras_trt.analysis.energy_report`; `--e-mac`/`--e-ac` set the pJ per operation);
- `early_exit.png`, `early_exit.csv`: accuracy against the mean number of timesteps used
  when each sample stops at the first confident timestep (`--early-exit-criterion`,
  `--early-exit-thresholds`; computed from one full-T pass over the `--split` samples);
- `report.json`: all numbers (rates, SOPs per sample, FI, IC, the landscape grid, the
  curves' final/best values) and the settings used.

Data: `--dataset NAME` (default: the run's, from results.json) loads
`keras_trt.data.NAME(split=..., batch_size=...)` with the run's loader arguments.
- Firing rates: the first `--samples` samples of `--split` (default test).
- Landscape: `--landscape-samples` (default `--samples`) samples of `--landscape-split`
  (default train, as Li et al.'s tool: the paper's claim is about the training loss),
  WITHOUT augmentation, drawn in a random order seeded by `--seed` (so that every class
  is represented), the same for every run.
- Fisher information: the reference's protocol: the shuffled, augmented training
  stream (`--fisher-split`, default train), `--fisher-batches` (101) batches of
  `--fisher-batch-size` (64) for each prefix length t, a fresh pass for each t, divisor
  100 (`keras_trt.analysis.fisher_information`). `--fisher-samples N` uses the first N
  samples as arrays instead, shuffled anew for each t.
`--data-npz FILE` (arrays `x` and `y`) replaces the dataset for all three.
"""

import argparse
import inspect
import json
import os
import sys
import time

import numpy as np

ANALYSES = ("rates", "fisher", "landscape", "curves", "energy", "early_exit")
_ARG_GROUPS = ("args", "config", "hyperparameters", "hparams", "settings", "data")
_LOADER_ARG_KEYS = ("data_args", "dataset_args", "loader_args", "data_kwargs",
                    "dataset_kwargs", "loader_kwargs")


def fail(message):
    print(f"analyze.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a recipe's output directory")
    p.add_argument("--checkpoint", help="a .keras file (default: best/last in --run)")
    p.add_argument("--output", help="report folder (default <run>/analysis)")
    p.add_argument("--dataset", help="keras_trt.data loader name (default: results.json's)")
    p.add_argument("--data-dir", help="passed to the loader as data_dir")
    p.add_argument("--data-npz", help="an .npz with arrays x and y, instead of a dataset")
    p.add_argument("--split", default="test", help="split for the firing rates")
    p.add_argument("--landscape-split", default="train",
                   help="split for the landscape (default train, without augmentation)")
    p.add_argument("--fisher-split", default="train", help="split for the Fisher information")
    p.add_argument("--samples", type=int, default=256, help="samples for rates and landscape")
    p.add_argument("--fisher-samples", type=int, default=None,
                   help="use the first N samples as arrays for the Fisher information "
                        "(default: stream the shuffled, augmented split, as the reference)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--fisher-batches", type=int, default=101,
                   help="batches per prefix length t (reference: 101)")
    p.add_argument("--fisher-batch-size", type=int, default=64, help="(reference: 64)")
    p.add_argument("--fisher-divisor", default="100",
                   help="divisor of the squared gradients: a number (reference: 100) or "
                        "'batches'")
    p.add_argument("--landscape-steps", type=int, default=21)
    p.add_argument("--landscape-span", type=float, default=1.0)
    p.add_argument("--landscape-samples", type=int, default=None,
                   help="samples per landscape point (default: --samples)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the landscape directions and samples and of the Fisher "
                        "stream")
    p.add_argument("--compare", nargs="*", default=[],
                   help="other run directories whose learning curves and loss landscapes "
                        "join this run's")
    p.add_argument("--early-exit-criterion", default="confidence",
                   choices=("confidence", "margin"),
                   help="early exit score: top softmax probability or top-2 margin")
    p.add_argument("--early-exit-thresholds", type=float, nargs="+", default=None,
                   help="early exit thresholds in [0, 1] (default: a sweep per criterion)")
    p.add_argument("--skip", nargs="*", default=[], choices=ANALYSES)
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument("--e-mac", type=float, default=4.6,
                   help="pJ per multiply-accumulate (default: 32-bit float, 45 nm, Horowitz 2014)")
    p.add_argument("--e-ac", type=float, default=0.9,
                   help="pJ per accumulate (default: 32-bit float add, 45 nm, Horowitz 2014)")
    args = p.parse_args(argv)
    for name in ("samples", "batch_size", "fisher_batches", "fisher_batch_size",
                 "landscape_steps"):
        if getattr(args, name) < 1:
            fail(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.landscape_steps % 2 == 0:
        fail(f"--landscape-steps must be odd (the grid's centre is the model itself), "
             f"got {args.landscape_steps}")
    outside = [t for t in args.early_exit_thresholds or () if not 0.0 <= t <= 1.0]
    if outside:
        fail(f"--early-exit-thresholds must lie in [0, 1], got {outside}")
    if args.e_mac < 0 or args.e_ac < 0:
        fail(f"--e-mac and --e-ac must be >= 0 pJ, got {args.e_mac} and {args.e_ac}")
    if args.landscape_span <= 0:
        fail(f"--landscape-span must be > 0, got {args.landscape_span}")
    if args.fisher_divisor != "batches":
        try:
            args.fisher_divisor = float(args.fisher_divisor)
        except ValueError:
            fail(f"--fisher-divisor must be a number or 'batches', got {args.fisher_divisor!r}")
        if args.fisher_divisor <= 0:
            fail("--fisher-divisor must be > 0")
    if not os.path.isdir(args.run):
        fail(f"--run {args.run!r} is not a directory")
    return args


def find_checkpoint(run, checkpoint=None):
    if checkpoint:
        if not os.path.isfile(checkpoint):
            fail(f"--checkpoint {checkpoint!r} does not exist")
        return checkpoint
    for name in ("best.keras", "last.keras"):
        if os.path.isfile(os.path.join(run, name)):
            return os.path.join(run, name)
    found = sorted(f for f in os.listdir(run) if f.endswith(".keras"))
    if len(found) == 1:
        return os.path.join(run, found[0])
    if not found:
        fail(f"no .keras checkpoint in {run!r} (expected best.keras or last.keras)")
    fail(f"several .keras files in {run!r} ({', '.join(found)}): pass --checkpoint")


def load_results(run):
    path = os.path.join(run, "results.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def dataset_from_results(results, split=None):
    """(dataset name or None, loader kwargs) from a recipe's results.json.

    Accepted layouts: `"dataset": "digits_dvs"` or `"dataset": {"name": ..., "args": {...}}`
    (the recipes write `{"name": ..., "train_loader_args": {...}, "test_loader_args":
    {...}}`: the arguments of `split` are used) at the top level or inside one of "args", "config", "hyperparameters", "hparams",
    "settings", "data"; loader arguments in "data_args" / "dataset_args" / "loader_args"
    (or "*_kwargs") next to it; a "data_dir" next to it is passed on too.
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


def load_npz(path, samples=None):
    if not os.path.isfile(path):
        fail(f"--data-npz {path!r} does not exist")
    with np.load(path) as f:
        if "x" not in f or "y" not in f:
            fail(f"--data-npz {path!r} must hold arrays 'x' and 'y'")
        return f["x"][:samples], f["y"][:samples]


def load_data(args, results, split, samples, stream=False, batch_size=None, **overrides):
    """(x, y, source) of the first `samples` samples of `split`; with `stream`, (the
    loader's dataset, None, source) instead. `overrides` go to the loader when it takes
    them (augment, shuffle, seed)."""
    from keras_trt.analysis import take_arrays

    if args.data_npz:
        x, y = load_npz(args.data_npz, samples)
        return x, y, {"npz": args.data_npz}
    import keras_trt as kt

    name, kwargs = dataset_from_results(results, split)
    if args.dataset and args.dataset != name:
        kwargs = {}  # another dataset: the run's loader arguments do not apply
    name = args.dataset or name
    if not name:
        fail("no dataset: results.json names none; pass --dataset NAME or --data-npz FILE")
    if args.data_dir:
        kwargs["data_dir"] = args.data_dir
    try:
        loader = getattr(kt.data, name)
    except (AttributeError, ImportError) as e:
        fail(f"keras_trt.data has no dataset loader {name!r} ({e}); pass --dataset with "
             "one of its loaders or --data-npz FILE")
    kwargs.update(overrides)
    params = inspect.signature(loader).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    kwargs = {k: v for k, v in kwargs.items() if k not in ("split", "batch_size")}
    batch_size = batch_size or args.batch_size
    try:
        dataset = loader(split=split, batch_size=batch_size, **kwargs)
    except Exception as e:  # noqa: BLE001 - the message is what the user needs
        fail(f"loading dataset {name!r} (split={split!r}, {kwargs}) failed: "
             f"{type(e).__name__}: {e}")
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
    return value


def curve_summary(log):
    out = {}
    for key, values in log.items():
        if key == "epoch" or not np.isfinite(values).any():
            continue
        best = np.nanmin(values) if "loss" in key else np.nanmax(values)
        out[key] = {"final": float(values[-1]), "best": float(best),
                    "best_epoch": int(np.nanargmin(values) if "loss" in key
                                      else np.nanargmax(values)) + 1}
    return out


def landscapes(args, results, model, out, verbose):
    """The loss landscape of this run (and of every --compare run, on the same samples,
    seed and grid), landscape.json and the plots; returns (report entry, files)."""
    import keras

    from keras_trt import analysis

    n = args.landscape_samples or args.samples
    lx, ly, source = load_data(args, results, args.landscape_split, n, augment=False,
                               shuffle=True, seed=args.seed)
    if args.data_npz:
        source["split"] = "npz"
    settings = {"steps": args.landscape_steps, "span": args.landscape_span,
                "samples": len(lx), "seed": args.seed, "split": source.get("split"),
                "augmentation": False, "data": source,
                "loss_definition": "CE of the time-averaged logits, inference mode"}
    runs = {method_label(args.run, results): model}
    for run in args.compare:
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
        surface = analysis.loss_landscape(m, (lx, ly), steps=args.landscape_steps,
                                          span=args.landscape_span, seed=args.seed,
                                          batch_size=args.batch_size, verbose=verbose)
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


def main(argv=None):
    args = parse_args(argv)
    import keras

    import keras_trt  # noqa: F401  (registers the layers)
    from keras_trt import analysis

    try:
        import keras_trt.models  # noqa: F401  (registers model-specific layers)
    except ImportError:
        pass
    out = args.output or os.path.join(args.run, "analysis")
    os.makedirs(out, exist_ok=True)
    results = load_results(args.run)
    checkpoint = find_checkpoint(args.run, args.checkpoint)
    model = keras.saving.load_model(checkpoint, compile=False)
    report = {"run": os.path.abspath(args.run), "checkpoint": os.path.abspath(checkpoint),
              "backend": keras.backend.backend(), "settings": vars(args), "files": {}}
    started = time.time()
    verbose = args.verbose

    need_eval = {"rates", "energy", "early_exit"} - set(args.skip)
    if need_eval:
        x, y, source = load_data(args, results, args.split, args.samples)
        report["data"] = {**source, "samples": len(x)}
    if "rates" not in args.skip:
        print("Firing rates ...")
        per_t = analysis.firing_rates(model, (x, y), per_timestep=True,
                                      batch_size=args.batch_size, verbose=verbose)
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
    if "energy" not in args.skip:
        print("Energy estimate ...")
        energy_rates = report.get("firing_rates") or analysis.firing_rates(
            model, (x, y), batch_size=args.batch_size)
        try:
            energy = analysis.energy_report(model, rates=energy_rates, e_mac=args.e_mac * 1e-12,
                                            e_ac=args.e_ac * 1e-12)
        except ValueError as e:
            report["energy"] = {"error": str(e)}
        else:
            report["energy"] = energy
            with open(os.path.join(out, "energy.txt"), "w") as f:
                f.write(analysis.format_energy_table(energy) + "\n")
            report["files"]["energy_table"] = os.path.join(out, "energy.txt")
            report["files"]["energy"] = analysis.plot_energy(
                energy, os.path.join(out, "energy.png"))
    if "fisher" not in args.skip:
        print("Fisher information ...")
        arrays = bool(args.data_npz or args.fisher_samples)
        fdata, fy, fsource = load_data(
            args, results, args.fisher_split, args.fisher_samples, stream=not arrays,
            batch_size=args.fisher_batch_size, shuffle=True, seed=args.seed)
        if arrays:
            fsource["samples"] = len(fdata)
            fdata = (fdata, fy)
        fi = analysis.fisher_information(model, fdata, batches=args.fisher_batches,
                                         divisor=args.fisher_divisor,
                                         batch_size=args.fisher_batch_size, shuffle=arrays,
                                         seed=args.seed, verbose=verbose)
        report["fisher"] = {**fi, "data": fsource}
        report["files"]["fisher"] = analysis.plot_fisher(
            fi, os.path.join(out, "fisher.png"))
    if "landscape" not in args.skip:
        report["landscape"], files = landscapes(args, results, model, out, verbose)
        report["files"].update(files)
    if "curves" not in args.skip:
        runs = {}
        for run in [args.run] + list(args.compare):
            log_path = os.path.join(run, "log.csv")
            if os.path.isfile(log_path):
                label = method_label(run, load_results(run))
                while label in runs:
                    label += "'"
                runs[label] = log_path
            elif run != args.run:
                fail(f"--compare {run!r} has no log.csv")
        if runs:
            report["curves"] = {label: curve_summary(analysis.read_csv_log(p))
                                for label, p in runs.items()}
            report["files"]["learning_curves"] = analysis.plot_learning_curves(
                runs, os.path.join(out, "learning_curves.png"))
        else:
            print(f"No log.csv in {args.run}: learning curves skipped.")
    if "early_exit" not in args.skip:
        print("Early exit ...")
        ex, ey = x, y
        table = analysis.early_exit(model, (ex, ey), thresholds=args.early_exit_thresholds,
                                    criterion=args.early_exit_criterion,
                                    batch_size=args.batch_size)
        report["early_exit"] = {**table, "samples": len(ex), "definition":
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


if __name__ == "__main__":
    main()
