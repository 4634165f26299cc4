"""`python -m keras_trt.experiments quickstart`: SDT, TET and TRT on the embedded
event-camera digits, same seed and budget, and a table of train accuracy, test accuracy
and their gap.

Offline: the data is `keras_trt.data.digits_dvs` (scikit-learn's handwritten digits
recorded by a DVS emulator, (10, 32, 32, 2) frames), generated once and cached; the model
a small VGG-style SNN (the `quickstart` preset). Writes `results.json`, `table.txt`,
`learning_curves.png` and one run folder per method into `--output-dir` (default
`runs/quickstart`).

```text
KERAS_BACKEND=torch python -m keras_trt.experiments quickstart --epochs 1 --max-steps 2
```
"""

import copy
import os
import time

from keras_trt.atomic_io import write_json_atomic
from keras_trt.experiments import execution, methods
from keras_trt.experiments.cli import arguments, preset_runs
from keras_trt.experiments.presets import QUICK_WIDTHS, get_preset
from keras_trt.experiments.training import BEST_ACCURACY_NOTE

__all__ = ["main", "format_table"]

# What the study found (docs/results.md, "Study"), printed after the table.
STUDY_FINDING = (
    "Over 5 seeds (300 training samples, 20 epochs) TRT beat SDT by 1.65 points of test "
    "accuracy (95% CI [+1.31, +1.99]) but not TET (+0.16, CI [-0.35, +0.68]); see "
    "docs/results.md, or run: python recipes/study.py --seeds 5 (without a clone: keras-trt "
    "study --seeds 5)")


def train_accuracy(preset, args, model):
    """Accuracy on the training split in inference mode (no shuffling or augmentation)."""
    data = preset_runs.load(preset, args, "train", shuffle=False, augment=False)
    if args.max_steps:
        data = data.take(args.max_steps)
    return float(model.evaluate(data, verbose=0, return_dict=True)["accuracy"])


def format_table(rows):
    """The comparison table: train and test accuracy, gap, test accuracy at the selected
    epoch and the best test accuracy, one line per method."""
    selected = rows[0]["selected_on"] if rows else "validation"
    lines = [f"{'method':<8}{'train acc':>11}{'test acc':>10}{'gap':>8}"
             f"{'test@best ' + selected[:3]:>15}{'best test':>11}", "-" * 63]
    for r in rows:
        lines.append(f"{r['method'].upper():<8}{100 * r['train_accuracy']:>10.2f}%"
                     f"{100 * r['test_accuracy']:>9.2f}%{100 * r['gap']:>7.2f}%"
                     f"{100 * r['test_accuracy_at_best_epoch']:>14.2f}%"
                     f"{100 * r['best_test_accuracy']:>10.2f}%")
    return "\n".join(lines)


def _hyperparameters(args, method):
    return methods.method_hyperparameters(method, preset_runs.hyperparameters(args))


def run_method(preset, args, method, callbacks=()):
    """Trains `method` in `<args.output_dir>/<method>`; returns its table row."""
    margs = copy.copy(args)
    margs.method = method
    margs.output_dir = os.path.join(args.output_dir, method)
    run = preset_runs.train(preset, margs, callbacks=callbacks)
    res = run.results
    train_acc = train_accuracy(preset, margs, run.model)
    test_acc = res["final_test_accuracy"]
    return {"method": method, "train_accuracy": train_acc, "test_accuracy": test_acc,
            "gap": train_acc - test_acc, "selected_on": res["selected_on"],
            "best_epoch": res["best_epoch"],
            "test_accuracy_at_best_epoch": res["test_accuracy_at_best_epoch"],
            "best_test_accuracy": res["best_test_accuracy"],
            "hyperparameters": _hyperparameters(margs, method),
            "training_time_s": res["training_time_s"]}


def main(argv=None, callbacks=(), prog="quickstart.py"):
    """Trains and compares the methods; returns what results.json holds."""
    from keras_trt.analysis import plot_learning_curves

    preset = get_preset("quickstart")
    args = arguments.parse_args(preset, argv, prog=prog, several_methods=True)
    t0 = time.perf_counter()
    os.makedirs(args.output_dir, exist_ok=True)
    rows, runs = [], {}
    for method in args.methods:
        hp = _hyperparameters(args, method)
        print(f"\n=== {method.upper()} "
              f"({', '.join(f'{k}={v}' for k, v in hp.items()) or 'plain CE'}) ===")
        rows.append(run_method(preset, args, method, callbacks))
        runs[method.upper()] = os.path.join(args.output_dir, method)
    wall = time.perf_counter() - t0
    table = format_table(rows)
    plot_learning_curves(
        runs, os.path.join(args.output_dir, "learning_curves.png"),
        metrics=["test_accuracy", "accuracy", "test_mean_logit_crossentropy",
                 "mean_logit_crossentropy"], weight=0,
        title="keras-trt quick start: digits_dvs, small VGG-style SNN (train: running, "
              "training mode)")
    summary = {
        "dataset": "digits_dvs", "model": f"VGGSNN(widths={list(args.widths or QUICK_WIDTHS)})",
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
        "timesteps": args.timesteps, "max_steps": args.max_steps,
        "backend": execution.backend_name(), "wall_time_s": round(wall, 1),
        "select_on": args.select_on, "validation_fraction": args.validation_fraction,
        "train_samples": args.train_samples,
        "note": ("train accuracy: the final model evaluated on the training split (without "
                 "the validation part) in inference mode; test accuracy: final epoch; "
                 "gap = train - test. " + BEST_ACCURACY_NOTE),
        "methods": rows,
    }
    write_json_atomic(os.path.join(args.output_dir, "results.json"), summary)
    with open(os.path.join(args.output_dir, "table.txt"), "w") as f:
        f.write(table + "\n")
    print(f"\n{table}\n")
    print(STUDY_FINDING)
    print(f"{len(rows)} methods x {args.epochs} epochs in {wall:.0f} s on "
          f"{execution.backend_name()}. Wrote {args.output_dir}/results.json, table.txt, "
          "learning_curves.png and one run folder per method.")
    return summary
