"""Hyperparameter search for TRT with keras-tuner: eta, lambda, delta and the learning rate.

`TRTHyperModel` wraps any function that builds a `keras_trt.SpikingModel` and compiles it
with `TRTLoss(eta, lam, decay, epsilon)` and Adam (epsilon 1e-8) for hyperparameters drawn
by the tuner; its `fit` anneals the learning rate with the paper's per-epoch cosine
schedule (`keras_trt.schedules.PerEpochCosineDecay`). `make_tuner` returns a random,
Bayesian or Hyperband tuner that maximises the validation accuracy of the time-averaged
logits: score trials on a validation split held out of the training data
(`split="validation"`, `keras_trt.data.holdout`), never on the test split, whose accuracy
would then be optimistic.

```python
import keras_trt as kt
from keras_trt.tuning import TRTHyperModel, make_tuner, best_trials

hypermodel = TRTHyperModel(
    lambda: kt.models.VGGSNN(num_classes=10, input_shape=(4, 32, 32, 2), widths=(4, 8)))
tuner = make_tuner(hypermodel, "random", max_trials=2, directory="runs/tune_doc",
                   overwrite=True)
split = dict(batch_size=32, timesteps=4, validation_fraction=0.1)
train = kt.data.digits_dvs("train", **split).take(2)
validation = kt.data.digits_dvs("validation", **split).take(2)
tuner.search(train, validation_data=validation, epochs=1, verbose=0)
print(best_trials(tuner, 1))
```

Works on every backend; importing this module does not import TensorFlow (keras-tuner
1.4 does not need it on torch and JAX). On the TensorFlow backend keras-tuner needs the
`tensorboard` package (`pip install keras-trt[tune]`); Bayesian optimisation needs
scikit-learn.

Search space arguments (`eta`, `lam`, `decay`, `learning_rate`): a `(low, high)` tuple is a
range (`lam` and `learning_rate` sampled log-uniformly), a list is a choice, a number is
fixed.
"""

import math

import keras
import keras_tuner

from keras_trt import losses as losses_lib
from keras_trt import metrics as metrics_lib
from keras_trt import schedules
from keras_trt.validation import integer

__all__ = ["TRTHyperModel", "make_tuner", "tuner_seed", "best_trials", "format_trials",
           "TUNERS", "DEFAULT_SPACE"]

TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVE = "val_accuracy"

# Around the paper's values (eta 0.001-0.05, lambda 1e-5-5e-5, delta 0.25-0.5;
# docs/method.md, Hyperparameters).
DEFAULT_SPACE = {
    "eta": (0.0, 0.1),
    "lam": (1e-6, 1e-3),
    "decay": (0.1, 1.0),
    "learning_rate": (1e-4, 1e-2),
}
_LOG_SCALE = ("lam", "learning_rate")


def _hp_value(hp, name, spec):
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return hp.Fixed(name, float(spec))
    if isinstance(spec, list):
        return hp.Choice(name, [float(v) for v in spec])
    if isinstance(spec, tuple) and len(spec) == 2:
        low, high = (float(v) for v in spec)
        if not low <= high:
            raise ValueError(f"TRTHyperModel: `{name}` range must be (low, high) with "
                             f"low <= high, got {spec!r}.")
        if low == high:
            return hp.Fixed(name, low)
        sampling = "log" if name in _LOG_SCALE and low > 0 else "linear"
        return hp.Float(name, low, high, sampling=sampling)
    raise ValueError(f"TRTHyperModel: `{name}` must be a number (fixed), a (low, high) tuple "
                     f"(range) or a list (choice), got {spec!r}.")


class TRTHyperModel(keras_tuner.HyperModel):
    """A keras-tuner HyperModel: your SpikingModel + TRTLoss with tuned hyperparameters.

    Args:
        build_model: a function returning a fresh (uncompiled) `keras_trt.SpikingModel`;
            it may take the `HyperParameters` object as its one argument to tune the
            architecture too.
        eta, lam, decay, learning_rate: search space of each (see the module docstring).
        epsilon: TRT's epsilon (fixed, 1e-5 as the paper).
        cosine_schedule: anneal the learning rate to 0 over `fit`'s `epochs`, stepped per
            epoch (the paper's schedule, `keras_trt.schedules.PerEpochCosineDecay`; for
            Hyperband, over the bracket's final epoch). It needs the batches per epoch:
            from `steps_per_epoch`, a dataset's cardinality, a PyDataset's length, or
            the arrays and `batch_size`.
        jit_compile: passed to `compile` ("auto": Keras' choice, jit on JAX, XLA on
            TensorFlow with a GPU, eager torch).
        seed: `keras.utils.set_random_seed(seed)` before each model is built, so trials
            differ only by their hyperparameters.
    """

    def __init__(self, build_model, eta=DEFAULT_SPACE["eta"], lam=DEFAULT_SPACE["lam"],
                 decay=DEFAULT_SPACE["decay"], learning_rate=DEFAULT_SPACE["learning_rate"],
                 epsilon=1e-5, cosine_schedule=True, jit_compile="auto", seed=None,
                 name="trt_hypermodel", tunable=True):
        super().__init__(name=name, tunable=tunable)
        if not callable(build_model):
            raise TypeError(f"TRTHyperModel: `build_model` must be callable, got "
                            f"{type(build_model).__name__}.")
        self.build_model = build_model
        self.space = {"eta": eta, "lam": lam, "decay": decay, "learning_rate": learning_rate}
        self.epsilon = float(epsilon)
        self.cosine_schedule = bool(cosine_schedule)
        self.jit_compile = jit_compile
        self.seed = seed

    def _call_builder(self, hp):
        import inspect
        try:
            takes_hp = len(inspect.signature(self.build_model).parameters) > 0
        except (TypeError, ValueError):
            takes_hp = False
        return self.build_model(hp) if takes_hp else self.build_model()

    def build(self, hp):
        values = {name: _hp_value(hp, name, spec) for name, spec in self.space.items()}
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        model = self._call_builder(hp)
        if not hasattr(model, "trt_loss"):
            raise TypeError(
                "TRTHyperModel: `build_model` must return a keras_trt.SpikingModel (which "
                f"adds TRT's weight penalty), got {type(model).__name__}.")
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=values["learning_rate"],
                                            epsilon=1e-8),
            loss=losses_lib.TRTLoss(eta=values["eta"], lam=values["lam"],
                                    decay=values["decay"], epsilon=self.epsilon),
            metrics=[metrics_lib.TemporalAccuracy(), metrics_lib.TemporalCrossEntropy()],
            jit_compile=self.jit_compile,
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        if self.cosine_schedule:
            # Absolute epochs: Hyperband continues a trial from `initial_epoch` up to
            # `epochs` with a fresh optimizer, whose step 0 is then that epoch.
            model.optimizer.learning_rate = schedules.PerEpochCosineDecay(
                float(hp.get("learning_rate")), epochs=max(1, int(kwargs.get("epochs", 1))),
                steps_per_epoch=_steps_per_epoch(args, kwargs),
                initial_epoch=int(kwargs.get("initial_epoch", 0)))
        kwargs.setdefault("shuffle", False)   # tf.data pipelines shuffle themselves
        return model.fit(*args, **kwargs)


def _steps_per_epoch(args, kwargs):
    """The batches of one epoch of `fit(*args, **kwargs)`'s training data."""
    if kwargs.get("steps_per_epoch"):
        return int(kwargs["steps_per_epoch"])
    x = args[0] if args else kwargs.get("x")
    size = None
    if hasattr(x, "cardinality"):                       # tf.data.Dataset
        size = int(x.cardinality())
        size = size if size > 0 else None
    elif isinstance(x, keras.utils.PyDataset):
        size = len(x)
    elif x is not None and hasattr(keras.tree.flatten(x)[0], "shape"):   # arrays
        samples = int(keras.tree.flatten(x)[0].shape[0])
        samples = int(math.floor(samples * (1.0 - float(kwargs.get("validation_split") or 0))))
        size = math.ceil(samples / int(kwargs.get("batch_size") or 32))
    if not size:
        raise ValueError(
            "TRTHyperModel: the cosine schedule needs the batches per epoch and cannot "
            f"count them in {type(x).__name__}; pass steps_per_epoch to tuner.search(), "
            "or cosine_schedule=False.")
    return size


def _check_tensorboard():
    if keras.backend.backend() != "tensorflow":
        return
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ImportError(
            "keras-tuner on the TensorFlow backend needs the `tensorboard` package (without "
            "it every trial fails silently): pip install tensorboard, or "
            "pip install 'keras-trt[tune]'.") from None


# keras-tuner seeds NumPy's RandomState (Bayesian search) with it: below 2**32.
_MAX_SEED = 2 ** 32 - 2


def tuner_seed(seed):
    """The seed `make_tuner` passes to keras-tuner for the user's `seed`: `seed + 1`.

    keras-tuner's oracles take `seed or random.randint(1, 10000)`, so seed 0 would draw
    new trials at every run; shifting every seed by one keeps them all distinct and makes
    0 a seed like any other. None stays None (a random order).

    ```python
    from keras_trt.tuning import tuner_seed
    print(tuner_seed(0), tuner_seed(41), tuner_seed(None))   # 1 42 None
    ```
    """
    seed = integer(seed, "seed", "make_tuner", minimum=0, maximum=_MAX_SEED, allow_none=True)
    return None if seed is None else seed + 1


def make_tuner(hypermodel, tuner="random", max_trials=10, max_epochs=None, factor=3,
               objective=OBJECTIVE, seed=None, directory="runs/tune", project_name="trt",
               overwrite=False, **kwargs):
    """A keras-tuner tuner over `hypermodel` that maximises `objective`.

    Args:
        tuner: "random", "bayesian" (Gaussian process, needs scikit-learn) or "hyperband".
        max_trials: trials for random and Bayesian search.
        max_epochs, factor: Hyperband's epoch budget per model and reduction factor
            (`max_epochs` defaults to 10).
        objective: the metric to maximise (default "val_accuracy", the accuracy of the
            time-averaged logits on `validation_data`: a validation split, not the test
            split).
        seed: None (a random search order) or an integer in [0, 2**32 - 2]: the same
            seed draws the same trials. Every seed, 0 included, fixes the order
            (keras-tuner itself reads 0 as "no seed"; see `tuner_seed`).
        directory, project_name, overwrite, **kwargs: passed to keras-tuner.
    """
    if tuner not in TUNERS:
        raise ValueError(f"make_tuner: `tuner` must be one of {TUNERS}, got {tuner!r}.")
    _check_tensorboard()
    objective = keras_tuner.Objective(objective, "min" if "loss" in objective and
                                      "accuracy" not in objective else "max")
    common = dict(objective=objective, seed=tuner_seed(seed), directory=directory,
                  project_name=project_name, overwrite=overwrite, **kwargs)
    if tuner == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if tuner == "bayesian":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise ImportError("Bayesian optimisation in keras-tuner needs scikit-learn: "
                              "pip install scikit-learn") from None
        return keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    return keras_tuner.Hyperband(hypermodel, max_epochs=max_epochs or 10, factor=factor,
                                 **common)


def best_trials(tuner, num_trials=5):
    """The best completed trials as dicts: rank, trial_id, score and hyperparameters."""
    rows = []
    for rank, trial in enumerate(tuner.oracle.get_best_trials(num_trials), 1):
        rows.append({"rank": rank, "trial_id": trial.trial_id, "score": trial.score,
                     "status": str(trial.status), **trial.hyperparameters.values})
    return rows


def format_trials(rows, objective=OBJECTIVE):
    """A plain-text table of `best_trials` rows."""
    columns = ["rank", "trial_id", objective, "eta", "lam", "decay", "learning_rate"]
    extra = sorted({k for r in rows for k in r} - set(columns) -
                   {"score", "status", "tuner/epochs", "tuner/initial_epoch", "tuner/bracket",
                    "tuner/round", "tuner/trial_id"})
    columns += extra

    def cell(row, col):
        v = row.get("score") if col == objective else row.get(col)
        if isinstance(v, float):
            return f"{v:.4f}" if col in (objective, "eta", "decay") else f"{v:.3g}"
        return "" if v is None else str(v)

    table = [columns] + [[cell(r, c) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
