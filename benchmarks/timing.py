"""How every benchmark measures: one timing loop (`rounds`), what it reports (`summary`),
the process's peak memory, and one subprocess per Keras backend (the backend is fixed at
import).

`measure(fn)` times one function; `interleaved_medians` times several in turn, one call
each per round, so that a change in load on a shared machine shifts all of them alike.
Both run `rounds`; scripts that let Keras drive the steps (`model.fit`) record them with
`step_times_callback` and report through the same `summary`.

    import timing                       # from a script in benchmarks/
    result = timing.measure(lambda: model.train_on_batch(x, y), repeats=10, warmup=2)
    result["median_ms"], result["first_s"]
"""

import json
import os
import statistics
import subprocess
import sys
import time


def summary(times):
    """{"median_ms", "min_ms"} of a list of seconds."""
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times)}


def rounds(fns, count):
    """Calls each of `fns` ([(name, fn)]) once per round, `count` rounds; returns
    {name: [seconds per call]}. The one timing loop of the benchmarks."""
    times = {name: [] for name, _ in fns}
    for _ in range(count):
        for name, fn in fns:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def first_call(fn):
    """Seconds of one call of fn() (the first: tracing and compilation included)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(fn, repeats=10, warmup=1):
    """Calls fn() once (timed: "first_s"), `warmup` more times untimed, then `repeats`
    times; returns {"first_s", "median_ms", "min_ms"}."""
    first = first_call(fn)
    for _ in range(warmup):
        fn()
    return {"first_s": first, **summary(rounds([("", fn)], repeats)[""])}


def interleaved_medians(fns, count, label_width=40):
    """Times `fns` ([(name, fn)], already warmed up) with `rounds`, prints and returns
    [(name, median ms)]."""
    times = rounds(fns, count)
    rows = [(name, summary(times[name])["median_ms"]) for name, _ in fns]
    for name, ms in rows:
        print(f"{name:<{label_width}} {ms:9.1f} ms  (runs: "
              + ", ".join(f"{1000 * t:.0f}" for t in times[name]) + ")", flush=True)
    return rows


def step_times_callback(times):
    """A Keras callback appending each training batch's seconds to `times` (for steps
    that `model.fit` drives, e.g. under a distribution strategy)."""
    import keras

    class StepTimes(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    return StepTimes()


# ------------------------------------------------------------------------ memory
def _status_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure_with_host_peak(fn, repeats=10, warmup=1):
    """`measure`, plus "peak_mib": the process's peak resident memory during the calls
    above its resident memory before the first (Linux >= 4.0: VmHWM reset through
    /proc/self/clear_refs; None where that is not possible). Host memory only, the same
    measure for every backend and the PyTorch baseline."""
    rss0 = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                       # VmHWM := the current RSS
        can_reset = True
    except OSError:
        can_reset = False
    result = measure(fn, repeats, warmup)
    peak = _status_kib("VmHWM") if can_reset else None
    result["peak_mib"] = None if peak is None or rss0 is None else (peak - rss0) / 1024
    return result


def accelerator_memory():
    """{"device", and on a GPU "peak_mib": the Keras backend's peak device memory}."""
    import keras
    backend = keras.backend.backend()
    if backend == "torch":
        import torch
        if torch.cuda.is_available():
            return {"device": "cuda", "peak_mib": torch.cuda.max_memory_allocated() / 2**20}
    elif backend == "jax":
        import jax
        device = jax.devices()[0]
        if device.platform == "gpu":
            stats = device.memory_stats() or {}
            return {"device": "gpu", "peak_mib": stats.get("peak_bytes_in_use", 0) / 2**20}
    elif backend == "tensorflow":
        import tensorflow as tf
        if tf.config.list_physical_devices("GPU"):
            info = tf.config.experimental.get_memory_info("GPU:0")
            return {"device": "gpu", "peak_mib": info["peak"] / 2**20}
    return {"device": "cpu"}


# ------------------------------------------------------------------- subprocesses
def run_in_subprocess(script, args, backend=None, timeout=900):
    """Runs `python script args` (optionally under KERAS_BACKEND) and returns the JSON the
    script printed on its last line starting with RESULT."""
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        out = subprocess.run([sys.executable, script, *args], env=env, capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    return parse_result(out.stdout, out.stderr, out.returncode)


def parse_result(stdout, stderr, returncode):
    """The JSON of the last `RESULT ` line of a worker's output (printed before any crash
    at exit), else {"error": the last lines of its output}."""
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if lines:
        return json.loads(lines[-1][len("RESULT "):])
    tail = (stderr or stdout).strip().splitlines()[-3:]
    return {"error": " / ".join(tail)[-300:] or f"exit code {returncode}"}


def emit(result):
    """Prints `result` as the RESULT line that `run_in_subprocess` reads."""
    print("RESULT " + json.dumps(result), flush=True)


def machine_description():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"
