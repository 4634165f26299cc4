"""Data-parallel training on the torch backend, launched by `torchrun`.

Keras 3 has no distribution backend for torch; this module gives `SpikingModel.fit`,
`evaluate` and `predict` the semantics of torch's DistributedDataParallel (one process
per device, each on its own shard of the data):

- `initialize()` joins the process group from torchrun's environment variables (gloo on
  CPU, NCCL when CUDA is available, one GPU per process: `LOCAL_RANK`).
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
must give every rank as many batches too (not checked). `train_on_batch` and
`test_on_batch` are not synchronised: use `fit` and `evaluate`.

```python
import keras
import keras_trt as kt
from keras_trt.distribute import torch_ddp

if torch_ddp.launched_by_torchrun():
    torch_ddp.initialize()               # before building the model
inputs = keras.Input((4, 8))
h = kt.LIF()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
model.compile(optimizer="sgd", loss=kt.losses.TRTLoss())
x = keras.random.normal((8, 4, 8)); y = keras.ops.arange(8) % 3
model.fit(*torch_ddp.shard_dataset((x, y)), batch_size=4, epochs=1, verbose=0)
```
"""

import datetime
import inspect
import os

import keras

__all__ = ["initialize", "is_initialized", "launched_by_torchrun", "world_size", "rank",
           "all_reduce_mean", "shard_dataset", "broadcast_variables", "average_gradients",
           "distributed_arguments", "global_metrics_result"]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _on_torch():
    return keras.backend.backend() == "torch"


def launched_by_torchrun():
    """Whether torchrun's environment variables (RANK, WORLD_SIZE, ...) are all set."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def initialize(timeout_s=None):
    """Joins the process group of this torchrun launch (idempotent).

    gloo when CUDA is unavailable, NCCL otherwise, with this process on the GPU
    `LOCAL_RANK` (call it before building the model, so that its variables are
    created there). `timeout_s`: how long a collective may wait for the other ranks
    before failing (None: torch's default).
    """
    if not _on_torch():
        raise RuntimeError("torch_ddp.initialize: the Keras backend is "
                           f"{keras.backend.backend()!r}; torch_ddp needs KERAS_BACKEND=torch.")
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            "torch_ddp.initialize: this process was not launched by torchrun (missing "
            f"environment variables {', '.join(missing)}); start it with e.g. "
            "`torchrun --nproc_per_node=2 train.py`.")
    kwargs = {}
    if timeout_s is not None:
        kwargs["timeout"] = datetime.timedelta(seconds=float(timeout_s))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device, **kwargs)
    else:
        dist.init_process_group("gloo", **kwargs)


def is_initialized():
    """Whether this torch process belongs to an initialised process group."""
    if not _on_torch():
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def world_size():
    """The number of processes (1 when not initialised)."""
    if not is_initialized():
        return 1
    import torch.distributed as dist

    return dist.get_world_size()


def rank():
    """This process's rank (0 when not initialised)."""
    if not is_initialized():
        return 0
    import torch.distributed as dist

    return dist.get_rank()


def _collective_device():
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ------------------------------------------------------------------ all_reduce_mean
def _all_reduce_mean_function():
    import torch
    import torch.distributed as dist

    class AllReduceMean(torch.autograd.Function):
        """y = (1/W) sum_r x_r on every rank; dL/dx_r = (1/W) sum_s dL_s/dy.

        The backward pass sums the upstream gradients of every rank: each rank's loss
        depends on y, hence on every rank's x. Averaging the parameter gradients over the
        ranks afterwards then gives the gradient of the mean of the ranks' losses.
        """

        @staticmethod
        def forward(ctx, x):
            y = x.contiguous().clone()
            dist.all_reduce(y)
            return y.div_(dist.get_world_size())

        @staticmethod
        def backward(ctx, grad):
            grad = grad.contiguous().clone()
            dist.all_reduce(grad)
            return grad.div_(dist.get_world_size())

    return AllReduceMean


_ALL_REDUCE_MEAN = []


def all_reduce_mean(x):
    """The mean of `x` over the ranks, differentiable (`x` itself when not initialised).

    Every rank must call it, with tensors of one shape. Its gradient carries every
    rank's upstream gradient back to every rank's `x`, as synchronised BatchNorm needs.
    """
    x = keras.ops.convert_to_tensor(x)
    if not is_initialized():
        return x
    if not _ALL_REDUCE_MEAN:
        _ALL_REDUCE_MEAN.append(_all_reduce_mean_function())
    return _ALL_REDUCE_MEAN[0].apply(x)


# ------------------------------------------------------------------------- sharding
def shard_dataset(ds):
    """This rank's share of `ds`; over the ranks, every sample exactly once per epoch.

    - A `tf.data.Dataset`: `ds.shard(world_size, rank)` (element i goes to rank i mod W).
      When its length n is known and not a multiple of W, its last n mod W elements
      (say batches) are dropped first, so that every rank runs the same steps.
    - An array, or a tuple, list or dict of arrays of equal length: rows i with
      i mod W == rank.

    Shard before shuffling, and shuffle with the same seed on every rank (or unseeded
    after the shard): a dataset shuffled differently on each rank and then sharded is no
    partition. Returns `ds` when not initialised.

    Every rank must run the same number of steps: when array shards' batch counts differ
    (N samples, batch b per rank, W ranks: when N is not a multiple of W b), `fit`
    raises a ValueError; make N a multiple of W b, or pass `steps_per_epoch`.
    """
    if not is_initialized():
        return ds
    count, index = world_size(), rank()
    if type(ds).__module__.startswith("tensorflow"):
        import tensorflow as tf

        if isinstance(ds, tf.data.Dataset):
            # Unequal shards would leave a rank waiting for a step the others never run
            # (DDP's DistributedSampler pads instead; repeating samples would bias the
            # metrics): the last n mod W elements of a pass are dropped.
            length = int(ds.cardinality())
            if length > 0 and length % count:
                ds = ds.take(length - length % count)
            return ds.shard(count, index)
    leaves = keras.tree.flatten(ds)
    if not leaves or not all(hasattr(a, "shape") and len(a.shape) >= 1 for a in leaves):
        raise TypeError("shard_dataset: `ds` must be a tf.data.Dataset, an array, or a "
                        "tuple, list or dict of arrays; got "
                        f"{type(ds).__name__}.")
    lengths = {int(a.shape[0]) for a in leaves}
    if len(lengths) != 1:
        raise ValueError("shard_dataset: the arrays in `ds` must have one length (first "
                         f"dimension); got {sorted(lengths)}.")
    return keras.tree.map_structure(lambda a: a[index::count], ds)


# ---------------------------------------------------------- variables and gradients
def _groups(tensors):
    """Indices of `tensors` grouped by (dtype, device), in first-seen order: the same on
    every rank, so that the collectives match."""
    groups = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.dtype, t.device), []).append(i)
    return groups.values()


def _refs(variables):
    return [v.value for v in variables]


def broadcast_variables(variables, src=0):
    """Sets `variables` (Keras variables) on every rank to their values on rank `src`."""
    if not is_initialized() or not variables:
        return
    import torch
    import torch.distributed as dist

    refs = _refs(variables)
    with torch.no_grad():
        for indices in _groups(refs):
            flat = torch.cat([refs[i].reshape(-1) for i in indices])
            dist.broadcast(flat, src)
            for i, part in zip(indices, flat.split([refs[i].numel() for i in indices])):
                refs[i].copy_(part.view_as(refs[i]))


def _sum_in_place(refs):
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        for indices in _groups(refs):
            flat = torch.cat([refs[i].reshape(-1) for i in indices])
            dist.all_reduce(flat)
            for i, part in zip(indices, flat.split([refs[i].numel() for i in indices])):
                refs[i].copy_(part.view_as(refs[i]))


def average_gradients(grads, variables):
    """The gradients averaged over the ranks (a new list; one all-reduce per dtype).

    A variable without a gradient (None) on some rank counts as a zero gradient there;
    it stays None only when no rank has one, as the optimizer then skips it everywhere.
    """
    import torch
    import torch.distributed as dist

    refs = _refs(variables)
    count = dist.get_world_size()
    out = list(grads)
    with torch.no_grad():
        for indices in _groups(refs):
            like = refs[indices[0]]
            parts = [(torch.zeros_like(refs[i]) if grads[i] is None
                      else grads[i].to(like.dtype)).reshape(-1) for i in indices]
            present = torch.tensor([grads[i] is not None for i in indices],
                                   dtype=like.dtype, device=like.device)
            flat = torch.cat(parts + [present])
            dist.all_reduce(flat)
            sizes = [refs[i].numel() for i in indices] + [len(indices)]
            *pieces, seen = flat.split(sizes)
            for k, (i, piece) in enumerate(zip(indices, pieces)):
                out[i] = None if seen[k] == 0 else piece.div_(count).view_as(refs[i])
    return out


def _average_gradients_in(optimizer):
    """Makes `optimizer.apply` average the gradients over the ranks first (idempotent)."""
    if getattr(optimizer, "_torch_ddp_apply", None) is not None:
        return
    apply = optimizer.apply

    def averaging_apply(grads, trainable_variables=None):
        if is_initialized():
            variables = (optimizer._trainable_variables if trainable_variables is None
                         else list(trainable_variables))
            grads = average_gradients(list(grads), variables)
        return apply(grads, trainable_variables)

    optimizer.apply = averaging_apply
    optimizer._torch_ddp_apply = apply


def _check_equal_steps(steps, what):
    import torch
    import torch.distributed as dist

    mine = torch.tensor([-1 if steps is None else int(steps)], dtype=torch.int64,
                        device=_collective_device())
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    every = [int(t.item()) for t in every]
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
    import torch

    refs = _metric_refs(model)
    local = [r.detach().clone() for r in refs]
    _sum_in_place(refs)
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
