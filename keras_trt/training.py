"""SpikingModel: a keras.Model whose training step adds TRT's weight penalty.

The penalty is added in `compute_loss`, the hook that every backend's `train_step`
(torch, TensorFlow and JAX) calls, so there is one implementation for all three. The
logged training `loss` includes it; evaluation reports the compiled loss without it.

Before Keras sees the data, `fit`, `evaluate`, `predict`, the `*_on_batch` methods and
calls of the model check it eagerly (`keras_trt._model_inputs`): an input of the wrong
number of timesteps, frame shape or rank, and class labels outside the model's classes,
raise one clear ValueError on every backend.

Under `torchrun` (torch backend, `kt.distribute.initialize()` called), `fit`, `evaluate`
and `predict` run data-parallel: gradients averaged over the processes, weights
broadcast from rank 0, metrics over every process's samples (see docs/distributed.md);
`train_on_batch`, which would not be synchronised, raises a RuntimeError there.

Example:

```python
import keras
import keras_trt as kt

inputs = keras.Input((10, 16))                              # (T, features)
h = kt.TimeDistributed(keras.layers.Dense(32, use_bias=False))(inputs)
h = kt.LIF()(kt.TemporalBatchNorm()(h))
outputs = kt.TimeDistributed(keras.layers.Dense(4))(h)      # logits (B, T, 4)
model = kt.SpikingModel(inputs, outputs)
model.compile(optimizer="adam", loss=kt.losses.TRTLoss(eta=0.05, lam=1e-5, decay=0.25))
```
"""

import keras

from keras_trt import _compile_metrics as compile_metrics
from keras_trt import _labels as labels_lib
from keras_trt import _model_inputs as model_inputs
from keras_trt import _saved_compile as saved_compile
from keras_trt import backend, distribute, precision, regularizers
from keras_trt import losses as losses_lib
from keras_trt._keras_compat import Functional, functional_init_arguments

__all__ = ["SpikingModel"]


@keras.saving.register_keras_serializable(package="keras_trt")
class SpikingModel(keras.Model):
    """A `keras.Model` (functional or subclassed) for per-timestep logits (B, T, C).

    - When the compiled loss is a `keras_trt.losses.TRTLoss`, the training step adds
      `(1/T) sum_t R_t` over `penalized_variables()` (kernels and BatchNorm gammas),
      once per step also when several outputs have a TRTLoss.
    - `compile(metrics=None)` reports `TemporalAccuracy` (as `accuracy`) by default, one
      per output; `metrics=["accuracy"]` and Keras' accuracy metrics mean it too, other
      Keras metrics are refused (docs/concepts.md, Metrics).
    - Inputs and labels are checked before Keras runs a step (see the module docstring).

    `SpikingModel(inputs, outputs)` (and a subclass given inputs and outputs) is an
    instance of a functional variant of its class (see `_functional_class`); subclassed
    models are instances of their own class.
    """

    def __init__(self, *args, **kwargs):
        # Keras' `Model.__init__` makes a functional model of a subclass by rewriting the
        # class's bases (Model -> Functional) in place, which breaks every subclassed
        # SpikingModel built afterwards. The instance moves to a separate functional
        # class instead, so no class changes. Like Keras, this decides on the arguments
        # that reach here, not on those the subclass's constructor took.
        if functional_init_arguments(args, kwargs) and not isinstance(self, Functional):
            object.__setattr__(self, "__class__", _functional_class(type(self)))
        super().__init__(*args, **kwargs)

    def __reduce__(self):
        # Pickling rebuilds the model from its saved bytes; bind the loader to a class
        # that pickle can find by name (functional classes are made at run time).
        loader, args = super().__reduce__()
        return SpikingModel._unpickle_model, args

    def compile(self, *args, metrics=None, weighted_metrics=None, **kwargs):
        metrics = compile_metrics.for_outputs(self, metrics, default=True)
        weighted_metrics = compile_metrics.for_outputs(self, weighted_metrics)
        super().compile(*args, metrics=metrics, weighted_metrics=weighted_metrics, **kwargs)
        self._requested_jit_compile = kwargs.get("jit_compile", "auto")
        self.trt_loss()  # several TRTLosses that disagree are refused now, not in fit

    def get_compile_config(self):
        # "auto" stays "auto" in a saved file (see keras_trt._saved_compile)
        return saved_compile.config_to_save(
            super().get_compile_config(), getattr(self, "_requested_jit_compile", "auto"))

    def compile_from_config(self, config):
        # Keras skips compile_from_config for models that override compile(); ours only
        # adds a default metric, so restoring the saved compile arguments is safe. A file
        # saved on another backend gets this backend's jit_compile default and optimizer
        # class (keras_trt._saved_compile).
        config = saved_compile.config_for_this_backend(config)
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)

    def reset_states(self):
        """Resets the membranes (and running means) of a streaming model's stateful
        layers, so that the next call starts a new sequence (see
        `keras_trt.streaming_model`); a no-op for a multi-step model, which starts from
        `v_reset` at every call anyway. Returns the layers reset."""
        from keras_trt import streaming
        return streaming.reset_states(self)

    def penalized_variables(self):
        """The variables TRT's weight penalty covers (see `keras_trt.regularizers`)."""
        return regularizers.penalized_variables(self)

    def trt_loss(self):
        """The compiled `TRTLoss` (the first, where several outputs have one), or None
        when the model is compiled with other losses.

        The weight penalty is added once per step whatever the number of outputs, so
        every TRTLoss must share `lam`, `decay` and `epsilon` (`eta` may differ)."""
        found = [loss for loss in keras.tree.flatten(getattr(self, "loss", None))
                 if isinstance(loss, losses_lib.TRTLoss)]
        settings = {_penalty_settings(loss) for loss in found}
        if len(settings) > 1:
            shown = "; ".join("lam={}, decay={}, epsilon={}".format(
                *_penalty_settings(loss)) for loss in found)
            raise ValueError(
                f"{type(self).__name__} '{self.name}': `loss` holds {len(found)} TRTLoss "
                f"objects with different penalty settings ({shown}). The weight penalty "
                "is added once per step for the whole model, so give every TRTLoss the "
                "same lam, decay and epsilon (eta may differ), or use TETLoss for the "
                "other outputs.")
        return found[0] if found else None

    def weight_penalty(self, timesteps):
        """TRT's penalty of the current weights for `timesteps` (0 if no TRTLoss): a
        scalar tensor, differentiable with respect to the weights (add it to the loss of
        a training step of your own), that `float()` reads on every backend."""
        return backend.readable_scalar(self._penalty_tensor(timesteps))

    def _penalty_tensor(self, timesteps):
        # The plain tensor: the training step adds this one, since the readable wrapper
        # (a tensor subclass on torch) exists for users' float() and would only cost
        # dispatch overhead, and graph breaks under torch.compile, inside the step.
        trt = self.trt_loss()
        if trt is None:
            return keras.ops.convert_to_tensor(0.0, precision.accumulation_dtype(
                *(v.dtype for v in self.trainable_variables)))
        weights = self.penalized_variables()
        if not weights:
            raise ValueError(
                f"TRTLoss needs weights to regularise, but model '{self.name}' has no "
                "trainable non-bias variables (kernels or BatchNorm gammas)."
            )
        return trt.weight_penalty(weights, timesteps)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        with losses_lib.weight_penalty_scope(), labels_lib.checked_by_caller():
            loss = super().compute_loss(x=x, y=y, y_pred=y_pred,
                                        sample_weight=sample_weight, training=training)
        if training and self.trt_loss() is not None:
            # Every replica adds the whole penalty; its share counts it once per step.
            penalty = backend.replica_share(self._penalty_tensor(self._timesteps_of(y_pred)))
            # The penalty follows the weights' dtype, the loss the loss's (a loss made
            # after set_floatx("float64") is float64 for float32 weights): add them in
            # the wider of the two.
            dtype = precision.accumulation_dtype(loss.dtype, penalty.dtype)
            loss = keras.ops.cast(loss, dtype) + keras.ops.cast(penalty, dtype)
        return loss

    @staticmethod
    def _timesteps_of(y_pred):
        timesteps = {t.shape[1] for t in keras.tree.flatten(y_pred)
                     if hasattr(t, "shape") and len(t.shape) == 3}
        if len(timesteps) != 1 or None in timesteps:
            raise ValueError(
                "TRTLoss needs per-timestep outputs of shape (batch, time, classes) with "
                "one static number of timesteps; got "
                f"{keras.tree.map_structure(lambda t: tuple(t.shape), y_pred)}."
            )
        return int(timesteps.pop())

    # ------------------------------------------------------------ input and label checks
    # The data is checked once, eagerly, at each entry point below rather than inside the
    # steps: compiled steps cannot read values (and TensorFlow's retraced steps do not
    # even know T), and reading labels in every torch step would wait for the GPU each
    # step. Inside the steps an invalid label that slipped through gives NaN.

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        with labels_lib.checked_by_caller():
            return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_metrics_result(self):
        return distribute.global_metrics_result(self, super().get_metrics_result)

    def __call__(self, *args, **kwargs):
        if args or "inputs" in kwargs:
            model_inputs.check_input_shapes(self, args[0] if args else kwargs["inputs"])
        return super().__call__(*args, **kwargs)

    def fit(self, x=None, y=None, *args, **kwargs):
        x = model_inputs.check_data(self, x, y)
        if "validation_data" in kwargs:
            kwargs["validation_data"] = model_inputs.check_validation_data(
                self, kwargs["validation_data"])
        args, kwargs = distribute.distributed_arguments(self, "fit", args, kwargs)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x = model_inputs.check_data(self, x, y)
        args, kwargs = distribute.distributed_arguments(self, "evaluate", args, kwargs)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x = model_inputs.check_data(self, x)
        args, kwargs = distribute.distributed_arguments(self, "predict", args, kwargs)
        return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        model_inputs.check_data(self, x, y, read_device_labels=False)
        distribute.check_train_on_batch(self)
        return super().train_on_batch(x, y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        model_inputs.check_data(self, x, y, read_device_labels=False)
        return super().test_on_batch(x, y, *args, **kwargs)

    def predict_on_batch(self, x):
        model_inputs.check_data(self, x)
        return super().predict_on_batch(x)


def _penalty_settings(trt_loss):
    """What TRT's weight penalty depends on (besides the weights and T)."""
    return (trt_loss.lam, trt_loss.decay, trt_loss.epsilon)


_FUNCTIONAL_CLASSES = {}


def _functional_class(cls):
    """The class of a functional `cls`: `cls` with Keras' `Functional` after it.

    Its method order is what Keras' in-place rewrite of `cls`'s bases would give (cls,
    ..., SpikingModel, Functional, Function, Model, ...), but `cls` stays as it is. It
    takes `cls`'s name, module and serialization name, so configs and `.keras` files
    name `cls`; loading builds it again through `cls.from_config`. Made once per class.
    """
    functional = _FUNCTIONAL_CLASSES.get(cls)
    if functional is None:
        functional = type(cls.__name__, (cls, Functional), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__})
        registered = keras.saving.get_registered_name(cls)
        if keras.saving.get_registered_object(registered) is cls:
            package, name = registered.split(">", 1)
            keras.saving.register_keras_serializable(package, name)(functional)
            # register `cls` again: the name keeps loading `cls` (which builds `functional`)
            keras.saving.register_keras_serializable(package, name)(cls)
        _FUNCTIONAL_CLASSES[cls] = functional
    return functional
