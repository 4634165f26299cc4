"""benchmarks/setup_common.py and benchmarks/timing.py: the setup and the timing loop
every benchmark script shares (tiny sizes; the scripts themselves are run by hand,
docs/performance.md). The training step is the same Keras code on every backend, so it
runs once (a JAX VGGSNN step compiles for a minute on two cores)."""

import math

import numpy as np
import pytest

from benchmarks import setup_common as setup
from benchmarks import timing


def test_measure_calls_first_warmup_and_repeats():
    calls = []
    result = timing.measure(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 1 + 2 + 4
    assert set(result) == {"first_s", "median_ms", "min_ms"}
    assert 0 <= result["min_ms"] <= result["median_ms"]


def test_rounds_interleave_the_functions():
    order = []
    times = timing.rounds([("a", lambda: order.append("a")),
                           ("b", lambda: order.append("b"))], 3)
    assert order == ["a", "b"] * 3
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3}


def test_host_peak_counts_memory_held_during_the_calls():
    held = []
    result = timing.measure_with_host_peak(
        lambda: held.append(np.ones(8 * 2**20 // 8)), repeats=2, warmup=0)  # 8 MiB each
    if result["peak_mib"] is not None:            # None where /proc cannot reset VmHWM
        assert result["peak_mib"] >= 16


def test_parse_result_reads_the_last_result_line_or_reports_the_error():
    out = 'noise\nRESULT {"a": 1}\nRESULT {"a": 2}\n'
    assert timing.parse_result(out, "", 0) == {"a": 2}
    assert timing.parse_result(out, "segfault at exit", -11) == {"a": 2}
    error = timing.parse_result("", "Traceback\nValueError: bad", 1)["error"]
    assert error == "Traceback / ValueError: bad"
    assert timing.parse_result("", "", 3) == {"error": "exit code 3"}


def test_random_batch_is_seeded_and_shaped_for_events_and_images():
    x, y = setup.random_batch((2, 8, 8, 2), 3, num_classes=4)
    assert x.shape == (3, 2, 8, 8, 2) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() < 1 and set(y) <= set(range(4))
    again, _ = setup.random_batch((2, 8, 8, 2), 3, num_classes=4)
    np.testing.assert_array_equal(x, again)
    images, _ = setup.random_batch((8, 8, 3), 3)
    assert images.shape == (3, 8, 8, 3) and images.min() < 0      # normal, not uniform


@pytest.mark.backend_independent     # the same Keras code on every backend: run once
def test_the_shared_setup_trains_a_tiny_vggsnn():
    import keras_trt as kt

    model = setup.compile_trt(setup.vggsnn(timesteps=2, size=16, width_divisor=16))
    kernels = [w.shape[-1] for w in model.trainable_weights if len(w.shape) == 4]
    assert kernels == [w // 16 for w in kt.models.vggsnn.VGGSNN_WIDTHS]
    assert isinstance(model.loss, kt.losses.TRTLoss)
    assert model.loss.lam == setup.LAM and model.loss.eta == setup.ETA
    x, y = setup.random_batch(model.input_shape[1:], 2)
    step = setup.train_step(model, x, y)
    assert math.isfinite(step()) and math.isfinite(step())
