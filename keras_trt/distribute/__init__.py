"""Data-parallel training on each backend's own engine, behind one switch.

- TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs (or several logical
  CPUs), `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several workers.
- JAX: `keras.distribution.DataParallel` over the local devices; several hosts join
  through `keras.distribution.initialize` (its `KERAS_DISTRIBUTION_*` variables).
- torch: `torch.distributed` (DDP semantics) in processes started by `torchrun`.

The engines live in `keras_trt.backend.distribute` (one module per backend); this
module dispatches to the current backend's.

Build, compile and fit the model inside `auto()`. With one device (one process) it
changes nothing: the same numbers as without it.

- `auto(devices=None, sync_batch_norm=False)`: the context manager above.
  `sync_batch_norm=True` makes every `TemporalBatchNorm` built inside it (without an
  explicit `sync=`) compute its statistics over the global batch.
- `initialize(timeout_s=None)`: joins the other processes of a multi-process launch
  before the model is built (torch under torchrun: the process group; `auto()` does it
  too, without a timeout).
- `launched_by_torchrun()`: whether torchrun's environment variables are set.
- `num_replicas()`: the replicas training in sync (1 outside `auto()`; torchrun: the
  processes).
- `is_chief()`: whether this process writes checkpoints and logs (only one does;
  torchrun: rank 0).
- `shard_dataset(ds)`: this process's share of a `tf.data` pipeline where the engine
  does not share it out itself (several JAX hosts, torchrun); unchanged elsewhere.
- `cross_replica_mean(x)`: the mean of `x` over the replicas inside a training step
  (TensorFlow: a replica-context all-reduce; JAX: `x`, since a step under DataParallel
  already computes on the global batch; torch: an all-reduce over the processes).

How TRT's weight penalty, tdBN and the metrics behave is in docs/distributed.md.

```python
import keras
import keras_trt as kt

with kt.distribute.auto():            # one device here: changes nothing
    inputs = keras.Input((4, 8))
    h = kt.TemporalBatchNorm()(kt.TimeDistributed(keras.layers.Dense(16))(inputs))
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(kt.LIF()(h)))
    model.compile(optimizer="adam", loss=kt.losses.TRTLoss(eta=0.05, lam=1e-5, decay=0.25))
    print(kt.distribute.num_replicas())  # 1
```
"""

import contextlib
import contextvars
import importlib
import os

import keras

__all__ = ["auto", "initialize", "launched_by_torchrun", "num_replicas", "is_chief",
           "shard_dataset", "cross_replica_mean", "sync_batch_norm_default"]

_SYNC_BATCH_NORM = contextvars.ContextVar("keras_trt_sync_batch_norm", default=False)
_ACTIVE = contextvars.ContextVar("keras_trt_distribution", default=None)


def _backend():
    return keras.backend.backend()


_ENGINES = ("tensorflow", "jax", "torch")   # modules of keras_trt.backend.distribute
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _engine():
    """The module of the current backend's engine (imported on first use)."""
    name = _backend()
    if name not in _ENGINES:
        raise NotImplementedError(f"keras_trt.distribute: no data-parallel engine for the "
                                  f"Keras backend {name!r}; supported: jax, tensorflow, torch.")
    return importlib.import_module(f"keras_trt.backend.distribute.{name}")


def _torch_fit():
    return importlib.import_module("keras_trt.backend.distribute.torch_fit")


class _Distributed(contextlib.AbstractContextManager):
    """What `auto()` returns: enter it to build, compile and fit data-parallel.

    Attributes: `num_replicas` (after entering), `engine` (the backend's object: a
    `tf.distribute.Strategy`, a `keras.distribution.DataParallel`, or None when one
    device makes distribution pointless, and on torch).
    """

    def __init__(self, devices, sync_batch_norm):
        self.devices = None if devices is None else list(devices)
        self.sync_batch_norm = bool(sync_batch_norm)
        self.engine = None
        self.num_replicas = None
        self._stack = None

    def __enter__(self):
        stack = contextlib.ExitStack()
        try:
            outer = _ACTIVE.get()
            if outer is not None:   # nested: the outer context's engine stays in charge
                self.engine = outer.engine
            else:
                self.engine = _engine().make(self.devices)
                if self.engine is not None:
                    stack.enter_context(self.engine.scope())
            token = _SYNC_BATCH_NORM.set(self.sync_batch_norm)
            stack.callback(_SYNC_BATCH_NORM.reset, token)
            active = _ACTIVE.set(self)
            stack.callback(_ACTIVE.reset, active)
            self.num_replicas = num_replicas()
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, *exc):
        stack, self._stack = self._stack, None
        return stack.__exit__(*exc) if stack is not None else False


def auto(devices=None, sync_batch_norm=False):
    """Data parallelism with the current backend's own engine, as a context manager.

    Args:
        devices: the local devices to use (TensorFlow device names such as
            "/gpu:0"; JAX device strings such as "gpu:0" or `jax.Device`s); None: all
            local GPUs, else all (logical) CPUs. Ignored on torch, where torchrun starts
            one process per device.
        sync_batch_norm: the default `sync` of every `keras_trt.TemporalBatchNorm`
            built inside the context (see docs/distributed.md).

    With a single device (and a single process) the context distributes nothing.

    ```python
    import keras_trt as kt
    with kt.distribute.auto() as dist:
        print(dist.num_replicas)   # 1 on one device
    ```
    """
    if devices is not None and (isinstance(devices, (str, bytes)) or not hasattr(
            devices, "__iter__")):
        raise TypeError("kt.distribute.auto: `devices` must be a list of devices or None, "
                        f"got {devices!r}.")
    return _Distributed(devices, sync_batch_norm)


def initialize(timeout_s=None):
    """Joins the other processes of a multi-process launch; call it before building the
    model.

    - torch: the process group of this `torchrun` launch, from its environment
      variables (gloo on CPU; NCCL when CUDA is available, with this process on the GPU
      `LOCAL_RANK`, so that the model's variables are created there). Idempotent; a
      RuntimeError outside torchrun. `timeout_s`: how long a collective may wait for
      the other ranks before failing (None: torch's default).
    - JAX: `keras.distribution.initialize()` when `KERAS_DISTRIBUTION_NUM_PROCESSES` is
      above 1; TensorFlow: nothing (the strategy `auto()` creates joins `TF_CONFIG`'s
      workers). `auto()` calls it too (without a timeout).

    ```python
    import keras_trt as kt
    if kt.distribute.launched_by_torchrun():
        kt.distribute.initialize(timeout_s=600)
    ```
    """
    _engine().initialize(timeout_s)


def launched_by_torchrun():
    """Whether torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT) are all set."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def sync_batch_norm_default():
    """The `sync` that a `TemporalBatchNorm` built now takes when given none."""
    return _SYNC_BATCH_NORM.get()


def num_replicas():
    """The number of replicas training in sync (devices x hosts; torchrun: processes)."""
    return _engine().num_replicas()


def is_chief():
    """Whether this process is the one that writes checkpoints, logs and results."""
    return _engine().is_chief()


def shard_dataset(ds):
    """This process's share of the `tf.data` pipeline `ds` of a distributed run.

    Where the engine splits the data itself (one host on TensorFlow and JAX: each global
    batch is split over the devices; TensorFlow's multi-worker strategy: `tf.distribute`'s
    auto-sharding) `ds` comes back as it is. Several JAX hosts and torchrun processes
    each get every n-th batch, the same number of batches on every process. On JAX each
    batch is also cut to a multiple of the local devices (JAX cannot split it
    otherwise): an epoch's last partial batch loses fewer samples than there are devices.
    Call it inside `auto()`.
    """
    return _engine().shard_dataset(ds)


def reduces_across_replicas():
    """Whether each replica runs its own training step here (TensorFlow's replicas,
    torchrun's processes), so that a global statistic needs `cross_replica_mean`; False
    on JAX, whose step is one program on the global batch."""
    return _engine().reduces_across_replicas()


def cross_replica_mean(x):
    """The mean of `x` over the replicas of a training step (`x` outside one)."""
    return _engine().cross_replica_mean(x)


# -------------------------------------------- hooks of keras_trt.SpikingModel (torch only)
def distributed_arguments(model, mode, args, kwargs):
    """`(args, kwargs)` of `model.<mode>` ("fit", "evaluate", "predict") for a torchrun
    run (progress bars on rank 0, fit's synchronising callback); unchanged elsewhere."""
    if _backend() != "torch":
        return args, kwargs
    return _torch_fit().distributed_arguments(model, mode, args, kwargs)


def global_metrics_result(model, result_fn):
    """`result_fn()` over every torchrun process's samples; `result_fn()` elsewhere."""
    if _backend() != "torch":
        return result_fn()
    return _torch_fit().global_metrics_result(model, result_fn)


def check_train_on_batch(model):
    """Refuses `train_on_batch` where it would not be synchronised (several torchrun
    processes: a RuntimeError); nothing elsewhere."""
    if _backend() == "torch":
        _torch_fit().check_train_on_batch(model)
