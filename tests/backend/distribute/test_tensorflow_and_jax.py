"""Data parallelism on TensorFlow (MirroredStrategy) and JAX (DataParallel), checked on
two virtual CPU devices in one subprocess per backend (tests/backend/distribute/_two_device_run.py;
the device count must be set before the framework starts). The torch engine has its own
tests (torchrun-style processes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import keras_trt as kt

BACKEND = keras.backend.backend()
ROOT = Path(__file__).resolve().parents[3]
two_devices = pytest.mark.skipif(BACKEND not in ("tensorflow", "jax"),
                                 reason="TensorFlow and JAX engines (torch: test_torch_ddp)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_devices")
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND=BACKEND,
               KERAS_TRT_CACHE_DIR=str(out / "cache"), OMP_NUM_THREADS="1")
    if BACKEND == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    run = subprocess.run([sys.executable, str(ROOT / "tests/backend/distribute/_two_device_run.py"),
                          str(out)], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in run.stdout.splitlines() if line.startswith("REPORT ")]
    assert run.returncode == 0 and lines, run.stdout[-2000:] + run.stderr[-4000:]
    return json.loads(lines[-1][len("REPORT "):])


@two_devices
def test_two_replicas_step_equals_one_device_with_the_global_batch(report):
    # TRT's weight penalty counts once per step, tdBN(sync=True) uses the global batch
    assert report["replicas"] == 2
    assert report["sync_weights_diff"] < 1e-5
    # metrics are those of the global batch, not one replica's shard
    assert report["loss_diff"] < 1e-5 and report["accuracy_diff"] == 0.0


@two_devices
def test_default_batch_norm_statistics(report):
    if BACKEND == "tensorflow":
        # per-replica statistics: the step differs from the global-batch one...
        assert report["unsynced_vs_global_diff"] > 1e-4
    else:
        # ...while a JAX step is one program on the global batch: sync or not
        assert report["unsynced_vs_global_diff"] < 1e-5
    # the moving statistics stay equal on both replicas
    assert report["moving_replica_spread"] == 0.0
    assert report["sync_default_in_auto"] is True


@two_devices
def test_every_sample_seen_once_per_epoch(report):
    assert report["seen_counts"] == [1.0] * 14


@two_devices
def test_checkpoint_loads_on_one_device_with_the_same_predictions(report):
    assert report["checkpoint_prediction_diff"] < 1e-6
    assert report["single_vs_distributed_prediction_diff"] < 1e-5


@two_devices
def test_exact_resume_of_a_distributed_run(report):
    assert report["resume_moved"] > 1e-3
    assert report["resume_weights_diff"] == 0.0


@two_devices
def test_recipe_trains_with_distribute_auto(report):
    assert report["recipe_replicas"] == 2 and report["recipe_distribute"] == "auto"
    assert report["recipe_loss"] > 0 and 0.0 <= report["recipe_test_accuracy"] <= 1.0


def test_one_device_is_a_no_op():
    with kt.distribute.auto() as dist:
        assert dist.num_replicas == kt.distribute.num_replicas() == 1
        assert kt.distribute.is_chief()
        x = keras.ops.ones((3,))
        assert keras.ops.convert_to_numpy(kt.distribute.cross_replica_mean(x)).tolist() == [1.0] * 3
    assert kt.TemporalBatchNorm().sync is False
    with kt.distribute.auto(sync_batch_norm=True):
        assert kt.TemporalBatchNorm().sync is True
        assert kt.TemporalBatchNorm(sync=False).sync is False


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's replica count")
def test_one_replica_count_for_the_engine_and_the_weight_penalty():
    # kt.distribute.num_replicas and backend.replica_share read the same function
    from keras_trt.backend import tensorflow as tf_backend
    from keras_trt.backend.distribute import tensorflow as tf_engine
    assert tf_engine.num_replicas is tf_backend.num_replicas_in_sync


def test_bad_arguments():
    with pytest.raises(TypeError, match="devices"):
        kt.distribute.auto(devices="gpu:0")
    with pytest.raises(TypeError, match="sync"):
        kt.TemporalBatchNorm(sync="yes")
