"""Shared timing helpers for the benchmarks: median wall time over repeats, and running
one measurement per Keras backend in its own subprocess (the backend is fixed at import)."""

import json
import os
import statistics
import subprocess
import sys
import time


def measure(fn, repeats=10, warmup=2):
    """Calls fn() warmup + repeats times; returns (first-call seconds, median, min) ms."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"first_s": first, "median_ms": 1e3 * statistics.median(times),
            "min_ms": 1e3 * min(times)}


def interleaved_medians(fns, rounds, label_width=40):
    """Times `fns` ([(name, fn)], already warmed up) in turn, one call each per round, and
    prints and returns [(name, median ms)]: on a shared machine a change in load then
    shifts every piece alike."""
    times = {name: [] for name, _ in fns}
    for _ in range(rounds):
        for name, fn in fns:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    rows = [(name, 1000 * statistics.median(times[name])) for name, _ in fns]
    for name, ms in rows:
        print(f"{name:<{label_width}} {ms:9.1f} ms  (runs: "
              + ", ".join(f"{1000 * t:.0f}" for t in times[name]) + ")", flush=True)
    return rows


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
    lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(lines[-1][len("RESULT "):])


def emit(result):
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
