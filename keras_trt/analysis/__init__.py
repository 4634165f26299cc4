"""Analyses of the TRT paper on any keras-trt model: firing rates (and SOPs), Fisher
information over time with its information centroid, 2-D loss landscapes,
EMA-smoothed learning curves and early exit (accuracy against timesteps used). Plots
are PNG files written with matplotlib's Agg canvas.

```text
from keras_trt import analysis

rates = analysis.firing_rates(model, data)                 # {lif name: rate}
sops = analysis.synaptic_operations(model, rates)          # SOPs per sample
energy = analysis.energy_report(model, rates=rates)        # MACs, ACs, pJ per layer
fi = analysis.fisher_information(model, data, batches=10)  # {"fisher": FI(1..T), "ic": ...}
surface = analysis.loss_landscape(model, data, steps=21, span=1.0)
acc_t = analysis.timestep_accuracy(model, data)            # accuracy from t timesteps
d = analysis.paired_difference(trt_accs, tet_accs)         # per seed, 95% t-interval
sweep = analysis.sensitivity(analysis.read_study_runs("runs/study"), "lam")  # vs TET
analysis.plot_sensitivity(sweep, "lam.png")                # accuracy, gap against lam
analysis.plot_fisher_over_epochs({"TRT": trt_run_folders}, "fi.png")  # FI, IC over epochs
share = analysis.run_penalty_share("runs/study/runs/trt/seed0")  # penalty / logged loss
analysis.plot_landscape(surface, "landscape.png")
table = analysis.early_exit(model, data, criterion="confidence")  # accuracy vs timesteps
analysis.plot_early_exit(table, "early_exit.png")
```

See docs/analyses.md for the definitions.
"""

from keras_trt.analysis._batches import iterate_batches, take_arrays
from keras_trt.analysis.curves import ema, read_csv_log
from keras_trt.analysis.early_exit import (early_exit, early_exit_from_logits,
                                           save_early_exit_csv)
from keras_trt.analysis.energy import energy_report, format_energy_table, plot_energy
from keras_trt.analysis.firing_rates import firing_rates, lif_layers
from keras_trt.analysis.fisher import fisher_information, information_centroid, prefix_losses
from keras_trt.analysis.fisher_epochs import (fisher_over_epochs, plot_fisher_over_epochs,
                                              read_fisher_csv)
from keras_trt.analysis.landscape import (evaluate_loss, filter_normalize, loss_landscape,
                                          random_direction)
from keras_trt.analysis.penalty_share import penalty_share, run_penalty_share
from keras_trt.analysis.sensitivity import (format_sensitivity_table, parse_run_label,
                                            plot_sensitivity, read_study_runs, sensitivity)
from keras_trt.analysis.synapses import synaptic_operations
from keras_trt.analysis.statistics import (bootstrap_interval, mean_interval, mean_std,
                                           paired_difference, t_quantile)
from keras_trt.analysis.timestep_accuracy import prefix_mean_accuracy, timestep_accuracy
from keras_trt.analysis.plots import (plot_early_exit, plot_firing_rates,
                                      plot_firing_rates_over_time, plot_fisher,
                                      plot_fisher_epochs, plot_landscape,
                                      plot_landscape_1d, plot_landscapes,
                                      plot_learning_curves)

__all__ = [
    "early_exit", "early_exit_from_logits", "ema", "energy_report", "evaluate_loss",
    "filter_normalize", "firing_rates", "fisher_information", "format_energy_table",
    "information_centroid", "iterate_batches", "lif_layers", "loss_landscape",
    "plot_early_exit", "plot_energy", "plot_firing_rates", "plot_firing_rates_over_time",
    "plot_fisher", "plot_fisher_epochs", "plot_landscape", "plot_landscape_1d",
    "plot_landscapes", "plot_learning_curves", "prefix_losses", "random_direction",
    "read_csv_log", "save_early_exit_csv", "synaptic_operations", "take_arrays",
    "timestep_accuracy", "prefix_mean_accuracy", "mean_std", "paired_difference",
    "t_quantile", "bootstrap_interval", "mean_interval", "read_study_runs",
    "parse_run_label", "sensitivity", "format_sensitivity_table", "plot_sensitivity",
    "read_fisher_csv", "fisher_over_epochs", "plot_fisher_over_epochs", "penalty_share",
    "run_penalty_share",
]
