"""TensorFlow's data-parallel engine (`keras_trt.distribute` dispatches here on
TensorFlow): `tf.distribute.MirroredStrategy` on one host,
`MultiWorkerMirroredStrategy` when `TF_CONFIG` names several workers.

Keras' TensorFlow trainer does the rest itself: it splits each global batch over the
replicas (`experimental_distribute_dataset`; several workers: `tf.distribute`'s
auto-sharding), sums the replicas' gradients (each replica's loss is scaled by
1 / replicas) and sums the metrics' states over the replicas.

"""

import json
import os

import tensorflow as tf

from keras_trt.backend import tensorflow as tf_backend


def _cluster():
    """(task type, task index, number of workers incl. the chief) from TF_CONFIG."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None, 0, 1
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"kt.distribute: TF_CONFIG is not valid JSON ({e}).") from None
    cluster = config.get("cluster", {})
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    task = config.get("task", {})
    return task.get("type"), int(task.get("index", 0)), workers


def _local_devices(devices):
    if devices is not None:
        return [d if isinstance(d, str) else d.name for d in devices]
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


# One strategy per set of devices and process: strategies created anew for every
# `auto()` were seen to mix up their collective all-reduces in one process.
_STRATEGIES = {}


def initialize(timeout_s=None):
    """Nothing: the strategy that `make` creates joins `TF_CONFIG`'s workers itself."""
    del timeout_s


def make(devices):
    """The strategy for `devices` (see `keras_trt.distribute.auto`), or None for one."""
    _, _, workers = _cluster()
    if workers > 1:
        if devices is not None:
            raise ValueError("kt.distribute.auto: `devices` cannot be chosen when TF_CONFIG "
                             "names several workers (each worker uses all its GPUs).")
        key = "multi-worker"
        if key not in _STRATEGIES:
            _STRATEGIES[key] = tf.distribute.MultiWorkerMirroredStrategy()
        return _STRATEGIES[key]
    devices = _local_devices(devices)
    if len(devices) <= 1:
        return None
    key = tuple(devices)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices)
    return _STRATEGIES[key]


# the count of keras_trt.backend.replica_share too: one definition for both
num_replicas = tf_backend.num_replicas_in_sync


def is_chief():
    task_type, index, workers = _cluster()
    if workers <= 1 or task_type in (None, "chief"):
        return True
    has_chief = bool(json.loads(os.environ["TF_CONFIG"]).get("cluster", {}).get("chief"))
    return task_type == "worker" and index == 0 and not has_chief


def shard_dataset(ds):
    # One host: Keras splits every global batch over the replicas. Several workers:
    # tf.distribute shards the pipeline (by file where it reads files, else every
    # worker keeps its share of the batches).
    return ds


def reduces_across_replicas():
    return num_replicas() > 1


def cross_replica_mean(x):
    return tf_backend.cross_replica_mean(x)
