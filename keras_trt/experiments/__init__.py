"""The TRT paper's protocol as a library: train, compare and reproduce on any model and data.

- `train(model, train_data, validation_data, test_data, method=...)`: the paper's
  training procedure (Adam + per-epoch cosine annealing, the method's loss, test
  evaluation every epoch, validation-selected best epoch, a run folder with log.csv,
  results.json, best/last checkpoints and TensorBoard logs, exact resume, a stop on a
  non-finite loss, data parallelism, mixed precision, jit) on any SpikingModel and any
  data `fit` accepts;
- `study(build_model, train_data, ..., seeds=5)`: SDT, TET and TRT (and sweeps of TRT's
  hyperparameters) over several seeds, with means, spreads and paired confidence
  intervals, resumable per run;
- `analyze_run(run_dir)`: firing rates, Fisher information, loss landscape, early exit
  and energy of a trained run, into a report;
- `PRESETS`: the paper's experiments as data (dataset, network, T, budget,
  hyperparameters), which `python -m keras_trt.experiments <preset>` runs.

```python
from keras_trt import experiments

print(sorted(experiments.PRESETS)[:2])   # ['cifar100_resnet19', 'cifar10_resnet19']
```

See docs/experiments.md.
"""

from keras_trt.experiments.analyze import analyze_run
from keras_trt.experiments.errors import ExperimentError, RunFolderError
from keras_trt.experiments.methods import METHODS
from keras_trt.experiments.presets import PRESETS, Preset, PresetOption, get_preset
from keras_trt.experiments.studies import study
from keras_trt.experiments.training import TrainedRun, compile_model, train

__all__ = ["ExperimentError", "METHODS", "PRESETS", "Preset", "PresetOption",
           "RunFolderError", "TrainedRun", "analyze_run", "compile_model", "get_preset",
           "study", "train"]
