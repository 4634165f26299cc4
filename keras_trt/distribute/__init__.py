"""Data-parallel training on each backend's own engine, behind one switch.

- TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs (or several logical
  CPUs), `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several workers.
- JAX: `keras.distribution.DataParallel` over the local devices; several hosts join
  through `keras.distribution.initialize` (its `KERAS_DISTRIBUTION_*` variables).
- torch: `torch.distributed` (DDP) in processes started by `torchrun`
  (`keras_trt.distribute.torch_ddp`).

Build, compile and fit the model inside `auto()`. With one device (one process) it
changes nothing: the same numbers as without it.

- `auto(devices=None, sync_batch_norm=False)`: the context manager above.
  `sync_batch_norm=True` makes every `TemporalBatchNorm` built inside it (without an
  explicit `sync=`) compute its statistics over the global batch.
- `num_replicas()`: the replicas training in sync (1 outside `auto()`).
- `is_chief()`: whether this process writes checkpoints and logs (only one does).
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

import keras

__all__ = ["auto", "num_replicas", "is_chief", "shard_dataset", "cross_replica_mean",
           "sync_batch_norm_default"]

_SYNC_BATCH_NORM = contextvars.ContextVar("keras_trt_sync_batch_norm", default=False)
_ACTIVE = contextvars.ContextVar("keras_trt_distribution", default=None)


def _backend():
    return keras.backend.backend()


def _engine():
    """The module of the current backend's engine (imported on first use)."""
    name = _backend()
    if name == "torch":
        return _torch_engine()
    if name in ("tensorflow", "jax"):
        return importlib.import_module(f"keras_trt.distribute.{name}")
    raise NotImplementedError(f"keras_trt.distribute: no data-parallel engine for the Keras "
                              f"backend {name!r}; supported: jax, tensorflow, torch.")


def _torch_engine():
    # Imported on first use: it is only needed on the torch backend.
    return importlib.import_module("keras_trt.distribute.torch_ddp")


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
            name = _backend()
            outer = _ACTIVE.get()
            if outer is not None:   # nested: the outer context's engine stays in charge
                self.engine = outer.engine
            elif name == "torch":
                if _torch_engine().launched_by_torchrun():
                    _torch_engine().initialize()
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


def sync_batch_norm_default():
    """The `sync` that a `TemporalBatchNorm` built now takes when given none."""
    return _SYNC_BATCH_NORM.get()


def num_replicas():
    """The number of replicas training in sync (devices x hosts; torchrun: processes)."""
    if _backend() == "torch":
        return _torch_engine().world_size()
    return _engine().num_replicas()


def is_chief():
    """Whether this process is the one that writes checkpoints, logs and results."""
    if _backend() == "torch":
        return _torch_engine().rank() == 0
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
    if _backend() == "torch":
        return _torch_engine().shard_dataset(ds)
    return _engine().shard_dataset(ds)


def reduces_across_replicas():
    """Whether each replica runs its own training step here (TensorFlow's replicas,
    torchrun's processes), so that a global statistic needs `cross_replica_mean`; False
    on JAX, whose step is one program on the global batch."""
    if _backend() == "torch":
        return _torch_engine().world_size() > 1
    return _engine().reduces_across_replicas()


def cross_replica_mean(x):
    """The mean of `x` over the replicas of a training step (`x` outside one)."""
    if _backend() == "torch":
        return _torch_engine().all_reduce_mean(x)
    return _engine().cross_replica_mean(x)
