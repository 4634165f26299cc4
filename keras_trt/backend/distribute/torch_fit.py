"""`SpikingModel.fit`, `evaluate` and `predict` under `torchrun` with the semantics of
torch's DistributedDataParallel (one process per device, each on its own shard of the
data), on the process group of `torch.py`:

- At the start of every `fit` the model's weights and the optimizer's state are
  broadcast from rank 0, so every rank starts from the same point (also after rank 0
  alone loaded a checkpoint).
- Every training step averages the gradients over the ranks, once, before the optimizer
  applies them (one all-reduce per dtype, of all gradients together). With equal
  per-rank batches of n samples, a step on W ranks is the step of one process on the
  W n samples: the loss is a per-rank mean, and TRT's weight penalty, added once per
  rank, averages to itself.
- Metrics are global: before Keras reads them (every step and at the end), the metric
  state variables (sums and counts) are summed over the ranks, so `fit`'s and
  `evaluate`'s loss and accuracy are those of all ranks' samples, and every rank sees
  the same logs (callbacks decide alike).
- BatchNorm's moving statistics are updated per rank, from its own sub-batches (the
  normalisation in training uses the per-rank batch statistics, as torch's DataParallel
  and DistributedDataParallel without SyncBatchNorm do). Rank 0's are the model's: they
  are broadcast before every evaluation and at the end of `fit`, so that evaluation,
  prediction and saving agree on every rank (DistributedDataParallel broadcasts rank
  0's buffers too).
- Only rank 0 prints progress bars (`verbose=0` elsewhere); `ExactResume` writes on
  rank 0 only and every rank reads. Add other file-writing callbacks (ModelCheckpoint,
  CSVLogger, TensorBoard) and `model.save` on rank 0 only.
- `evaluate` runs on every rank (its metrics are collective); `predict` involves no
  communication: each rank predicts its own input, rank 0 may predict alone.

Every rank must run the same number of steps per epoch; `fit` checks it when the
number is known and raises ValueError otherwise (see `shard_dataset`); validation data
must give every rank as many batches too (not checked). `train_on_batch` is refused in
a multi-process run (RuntimeError: each rank would apply its own gradients); use `fit`.

```python
import keras
import keras_trt as kt

if kt.distribute.launched_by_torchrun():
    kt.distribute.initialize()           # before building the model
inputs = keras.Input((4, 8))
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
model.compile(optimizer="sgd", loss=kt.losses.TRTLoss())
x = keras.random.normal((8, 4, 8)); y = keras.ops.arange(8) % 3
model.fit(*kt.distribute.shard_dataset((x, y)), batch_size=4, epochs=1, verbose=0)
```
"""

import inspect

import keras
import torch

from keras_trt._keras_compat import optimizer_trainable_variables
from keras_trt.backend.distribute.torch import (average_gradients, broadcast_variables,
                                                gather_int, is_initialized, rank,
                                                sum_in_place, world_size)

__all__ = ["distributed_arguments", "global_metrics_result", "check_train_on_batch"]


def _average_gradients_in(optimizer):
    """Makes `optimizer.apply` average the gradients over the ranks first (idempotent)."""
    if getattr(optimizer, "_torch_ddp_apply", None) is not None:
        return
    apply = optimizer.apply

    def averaging_apply(grads, trainable_variables=None):
        if is_initialized():
            variables = (optimizer_trainable_variables(optimizer) if trainable_variables is None
                         else list(trainable_variables))
            grads = average_gradients(list(grads), variables)
        return apply(grads, trainable_variables)

    optimizer.apply = averaging_apply
    optimizer._torch_ddp_apply = apply


def _check_equal_steps(steps, what):
    every = gather_int(-1 if steps is None else steps)
    if len(set(every)) > 1:
        counts = ", ".join(f"rank {r}: {s if s >= 0 else 'unknown'}"
                           for r, s in enumerate(every))
        raise ValueError(
            f"{what}: the ranks would run different numbers of steps per epoch "
            f"({counts}), "
            "which leaves the faster ranks waiting. Give every rank as many batches: a "
            "number of samples that is a multiple of world size x batch size, "
            "`drop_remainder=True` after `shard_dataset`, or `steps_per_epoch`.")


# ------------------------------------------------------------------- fit / evaluate
class _Synchronise(keras.callbacks.Callback):
    """The collective parts of a distributed `fit` or `evaluate` (see the module)."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def on_train_begin(self, logs=None):
        _check_equal_steps(self.params.get("steps"), "fit")
        model = self.model
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        broadcast_variables(model.weights)
        if optimizer is not None:
            broadcast_variables(optimizer.variables)
            _average_gradients_in(optimizer)

    def on_test_begin(self, logs=None):
        if self.mode == "evaluate":   # in fit, `params` are the training's
            _check_equal_steps(self.params.get("steps"), "evaluate")
        broadcast_variables(self.model.weights)

    def on_train_end(self, logs=None):
        broadcast_variables(self.model.non_trainable_weights)


_SIGNATURE_NAMES = {}


def distributed_arguments(model, mode, args, kwargs):
    """`(args, kwargs)` of `model.<mode>` ("fit", "evaluate", "predict") for a
    distributed run: progress bars on rank 0 only, and for fit and evaluate the
    synchronising callback. Unchanged when not initialised."""
    if not is_initialized():
        return args, kwargs
    if mode not in _SIGNATURE_NAMES:
        names = list(inspect.signature(getattr(keras.Model, mode)).parameters)
        _SIGNATURE_NAMES[mode] = [n for n in names if n not in ("self", "x", "y")]
    kwargs = dict(kwargs, **dict(zip(_SIGNATURE_NAMES[mode], args)))
    if rank() != 0:
        kwargs["verbose"] = 0
    callbacks = kwargs.get("callbacks")
    if mode != "predict" and not isinstance(callbacks, keras.callbacks.CallbackList):
        # A CallbackList is fit's own, passed to its validation: it holds fit's callback.
        kwargs["callbacks"] = list(callbacks or []) + [_Synchronise(mode)]
    return (), kwargs


# -------------------------------------------------------------------------- metrics
def _metric_refs(model):
    seen, refs = set(), []
    for metric in model.metrics:
        for variable in metric.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                refs.append(variable.value)
    return refs


def global_metrics_result(model, result_fn):
    """`result_fn()` (the model's metric results) computed from the metric states summed
    over the ranks; the local states are kept (they keep accumulating)."""
    if not is_initialized():
        return result_fn()
    refs = _metric_refs(model)
    local = [r.detach().clone() for r in refs]
    sum_in_place(refs)
    try:
        results = result_fn()
        # a result may be a state variable's own tensor, restored below
        results = keras.tree.map_structure(
            lambda t: t.detach().clone() if isinstance(t, torch.Tensor) else t, results)
    finally:
        with torch.no_grad():
            for r, value in zip(refs, local):
                r.copy_(value)
    return results


def check_train_on_batch(model):
    """Refuses `model.train_on_batch` in a multi-process run: it applies this rank's own
    gradients, so the ranks' weights would drift apart without an error."""
    if world_size() > 1:
        raise RuntimeError(
            f"SpikingModel.train_on_batch: not synchronised across the {world_size()} "
            "torchrun processes (each would apply its own gradients and the ranks' weights "
            "would drift apart); use fit (e.g. with steps_per_epoch), which averages the "
            "gradients, or run one process.")
