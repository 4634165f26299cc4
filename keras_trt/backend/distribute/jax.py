"""JAX's data-parallel engine (`keras_trt.distribute` dispatches here on JAX):
`keras.distribution.DataParallel` over the local devices of every host.

A training step under DataParallel is one program on the global batch (SPMD): JAX
shards each batch over the devices and inserts the all-reduces itself, so the loss,
the gradients, batch statistics and metrics are those of the global batch already.
Several hosts join with `keras.distribution.initialize()`, called here when
`KERAS_DISTRIBUTION_NUM_PROCESSES` is above 1; each host then feeds its own batches
(`shard_dataset`), which Keras assembles into the global batch.

"""

import os

import jax
import keras

_INITIALIZED = False


def _num_processes():
    return int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1") or 1)


def _initialize_hosts():
    global _INITIALIZED
    if _num_processes() > 1 and not _INITIALIZED:
        keras.distribution.initialize()
        _INITIALIZED = True


def initialize(timeout_s=None):
    """Joins the other hosts (`keras.distribution.initialize`) when
    `KERAS_DISTRIBUTION_NUM_PROCESSES` is above 1; `timeout_s` is torch's only."""
    del timeout_s
    _initialize_hosts()


def make(devices):
    """The DataParallel distribution over `devices` (None: every device of every host),
    or None when there is only one."""
    _initialize_hosts()
    if devices is None:
        devices = keras.distribution.list_devices()
    devices = list(devices)
    if len(devices) <= 1:
        return None
    # Several hosts: each shards its own data (shard_dataset); Keras' own sharding needs
    # a static batch size, which a generator-backed pipeline (ExactResume) lacks.
    return keras.distribution.DataParallel(devices=devices,
                                           auto_shard_dataset=jax.process_count() == 1)


def num_replicas():
    distribution = keras.distribution.distribution()
    if not isinstance(distribution, keras.distribution.DataParallel):
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)])


def is_chief():
    return jax.process_index() == 0


def shard_dataset(ds):
    """This host's batches (several hosts: every n-th, as many on every host), each cut
    to a multiple of the host's devices, which JAX's sharding of a batch requires.

    Only a last partial batch loses samples (fewer than the devices); one smaller than
    the device count is filled up by repeating its samples.
    """
    import tensorflow as tf

    processes = jax.process_count()
    if processes > 1:
        size = int(ds.cardinality())
        shard = ds.shard(processes, jax.process_index())
        # every host must run the same number of steps
        ds = shard.take(size // processes) if size >= 0 else shard
    devices = num_replicas() // processes
    if devices <= 1:
        return ds

    def multiple_of_devices(*batch):
        batch = batch if len(batch) > 1 else batch[0]
        size = tf.shape(tf.nest.flatten(batch)[0])[0]
        rows = tf.range(tf.maximum(size // devices * devices, devices)) % size
        return tf.nest.map_structure(lambda t: tf.gather(t, rows), batch)

    return ds.map(multiple_of_devices, num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True)


def reduces_across_replicas():
    return False


def cross_replica_mean(x):
    # The step computes on the global batch: a statistic is already the replicas' mean.
    return x
