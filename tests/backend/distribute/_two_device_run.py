"""Data-parallel checks on two virtual CPU devices, run as a subprocess (the device
count must be fixed before TensorFlow or JAX starts): prints one JSON line of measured
differences that tests/backend/distribute/test_tensorflow_and_jax.py asserts on.

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
        python tests/backend/distribute/_two_device_run.py OUTPUT_DIR
"""

import json
import os
import sys

BACKEND = os.environ["KERAS_BACKEND"]
if BACKEND == "tensorflow":
    import tensorflow as tf

    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_trt as kt  # noqa: E402
from keras_trt.data.pipeline import array_dataset  # noqa: E402


class SeenCounts(keras.metrics.Metric):
    """How often each label (here: a sample's index) was seen in the epoch."""

    def __init__(self, n, name="seen"):
        super().__init__(name=name)
        self.n = n
        self.counts = self.add_variable(shape=(n,), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        self.counts.assign_add(keras.ops.sum(keras.ops.one_hot(y, self.n), axis=0))

    def result(self):
        return keras.ops.convert_to_tensor(self.counts)


def build(classes=4, sync=None, metrics=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2, 4))
    h = kt.TimeDistributed(keras.layers.Dense(8, use_bias=False))(inputs)
    h = kt.LIF()(kt.TemporalBatchNorm(sync=sync)(h))
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(classes))(h))
    # lam 1e-2: the weight penalty moves the weights by ~1e-2 in a step, so counting it
    # once per replica instead of once per step shows
    model.compile(optimizer=keras.optimizers.SGD(0.5), metrics=metrics,
                  loss=kt.losses.TRTLoss(eta=0.05, lam=1e-2, decay=0.25),
                  jit_compile=False if BACKEND == "tensorflow" else "auto")
    return model


def max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))


def replica_values(variable):
    """The copies of `variable` held by the devices."""
    value = variable.value
    if BACKEND == "tensorflow":
        return [v.numpy() for v in tf.distribute.get_strategy()
                .experimental_local_results(value)]
    return [np.asarray(shard.data) for shard in value.addressable_shards]


def main(out):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2, 4)).astype("float32")
    y = rng.integers(0, 4, 12)
    report = {}

    # 1. Two steps (batches of 8 and 4) on one device and on two.
    single = build(sync=True)
    initial = [v.numpy() for v in single.weights]
    one = single.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    single_predictions = single.predict(x, batch_size=4, verbose=0)
    with kt.distribute.auto() as dist:
        report["replicas"] = dist.num_replicas
        synced = build(sync=True)
        synced.set_weights(initial)
        two = synced.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
        report["sync_weights_diff"] = max_diff(single.weights, synced.weights)
        report["loss_diff"] = abs(one["loss"][0] - two["loss"][0])
        report["accuracy_diff"] = abs(one["accuracy"][0] - two["accuracy"][0])
        unsynced = build(sync=False)
        unsynced.set_weights(initial)
        unsynced.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        report["unsynced_vs_global_diff"] = max_diff(single.weights, unsynced.weights)
        bn = next(l for l in unsynced.layers if isinstance(l, kt.TemporalBatchNorm))
        report["moving_replica_spread"] = max(
            max_diff(replica_values(v)[:1], replica_values(v)[1:])
            for v in (bn.moving_mean, bn.moving_variance))
        with kt.distribute.auto(sync_batch_norm=True):
            report["sync_default_in_auto"] = kt.TemporalBatchNorm().sync

        # 4a. A .keras file of the two-replica model predicts the same on one device.
        path = os.path.join(out, "synced.keras")
        synced.save(path)
        distributed_predictions = synced.predict(x, batch_size=4, verbose=0)
    loaded = keras.saving.load_model(path)
    report["checkpoint_prediction_diff"] = float(np.max(np.abs(
        loaded.predict(x, batch_size=4, verbose=0) - distributed_predictions)))
    report["single_vs_distributed_prediction_diff"] = float(np.max(np.abs(
        single_predictions - distributed_predictions)))

    # 3. and 5. Every sample once per epoch, counted by a metric (global, not a shard's),
    # over a shuffled pipeline wrapped as the recipes wrap it; 4b. ExactResume of this
    # distributed run: 2 epochs straight vs 1 epoch + 1 resumed.
    n = 14
    xs = rng.normal(size=(n, 2, 4)).astype("float32")

    def run(directory, epochs):
        with kt.distribute.auto():
            model = build(classes=n, metrics=[SeenCounts(n)])
            resume = kt.callbacks.ExactResume(os.path.join(out, directory), monitor=None)
            data = resume.wrap_dataset(kt.distribute.shard_dataset(
                array_dataset(xs, np.arange(n), batch_size=4, shuffle=True, seed=0)))
            model.fit(data, epochs=epochs, verbose=0, callbacks=[resume])
            seen = np.asarray(model.get_metrics_result()["seen"]).tolist()
            return [v.numpy() for v in model.weights], seen

    straight, report["seen_counts"] = run("straight", 2)
    run("resumed", 1)
    resumed, _ = run("resumed", 2)
    report["resume_weights_diff"] = max_diff(straight, resumed)
    report["resume_moved"] = max_diff(straight, initial_of(n))

    # The paper's training procedure (keras_trt.experiments.train, what the recipes run)
    # with distribute=True, on a tiny model and data: the distribution context, the
    # sharded pipelines and the run folder.
    labels = np.arange(n) % 4
    results = kt.experiments.train(
        build, array_dataset(xs, labels, 4, shuffle=True, seed=0),
        validation_data=array_dataset(xs[:8], labels[:8], 4, shuffle=False),
        test_data=array_dataset(xs, labels, 4, shuffle=False), distribute=True, epochs=1,
        verbose=0, seed=0, output_dir=os.path.join(out, "recipe")).results
    with open(os.path.join(out, "recipe", "results.json")) as f:
        saved = json.load(f)
    report["recipe_replicas"] = saved["hyperparameters"]["replicas"]
    report["recipe_distribute"] = saved["hyperparameters"]["distribute"]
    report["recipe_loss"] = saved["final_train_loss"]
    report["recipe_test_accuracy"] = results["final_test_accuracy"]
    print("REPORT " + json.dumps(report))


def initial_of(classes):
    return [v.numpy() for v in build(classes=classes).weights]


if __name__ == "__main__":
    main(sys.argv[1])
