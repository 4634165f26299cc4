"""The command line of keras_trt.experiments: `python -m keras_trt.experiments COMMAND` or
`keras-trt COMMAND`, where COMMAND is a preset (one run of a paper experiment),
`quickstart`, `study`, `tune` or `analyze`; `COMMAND --help` lists its flags.

```text
keras-trt quickstart                                  # SDT vs TET vs TRT, embedded data
keras-trt dvs_cifar10_vggsnn --data-dir /data         # a paper experiment
keras-trt study --seeds 5 --grid lam=1e-5,1e-4        # seeds x methods (x sweeps)
keras-trt tune --tuner bayesian --max-trials 20       # keras-tuner search
keras-trt analyze --run runs/dvs_cifar10_vggsnn-trt   # the paper's analyses of a run
```

Each command is a module of this package whose `main(argv)` the recipes/ scripts call.
"""

import os
import sys

__all__ = ["main", "console_main", "COMMANDS"]

COMMANDS = ("quickstart", "study", "tune", "analyze")


def _usage():
    from keras_trt.experiments.presets import PRESETS

    presets = ", ".join(p for p in PRESETS if p != "quickstart")
    return ("usage: keras-trt COMMAND [flags]  (COMMAND --help for its flags)\n"
            f"  a paper experiment: {presets}\n"
            "  quickstart  SDT, TET and TRT on the embedded digits (no download)\n"
            "  study       several seeds x methods (x sweeps), paired confidence intervals\n"
            "  tune        keras-tuner search over TRT's hyperparameters\n"
            "  analyze     firing rates, Fisher information, landscape, early exit, energy "
            "of a run\n")


def main(argv=None):
    """Runs `argv[0]` (a preset or a command) with the other arguments."""
    from keras_trt.experiments.presets import PRESETS

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # before anything imports TF
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), end="")
        return None
    command, rest = argv[0], argv[1:]
    prog = f"keras-trt {command}"
    if command == "quickstart":
        from keras_trt.experiments.cli import quickstart
        return quickstart.main(rest, prog=prog)
    if command == "study":
        from keras_trt.experiments.cli import study
        return study.main(rest, prog=prog)
    if command == "tune":
        from keras_trt.experiments.cli import tune
        return tune.main(rest, prog=prog)
    if command == "analyze":
        from keras_trt.experiments.cli import analyze
        return analyze.main(rest, prog=prog)
    if command in PRESETS:
        from keras_trt.experiments.cli import train
        return train.main(command, rest, prog=prog)
    raise SystemExit(f"keras-trt: error: unknown command {command!r}; choose a preset "
                     f"({', '.join(PRESETS)}) or one of {', '.join(COMMANDS)}")


def console_main():
    """The `keras-trt` console script: `main()` with exit status 0 (its return value is
    the command's result, which an exit status cannot carry)."""
    main()
    return 0
