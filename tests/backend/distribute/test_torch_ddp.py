"""The torch engine of `kt.distribute` (`keras_trt.backend.distribute.torch`): `SpikingModel.fit` / `evaluate` on 2 gloo processes
(torchrun on 127.0.0.1) against one process on the same global data.

One torchrun launch runs every scenario (tests/backend/distribute/_torch_ddp_worker.py); the
tests below compare what each rank wrote with references computed here. Torch backend
only.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.support import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "torch", reason="the torch engine: torch backend only")

ROOT = Path(__file__).resolve().parents[3]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch_ddp")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="torch")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               str(ROOT / "tests" / "backend" / "distribute" / "_torch_ddp_worker.py"), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    results = []
    for r in range(2):
        logs = json.loads((out / f"rank{r}.json").read_text())
        results.append((logs, dict(np.load(out / f"rank{r}.npz"))))
    return out, results


def test_initialize_outside_torchrun_raises(monkeypatch):
    import keras_trt as kt
    from keras_trt.backend.distribute import torch as engine

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not kt.distribute.launched_by_torchrun()
    with pytest.raises(RuntimeError, match="not launched by torchrun"):
        kt.distribute.initialize()
    assert not engine.is_initialized()
    assert (kt.distribute.num_replicas(), kt.distribute.is_chief()) == (1, True)
    x = np.arange(5)
    assert kt.distribute.shard_dataset(x) is x


def test_steps_equal_one_process_with_the_global_batch(ranks):
    """Ranks built with different seeds; after 2 SGD steps of 4 samples each (TRT
    penalty included once per step), the weights are those of one process with
    batches of 8 from rank 0's initial weights; fit's and evaluate's metrics are the
    single-process ones on all 16 samples."""
    from tests.backend.distribute import _torch_ddp_cases as cases

    _, results = ranks
    x, y = cases.data(16)
    model = cases.build(cases.PLAIN_SEED, batch_norm=False)
    initial = [keras.ops.convert_to_numpy(v) for v in model.weights]
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    expected = [keras.ops.convert_to_numpy(v) for v in model.weights]
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    for logs, arrays in results:
        for i, value in enumerate(expected):
            np.testing.assert_allclose(arrays[f"plain_w{i}"], value, rtol=0, atol=1e-5)
            assert np.abs(value - initial[i]).max() > 1e-3   # the steps moved it
        for name, value in history.history.items():
            assert logs["plain_fit"][name] == pytest.approx(value[-1], abs=1e-6)
        for name, value in evaluated.items():
            assert logs["plain_evaluate"][name] == pytest.approx(value, abs=1e-6)


def test_all_reduce_mean_value_and_gradient(ranks):
    """The mean over ranks, and the gradients of a synchronised-BatchNorm-like loss,
    equal one process's on the concatenated data (x: the rank's rows; w: averaged over
    the ranks as gradients are, the gradient of the mean of the ranks' losses)."""
    import torch

    from tests.backend.distribute import _torch_ddp_cases as cases

    _, results = ranks
    rng = np.random.default_rng(3)
    gx = torch.tensor(rng.normal(size=(4, 3)))
    gc = torch.tensor(rng.normal(size=(4, 3)))
    x = torch.cat([gx[0::2], gx[1::2]]).requires_grad_(True)
    c = torch.cat([gc[0::2], gc[1::2]])
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    cases.sync_bn_loss(x, w, c, lambda m: m).backward()
    np.testing.assert_allclose(results[0][1]["mean"], gx.mean(0).numpy(), atol=1e-12)
    for r, (_, arrays) in enumerate(results):
        np.testing.assert_allclose(arrays["mean"], results[0][1]["mean"], atol=0)
        np.testing.assert_allclose(arrays["grad_x"], x.grad[2 * r: 2 * r + 2].numpy(),
                                   atol=1e-10)
    mean_w = (results[0][1]["grad_w"] + results[1][1]["grad_w"]) / 2
    np.testing.assert_allclose(mean_w, w.grad.numpy() / 2, atol=1e-10)
    assert np.abs(x.grad.numpy()).max() > 1e-3


def test_moving_statistics_per_rank_rank_zeros_kept(ranks):
    """TemporalBatchNorm's moving statistics after one step are rank 0's: the update
    from rank 0's 4 samples alone, on both ranks."""
    from tests.backend.distribute import _torch_ddp_cases as cases

    _, results = ranks
    x, _ = cases.data(16)
    model = cases.build(cases.BN_SEED, batch_norm=True)
    model(x[:8][0::2], training=True)
    bn = [layer for layer in model.layers if isinstance(layer, cases.kt.TemporalBatchNorm)][0]
    mean = keras.ops.convert_to_numpy(bn.moving_mean)
    variance = keras.ops.convert_to_numpy(bn.moving_variance)
    model(x[:8][1::2], training=True)     # rank 1's samples would have moved it further
    assert np.abs(keras.ops.convert_to_numpy(bn.moving_mean) - mean).max() > 1e-4
    for _, arrays in results:
        np.testing.assert_allclose(arrays["bn_moving_mean"], mean, atol=1e-6)
        np.testing.assert_allclose(arrays["bn_moving_variance"], variance, atol=1e-6)


def test_sync_batch_norm_step_equals_one_process_on_the_global_batch(ranks):
    """TemporalBatchNorm(sync=True): one SGD step on 2 ranks x 4 samples gives the
    weights and moving statistics of one process's step on the 8 (TRT penalty included),
    which per-rank statistics do not (test_moving_statistics_per_rank_rank_zeros_kept)."""
    from tests.backend.distribute import _torch_ddp_cases as cases

    _, results = ranks
    x, y = cases.data(16)
    model = cases.build(cases.BN_SEED, batch_norm=True, sync=False)
    model.fit(x[:8][np.r_[0:8:2, 1:8:2]], y[:8][np.r_[0:8:2, 1:8:2]], batch_size=8,
              epochs=1, shuffle=False, verbose=0)
    expected = [keras.ops.convert_to_numpy(v) for v in model.weights]
    for _, arrays in results:
        got = [arrays[f"sync_w{i}"] for i in range(len(expected))]
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, atol=1e-5)


def test_saved_model_loads_in_one_process(ranks):
    """Rank 0's .keras file gives every rank's predictions, and its evaluation on all
    samples is what the 2 ranks reported on their shards."""
    from tests.backend.distribute import _torch_ddp_cases as cases

    out, results = ranks
    x, y = cases.data(16)
    model = keras.saving.load_model(out / "bn.keras")
    predictions = model.predict(x, batch_size=8, verbose=0)
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    for logs, arrays in results:
        np.testing.assert_allclose(arrays["bn_predict"], predictions, atol=1e-6)
        for name, value in evaluated.items():
            assert logs["bn_evaluate"][name] == pytest.approx(value, abs=1e-6)


def test_exact_resume_distributed(ranks):
    """Interrupted after epoch 1 and resumed, the run ends with the uninterrupted run's
    weights, bit for bit, on both ranks; only rank 0 wrote the state."""
    out, results = ranks
    for logs, arrays in results:
        names = sorted(n for n in arrays if n.startswith("resume_full_"))
        assert len(names) >= 6
        for name in names:
            np.testing.assert_array_equal(arrays[name],
                                          arrays[name.replace("_full_", "_resumed_")])
    assert [logs["resume_saves"] for logs, _ in results] == [4, 0]
    state = json.loads((out / "resumed" / "state.json").read_text())
    assert state["epoch"] == 2 and state["resumed"] == 1
    for name in results[0][1]:
        if name.startswith("resume_full_"):
            np.testing.assert_array_equal(results[0][1][name], results[1][1][name])


def test_shard_dataset_every_sample_once_per_epoch(ranks):
    _, results = ranks
    for epoch in range(2):
        seen = [logs["seen"][epoch] for logs, _ in results]
        assert sorted(seen[0] + seen[1]) == list(range(12))
        assert len(seen[0]) == len(seen[1]) == 6
    assert results[0][0]["seen"][0] != results[0][0]["seen"][1]   # reshuffled


def test_shard_dataset_evens_a_pipeline_of_known_length(ranks):
    _, results = ranks
    assert [logs["uneven"] for logs, _ in results] == [[0, 2], [1, 3]]


def test_unequal_steps_refused_on_every_rank(ranks):
    _, results = ranks
    for logs, _ in results:
        assert "rank 0: 3, rank 1: 2" in logs["unequal_steps_error"]


def test_train_on_batch_is_refused_on_every_rank(ranks):
    """It would apply each rank's own gradients (the weights would drift apart)."""
    _, results = ranks
    for logs, _ in results:
        assert logs["train_on_batch_error"] is not None
        assert "train_on_batch: not synchronised across the 2 torchrun processes" in (
            logs["train_on_batch_error"])


def test_average_gradients_missing_and_mixed_dtypes(ranks):
    _, results = ranks
    for logs, arrays in results:
        np.testing.assert_array_equal(arrays["avg0"], [1.5, 1.5])      # (1 + 2) / 2
        assert arrays["avg1"].dtype == np.float64
        np.testing.assert_array_equal(arrays["avg1"], [0.5, 0.5])      # (1 + 0) / 2
        assert logs["avg2_is_none"]
