#!/usr/bin/env python
"""Quick start: SDT, TET and TRT on the embedded event-camera digits, in a few minutes on a CPU.

    KERAS_BACKEND=torch python recipes/quickstart.py

Offline: the data is `keras_trt.data.digits_dvs` (scikit-learn's handwritten digits
recorded by a DVS emulator, (10, 32, 32, 2) frames), generated once and cached. A small
VGG-style SNN (`kt.models.VGGSNN(widths=(8, 16, 16, 32))`) is trained with each method,
same seed and same budget, exactly as the paper recipes train (Adam, cosine annealing,
evaluation on the test split every epoch). It ends with a table of train accuracy, test
accuracy and their gap, and writes `learning_curves.png` and `results.json` (plus one run
folder per method) into `--output-dir` (default `runs/quickstart`).
"""

import copy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as common  # noqa: E402

QUICK_WIDTHS = (8, 16, 16, 32)


def build_model(args):
    import keras_trt as kt
    return kt.models.VGGSNN(num_classes=10, input_shape=(args.timesteps, 32, 32, 2),
                            tau=args.tau, widths=args.widths or QUICK_WIDTHS,
                            name="small_vggsnn")


def loader_kwargs(args, split):
    return {"timesteps": args.timesteps}


RECIPE = common.Recipe(
    name="quickstart", dataset="digits_dvs", num_classes=10,
    description=__doc__.splitlines()[0],
    build_model=build_model,
    # DVS-CIFAR10's TRT values (docs/method.md, Hyperparameters) and TET's official DVS lambda.
    eta=0.001, lam=5e-5, decay=0.5, tet_lam=1e-3, tau=2.0,
    epochs=5, batch_size=32, timesteps=10,
    loader_kwargs=loader_kwargs, needs_data_dir=False,
)


# What recipes/study.py found (docs/results.md, "Study"), printed after the table.
STUDY_FINDING = (
    "Over 5 seeds (300 training samples, 20 epochs) TRT beat SDT by 1.65 points of test "
    "accuracy (95% CI [+1.31, +1.99]) but not TET (+0.16, CI [-0.35, +0.68]); see "
    "docs/results.md, or run: python recipes/study.py --seeds 5")


def train_accuracy(args, model):
    """Accuracy on the training split in inference mode (no shuffling or augmentation)."""
    data = common.load_split(RECIPE, args, "train", shuffle=False, augment=False)
    if args.max_steps:
        data = data.take(args.max_steps)
    return float(model.evaluate(data, verbose=0, return_dict=True)["accuracy"])


def plot_curves(runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    for (method, out), color in zip(runs.items(), ("tab:blue", "tab:orange", "tab:green")):
        log = common.read_log(out)
        epochs = [e + 1 for e in log["epoch"]]
        ax_acc.plot(epochs, [100 * a for a in log["test_accuracy"]], color=color,
                    label=f"{method.upper()} test")
        ax_acc.plot(epochs, [100 * a for a in log["accuracy"]], color=color, ls="--",
                    label=f"{method.upper()} train")
        ax_loss.plot(epochs, log["test_mean_logit_crossentropy"], color=color,
                     label=f"{method.upper()} test")
        ax_loss.plot(epochs, log["mean_logit_crossentropy"], color=color, ls="--",
                     label=f"{method.upper()} train")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy (train: running, "
               "training mode)")
    ax_loss.set(xlabel="epoch", ylabel="CE of time-averaged logits", title="loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("keras-trt quick start: digits_dvs, small VGG-style SNN")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_table(rows):
    selected = rows[0]["selected_on"] if rows else "validation"
    lines = [f"{'method':<8}{'train acc':>11}{'test acc':>10}{'gap':>8}"
             f"{'test@best ' + selected[:3]:>15}{'best test':>11}", "-" * 63]
    for r in rows:
        lines.append(f"{r['method'].upper():<8}{100 * r['train_accuracy']:>10.2f}%"
                     f"{100 * r['test_accuracy']:>9.2f}%{100 * r['gap']:>7.2f}%"
                     f"{100 * r['test_accuracy_at_best_epoch']:>14.2f}%"
                     f"{100 * r['best_test_accuracy']:>10.2f}%")
    return "\n".join(lines)


def run_method(args, method, callbacks=()):
    """Trains `method` in `<args.output_dir>/<method>`; returns (table row, results)."""
    margs = copy.copy(args)
    margs.method = method
    margs.output_dir = os.path.join(args.output_dir, method)
    res = common.train(RECIPE, margs, callbacks=callbacks)
    train_acc = train_accuracy(margs, res["model_object"])
    test_acc = res["final_test_accuracy"]
    row = {"method": method, "train_accuracy": train_acc, "test_accuracy": test_acc,
           "gap": train_acc - test_acc, "selected_on": res["selected_on"],
           "best_epoch": res["best_epoch"],
           "test_accuracy_at_best_epoch": res["test_accuracy_at_best_epoch"],
           "best_test_accuracy": res["best_test_accuracy"],
           "hyperparameters": common.method_hyperparameters(margs),
           "training_time_s": res["training_time_s"]}
    return row, res


def _with_method(args, method):
    margs = copy.copy(args)
    margs.method = method
    return margs


def main(argv=None, callbacks=()):
    args = common.parse_args(RECIPE, argv, several_methods=True)
    t0 = time.perf_counter()
    os.makedirs(args.output_dir, exist_ok=True)
    rows, runs = [], {}
    for method in args.methods:
        hp = common.method_hyperparameters(_with_method(args, method))
        print(f"\n=== {method.upper()} ({', '.join(f'{k}={v}' for k, v in hp.items()) or 'plain CE'}) ===")
        row, _ = run_method(args, method, callbacks)
        rows.append(row)
        runs[method] = os.path.join(args.output_dir, method)
    wall = time.perf_counter() - t0
    table = format_table(rows)
    png = os.path.join(args.output_dir, "learning_curves.png")
    plot_curves(runs, png)
    summary = {
        "dataset": "digits_dvs", "model": f"VGGSNN(widths={list(args.widths or QUICK_WIDTHS)})",
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
        "timesteps": args.timesteps, "max_steps": args.max_steps,
        "backend": common.backend_name(), "wall_time_s": round(wall, 1),
        "select_on": args.select_on, "validation_fraction": args.validation_fraction,
        "train_samples": args.train_samples,
        "note": ("train accuracy: the final model evaluated on the training split (without "
                 "the validation part) in inference mode; test accuracy: final epoch; "
                 "gap = train - test. "
                 + common.BEST_ACCURACY_NOTE),
        "methods": rows,
    }
    common._atomic_write_json(os.path.join(args.output_dir, "results.json"), summary)
    with open(os.path.join(args.output_dir, "table.txt"), "w") as f:
        f.write(table + "\n")
    print(f"\n{table}\n")
    print(STUDY_FINDING)
    print(f"{len(rows)} methods x {args.epochs} epochs in {wall:.0f} s on "
          f"{common.backend_name()}. Wrote {args.output_dir}/results.json, table.txt, "
          "learning_curves.png and one run folder per method.")
    return summary


if __name__ == "__main__":
    main()
