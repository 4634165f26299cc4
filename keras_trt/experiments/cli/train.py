"""`python -m keras_trt.experiments <preset>`: one run of a paper experiment.

```text
KERAS_TRT_DATA_DIR=/data python -m keras_trt.experiments dvs_cifar10_vggsnn --method trt
python -m keras_trt.experiments cifar10_resnet19 --timesteps 4 --data-dir ~/tensorflow_datasets
```
"""

import os

from keras_trt.experiments.cli import arguments, preset_runs
from keras_trt.experiments.presets import get_preset
from keras_trt.experiments.training import summary_line

__all__ = ["main"]


def main(preset_name, argv=None, callbacks=(), prog=None):
    """Parses `argv` as the preset's command line, trains, prints a summary; returns the
    results (what results.json holds)."""
    preset = get_preset(preset_name)
    args = arguments.parse_args(preset, argv, prog=prog)
    run = preset_runs.train(preset, args, callbacks=callbacks)
    print(summary_line(run.results))
    print(f"Results: {os.path.join(args.output_dir, 'results.json')}")
    return run.results
