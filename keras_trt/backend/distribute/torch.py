"""torch's data-parallel engine: the process group of a `torchrun` launch and its
collectives (`keras_trt.distribute` dispatches here on the torch backend).

Keras 3 has no distribution backend for torch. This module joins the processes and
moves tensors between them; `torch_fit.py` uses it to give `SpikingModel.fit`,
`evaluate` and `predict` the semantics of torch's DistributedDataParallel (one process
per device, each on its own shard of the data; see docs/distributed.md).

- `initialize(timeout_s=None)` joins the process group from torchrun's environment
  variables (gloo on CPU, NCCL when CUDA is available, one GPU per process:
  `LOCAL_RANK`); `launched_by_torchrun()`, `is_initialized()`, `world_size()`, `rank()`.
- `shard_dataset(ds)`: this rank's share of the data, every sample once per epoch.
- `all_reduce_mean(x)`: the differentiable mean over the ranks (synchronised BatchNorm).
- `broadcast_variables(variables)`, `average_gradients(grads, variables)`,
  `sum_in_place(tensors)`, `gather_int(value)`: what the fit synchronisation needs.

Users reach it through `keras_trt.distribute` (`initialize`, `launched_by_torchrun`,
`num_replicas`, `is_chief`, `shard_dataset`, `cross_replica_mean`).

```python
import keras_trt as kt

if kt.distribute.launched_by_torchrun():
    kt.distribute.initialize()           # before building the model
print(kt.distribute.num_replicas())      # 1 outside torchrun
```
"""

import datetime
import os

import keras
import torch
import torch.distributed as dist

__all__ = ["initialize", "is_initialized", "launched_by_torchrun", "world_size", "rank",
           "all_reduce_mean", "shard_dataset", "broadcast_variables", "average_gradients",
           "sum_in_place", "gather_int"]

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
        raise RuntimeError("kt.distribute.initialize: the Keras backend is "
                           f"{keras.backend.backend()!r}; the torch engine needs "
                           "KERAS_BACKEND=torch.")
    if dist.is_initialized():
        return
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            "kt.distribute.initialize: this process was not launched by torchrun (missing "
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
    return dist.is_available() and dist.is_initialized()


def world_size():
    """The number of processes (1 when not initialised)."""
    if not is_initialized():
        return 1
    return dist.get_world_size()


def rank():
    """This process's rank (0 when not initialised)."""
    if not is_initialized():
        return 0
    return dist.get_rank()


def _collective_device():
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ------------------------------------------------------------------ all_reduce_mean
class _AllReduceMean(torch.autograd.Function):
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


def all_reduce_mean(x):
    """The mean of `x` over the ranks, differentiable (`x` itself when not initialised).

    Every rank must call it, with tensors of one shape. Its gradient carries every
    rank's upstream gradient back to every rank's `x`, as synchronised BatchNorm needs.
    """
    x = keras.ops.convert_to_tensor(x)
    if not is_initialized():
        return x
    return _AllReduceMean.apply(x)


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
        import tensorflow as tf  # only when given a tf.data pipeline

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
    refs = _refs(variables)
    with torch.no_grad():
        for indices in _groups(refs):
            flat = torch.cat([refs[i].reshape(-1) for i in indices])
            dist.broadcast(flat, src)
            for i, part in zip(indices, flat.split([refs[i].numel() for i in indices])):
                refs[i].copy_(part.view_as(refs[i]))


def sum_in_place(refs):
    """Replaces every torch tensor in `refs` by its sum over the ranks."""
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


def gather_int(value):
    """[`value` of rank 0, of rank 1, ...]: one integer from every rank."""
    mine = torch.tensor([int(value)], dtype=torch.int64, device=_collective_device())
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    return [int(t.item()) for t in every]


# ----------------------------------------------- the engine interface of kt.distribute
def make(devices):
    """Joins the process group under torchrun; torch has no strategy object (None).
    `devices` is ignored: torchrun starts one process per device."""
    del devices
    if launched_by_torchrun():
        initialize()
    return None


def num_replicas():
    return world_size()


def is_chief():
    return rank() == 0


def reduces_across_replicas():
    return world_size() > 1


def cross_replica_mean(x):
    return all_reduce_mean(x)
