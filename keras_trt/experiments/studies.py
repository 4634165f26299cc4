"""`study`: SDT, TET and TRT over several seeds, with means, spreads and paired intervals.

Every (seed, method) pair is one run of `keras_trt.experiments.train` in
`<output_dir>/runs/<label>/seed<k>/`, analysed on its final weights: train accuracy
(inference mode), test accuracy (final, and at the best validation epoch), the train-test
gap, the mean firing rate (test split), the Fisher information centroid IC (training
split, `fisher_batches` batches) and the test accuracy from the first t timesteps' logits.
A finished run (its `study_run.json`) is skipped and an interrupted one resumed exactly,
so the same call continues an interrupted study.

`sweeps={"lam": [5e-5, 1e-4], "decay": [0.5, 1.0]}` replaces the single TRT run by one
per swept value, each varying one hyperparameter around `hyperparameters`: label
`trt[lam=0.0001]`, folder `runs/trt_lam-0.0001/`; a value equal to the base value is the
plain `trt` run (trained once, in `runs/trt/`). Outputs:
keras_trt.experiments.study_report (docs/experiments.md has the schema, and runs
examples like this one on every backend).

```text
import numpy as np
import keras_trt as kt

rng = np.random.default_rng(0)
x, y = rng.random((40, 3, 6, 6, 2), "float32"), rng.integers(0, 2, 40)
build = lambda: kt.models.VGGSNN(num_classes=2, input_shape=(3, 6, 6, 2), widths=(2, 4))
result = kt.experiments.study(build, (x[:24], y[:24]), (x[24:32], y[24:32]), (x[32:], y[32:]),
                              seeds=1, methods=("tet", "trt"), epochs=1, batch_size=8,
                              output_dir="runs/example-study", verbose=0)
print(result["labels"], len(result["runs"]))   # ['tet', 'trt'] 2
```
"""

import inspect
import os
import time

from keras_trt.atomic_io import write_json_atomic
from keras_trt.experiments import methods as methods_lib
from keras_trt.experiments import run_folder, study_report, training
from keras_trt.experiments.data import Split

__all__ = ["study", "plan", "run_folder_of", "SWEEP_PARAMETERS"]

SWEEP_PARAMETERS = ("eta", "lam", "decay", "epsilon")   # TRT's, varied one at a time
RUN_FILE = "study_run.json"


def plan(methods, hyperparameters=None, sweeps=None):
    """`[(label, method, overrides)]` in table order. Without sweeps one run per method;
    with sweeps, `trt` becomes one run per swept value (one hyperparameter varied at a
    time), a value equal to the base value being the plain `trt` run (once)."""
    hp = methods_lib.resolve_hyperparameters(hyperparameters)
    sweeps = check_sweeps(sweeps)
    out, seen = [], set()
    for method in methods:
        methods_lib.check_method(method)
        variants = ([(method, {})] if method != "trt" or not sweeps else
                    [("trt", {}) if value == hp[name] else (sweep_label(name, value),
                                                             {name: value})
                     for name, values in sweeps.items() for value in values])
        for label, overrides in variants:
            if label not in seen:
                seen.add(label)
                out.append((label, method, overrides))
    return out


def check_sweeps(sweeps):
    """`{parameter: [values]}` with TRT's parameter names and non-negative numbers."""
    out = {}
    for name, values in (sweeps or {}).items():
        if name not in SWEEP_PARAMETERS:
            raise ValueError(f"`sweeps`: {name!r} is not one of TRT's hyperparameters "
                             f"({', '.join(SWEEP_PARAMETERS)}).")
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"`sweeps[{name!r}]` must be a list of numbers, got "
                             f"{values!r}.") from None
        if not values or min(values) < 0:
            raise ValueError(f"`sweeps[{name!r}]` needs non-negative values, got {values}.")
        out[name] = values
    return out


def sweep_label(name, value):
    """The label of TRT with `name` set to `value`: "trt[lam=1e-05]"."""
    return f"trt[{name}={value:g}]"


def run_folder_of(output_dir, label, seed):
    """`<output_dir>/runs/<label as a folder name>/seed<seed>`: trt[lam=1e-05] ->
    runs/trt_lam-1e-05/seed0."""
    name = label.replace("[", "_").replace("]", "").replace("=", "-")
    return os.path.join(output_dir, "runs", name, f"seed{seed}")


def _folder(output_dir, label, seed, base, sweeps):
    """The plain TRT run's folder; a study written before a base value meant the plain run
    kept it in runs/trt_<name>-<base>/, which is used when it holds the run."""
    own = run_folder_of(output_dir, label, seed)
    if label != "trt":
        return own
    candidates = [own] + [run_folder_of(output_dir, sweep_label(n, base[n]), seed)
                          for n, values in sweeps.items() if base[n] in values]
    for check in (lambda f: os.path.isfile(os.path.join(f, RUN_FILE)),
                  run_folder.has_saved_state):
        for folder in candidates:
            if check(folder):
                return folder
    return own


def _for_seed(value, seed):
    """`value(seed)` for a function of the seed, else `value`."""
    if not callable(value) or hasattr(value, "cardinality"):
        return value
    try:
        takes_seed = len(inspect.signature(value).parameters) == 1
    except (TypeError, ValueError):   # a callable object without a signature
        takes_seed = False
    return value(seed) if takes_seed else value


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def study(model, train_data, validation_data=None, test_data=None, *, seeds=5,
          methods=("sdt", "tet", "trt"), hyperparameters=None, sweeps=None, output_dir,
          epochs=20, learning_rate=1e-3, batch_size=None, max_steps=None,
          select_on="validation", fisher_batches=4, train_eval_data=None,
          mixed_precision=None, jit="auto", verbose=1, callbacks=(), observe_fisher=None,
          fisher_data=None, fi_batches=101, name=None, config=None, run_record=None,
          record=None):
    """Trains every method on every seed (and every swept value) and compares them.

    Args:
        model: a function that returns a new SpikingModel (called once per run, after
            seeding).
        train_data, validation_data, test_data: as `train` takes them, or functions of the
            seed that return them (so that each seed shuffles and augments its own way).
        seeds: how many (0, 1, ...) or which seeds.
        methods: of "sdt", "tet", "trt". hyperparameters: the base values (flat, as
            `train`); sweeps: `{TRT parameter: [values]}`, each varied alone.
        output_dir: the study's folder (runs/ inside, the tables and figures next to it).
        epochs, learning_rate, batch_size, max_steps, select_on, mixed_precision, jit,
            verbose, callbacks, observe_fisher, fisher_data (may be a function of the
            seed), config, name: passed to every `train` (`fi_batches` as
            `fisher_batches`).
        fisher_batches: batches of `train_eval_data` for each run's Fisher centroid.
        train_eval_data: the training data without shuffling or augmentation, for train
            accuracy and the Fisher centroid (default: `train_data`); may be a function
            of the seed.
        run_record: entries added to each run's results.json, or a function
            `(method, seed) -> dict`. record: entries added to study.json.

    Returns:
        dict: what study.json holds (`labels`, `seeds`, `summary`, `differences`,
        `sweeps`, `runs`, ...).
    """
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("`seeds` must name at least one seed.")
    base = methods_lib.resolve_hyperparameters(hyperparameters)
    sweeps = check_sweeps(sweeps)
    runs = plan(methods, base, sweeps)
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    labels = [label for label, _, _ in runs]
    todo = [(seed, *r) for seed in seeds for r in runs]
    common = dict(model=model, data=(train_data, validation_data, test_data),
                  train_eval=train_eval_data, base=base, sweeps=sweeps,
                  output_dir=output_dir, run_record=run_record, fisher_batches=fisher_batches,
                  train_args=dict(epochs=epochs, learning_rate=learning_rate,
                                  batch_size=batch_size, max_steps=max_steps,
                                  select_on=select_on, mixed_precision=mixed_precision,
                                  jit=jit, verbose=verbose, callbacks=callbacks,
                                  observe_fisher=observe_fisher, fisher_batches=fi_batches,
                                  name=name, config=config),
                  fisher_data=fisher_data)
    rows, trained_times = [], []
    t0 = time.perf_counter()
    for i, (seed, label, method, overrides) in enumerate(todo, 1):
        left = len(todo) - i + 1
        eta = (f"; about {_duration(left * sum(trained_times) / len(trained_times))} left"
               if trained_times else "")
        print(f"[study] run {i}/{len(todo)}: {label.upper()} seed {seed} "
              f"({_duration(time.perf_counter() - t0)} elapsed{eta})", flush=True)
        start = time.perf_counter()
        row, skipped = _run_one(common, label, method, overrides, seed)
        if skipped:
            print(f"[study]   finished before: skipped ({row['folder']})", flush=True)
        else:
            trained_times.append(time.perf_counter() - start)
        rows.append(row)
    wall = time.perf_counter() - t0
    settings = {"methods": list(methods), "seeds": seeds, "hyperparameters": base,
                "sweeps": sweeps, "epochs": epochs, "learning_rate": learning_rate,
                "batch_size": batch_size, "max_steps": max_steps, "select_on": select_on,
                "fisher_batches": fisher_batches, "output_dir": output_dir}
    result = study_report.write(output_dir, rows, labels, seeds, base, sweeps,
                                settings=settings, wall_time_s=round(wall, 1),
                                fisher_batches=fisher_batches,
                                record={"recipe": name, "dataset": None,
                                        "model": getattr(model, "__name__", None),
                                        **(record or {})})
    print(f"\n{result['table']}\n")
    print(f"{len(todo)} runs ({len(trained_times)} trained now) in {_duration(wall)} on "
          f"{result['backend']}. Wrote {output_dir}/table.txt, study.json, runs.csv, "
          "summary.csv, learning_curves.png, timestep_accuracy.png"
          + "".join(f", sweep_{n}.csv" for n in sweeps) + ".")
    result.pop("table")
    return result


def _run_one(c, label, method, overrides, seed):
    """Trains (or resumes) one run and analyses it; returns (its row, skipped)."""
    import json

    import keras

    out = _folder(c["output_dir"], label, seed, c["base"], c["sweeps"])
    done = os.path.join(out, RUN_FILE)
    if os.path.isfile(done):
        with open(done) as f:
            row = json.load(f)
        return {**row, "label": label}, True
    hp = {**c["base"], **overrides}
    keras.utils.set_random_seed(seed)   # before the data: tf.data seeds depend on it
    train_data, test_data = _for_seed(c["data"][0], seed), _for_seed(c["data"][2], seed)
    validation_data = _for_seed(c["data"][1], seed)
    fisher_data = c["fisher_data"]
    if fisher_data is not None:
        fisher_data = lambda: _for_seed(c["fisher_data"], seed)   # noqa: E731 - read late
    record = c["run_record"]
    record = record(method, seed) if callable(record) else record
    run = training.train(
        c["model"], train_data, validation_data, test_data, method=method,
        hyperparameters=hp, seed=seed, output_dir=out, resume=run_folder.has_saved_state(out),
        fisher_data=fisher_data, record=record, **c["train_args"])
    args = c["train_args"]
    train_eval = _for_seed(c["train_eval"], seed)
    train_eval = train_data if train_eval is None else train_eval
    train_split = Split(train_eval, role="train", batch_size=args["batch_size"],
                        max_steps=args["max_steps"])
    scores = run.model.evaluate(**train_split.evaluate_arguments(), verbose=0,
                                return_dict=True)
    train_acc = float(scores["accuracy"])
    res = run.results
    test_fresh = _for_seed(c["data"][2], seed)
    row = {"label": label, "method": method, "seed": seed,
           "hyperparameters": methods_lib.method_hyperparameters(method, hp),
           "final_test_accuracy": res["final_test_accuracy"],
           "test_accuracy_at_best_epoch": res["test_accuracy_at_best_epoch"],
           "best_epoch": res["best_epoch"], "selected_on": res["selected_on"],
           "best_test_accuracy": res["best_test_accuracy"],
           "train_accuracy": train_acc, "gap": train_acc - res["final_test_accuracy"],
           **analyse(run.model, test_fresh, train_eval, c["fisher_batches"],
                     args["batch_size"], args["max_steps"]),
           "training_time_s": res["training_time_s"],
           "folder": os.path.relpath(out, c["output_dir"])}
    write_json_atomic(done, row)
    return row, False


def analyse(model, test_data, train_eval_data, fisher_batches, batch_size=None,
            max_steps=None):
    """The per-run measurements on the final weights: firing rates and accuracy by
    timesteps on the test split, the Fisher centroid on the training split."""
    import numpy as np

    from keras_trt import analysis

    test = Split(test_data, role="test", batch_size=batch_size, max_steps=max_steps).data
    rates = analysis.firing_rates(model, test, batch_size=batch_size or 32)
    fisher = analysis.fisher_information(model, train_eval_data, batches=fisher_batches,
                                         batch_size=batch_size or 64)
    acc_t = analysis.timestep_accuracy(model, test, batch_size=batch_size or 32)
    return {"firing_rate": float(np.mean(list(rates.values()))),
            "firing_rates": {k: float(v) for k, v in rates.items()},
            "ic": float(fisher["ic"]),
            "fisher": [float(v) for v in fisher["fisher"]],
            "accuracy_by_timesteps": [float(v) for v in acc_t["accuracy"]],
            "accuracy_t1": float(acc_t["accuracy"][0])}
