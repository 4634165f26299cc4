"""Where the recipes are, and what their run folders hold: the log's columns and
results.json's keys of the recipes before keras_trt.experiments, which the recipe, quick
start and experiments tests all check."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"

LOG_HEADER = ("epoch,accuracy,learning_rate,loss,mean_logit_crossentropy,test_accuracy,"
              "test_loss,test_mean_logit_crossentropy,val_accuracy,val_loss,"
              "val_mean_logit_crossentropy")
RESULTS_KEYS = {
    "recipe", "method", "dataset", "model", "loss", "hyperparameters", "epochs",
    "epochs_planned", "selected_on", "best_epoch", "best_validation_accuracy",
    "best_validation_epoch", "test_accuracy_at_best_epoch", "best_test_accuracy",
    "best_test_loss", "best_test_epoch", "final_test_accuracy", "final_test_loss",
    "final_validation_accuracy", "final_train_accuracy", "final_train_loss", "metric_note",
    "paper_best_test_accuracy_percent", "training_time_s", "resumed", "backend", "versions",
    "files", "wall_time_s"}
DATASET_KEYS = {"name", "train_loader_args", "test_loader_args", "validation_loader_args",
                "steps_per_epoch", "validation_steps", "test_steps"}
HYPERPARAMETER_KEYS = {
    "method", "eta", "lam", "decay", "epsilon", "tet_lam", "tet_phi", "tau", "timesteps",
    "widths", "epochs", "batch_size", "lr", "seed", "mixed_precision", "jit", "distribute",
    "select_on", "validation_fraction", "validation_seed", "train_samples", "max_steps",
    "data_dir", "output_dir", "resume", "overwrite", "verbose", "observe_fi", "fi_batches",
    "method_hyperparameters", "optimizer", "schedule", "jit_compile", "replicas",
    "dtype_policy"}
