"""benchmarks/gpu_check.sh's CPU fallback: the GPU check pipeline (baseline and keras-trt
workers with TensorFlow hidden, the table, the output files) on tiny models.

The workers pick their own backends, so the check runs in one test process only
(`backend_independent`), and for the torch backend only: a JAX worker spends 20-30 s
building and jitting even the tiny model on CI's two cores (the JAX rows were checked by
running the script by hand; docs/performance.md, GPU).
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check, train_step

ROOT = Path(__file__).resolve().parent.parent


def _table_rows(text):
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return split[0], split[2:]          # header, data rows (after the |---| line)


@pytest.mark.backend_independent
def test_cpu_fallback_writes_a_finite_table(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--skip-install",
         "--device", "cpu", "--models", "vggsnn", "--backends", "torch",
         "--precisions", "mixed_bfloat16",
         "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    header, rows = _table_rows((tmp_path / "gpu_check.md").read_text())
    assert tuple(header) == gpu_check.COLUMNS
    assert [row[1] for row in rows] == ["PyTorch reference (autocast)", "keras-trt torch"]
    for row in rows:
        assert row[0] == "vggsnn" and row[2] == "mixed_bfloat16" and row[3] == "cpu", row
        numbers = [float(cell) for cell in row[4:]]      # ms/step, ratio, peak MiB, first
        assert all(math.isfinite(n) for n in numbers), row
        assert numbers[0] > 0
    assert float(rows[0][5]) == 1.0                      # the baseline's own ratio

    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["mode"] == "cpu" and len(saved["rows"]) == 2
    base = saved["rows"][0]["ms_per_step"]
    for row, printed in zip(saved["rows"], rows):
        assert row["ratio"] == pytest.approx(row["ms_per_step"] / base)
        assert printed[4] == f"{row['ms_per_step']:.1f}"


def test_all_finite_rejects_errors_and_nan_but_not_skipped_rows():
    good = {"ms_per_step": 2.0, "ratio": 1.0, "peak_mib": 3.0, "first_step_s": 0.5}
    assert gpu_check.all_finite([good, {"error": gpu_check.SKIPPED}])
    assert not gpu_check.all_finite([good, {"error": "timeout after 5 s"}])
    assert not gpu_check.all_finite([dict(good, peak_mib=float("nan"))])
    assert not gpu_check.all_finite([dict(good, ratio=None)])


def test_hidden_module_reads_as_not_installed(tmp_path, monkeypatch):
    (tmp_path / "kt_hidden_probe.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kt_hidden_probe", raising=False)
    assert importlib.util.find_spec("kt_hidden_probe") is not None
    train_step.hide_modules("kt_hidden_probe")
    try:
        assert importlib.util.find_spec("kt_hidden_probe") is None
        with pytest.raises(ImportError):
            import kt_hidden_probe  # noqa: F401
    finally:
        del sys.modules["kt_hidden_probe"]


def test_run_orders_rows_computes_ratios_and_skips_what_does_not_fit(monkeypatch):
    ms = {"reference": 10.0, "torch": 5.0, "jax": 20.0}
    calls = []

    def fake_run_config(args, backend, model, jit, loss, timesteps, remat, policy):
        calls.append((backend, model, jit, args.mixed_precision))
        compiled = (backend, jit) == ("torch", "on")
        return {"ms_per_step": ms[backend] * (2 if compiled else 1), "first_step_s": 1.0,
                "peak_mib": 1.0, "wall_s": 1000.0 if compiled else 0.0}

    monkeypatch.setattr(train_step, "run_config", fake_run_config)
    rows = gpu_check.run(["vggsnn"], ["torch", "jax"], ["float32", "mixed_bfloat16"],
                         gpu_check.SIZES["cpu"], budget_s=600, torch_compile=True,
                         log=lambda _: None)
    impls = [(r["backend"], r["jit"], r["precision"]) for r in rows]
    expected = [("reference", "off"), ("torch", "off"), ("torch", "on"), ("jax", "on")]
    assert impls == ([(b, j, "float32") for b, j in expected]
                     + [(b, j, "mixed_bfloat16") for b, j in expected])
    # torch.compile took "1000 s" the first time: the second would not fit in 600 s
    assert rows[6]["error"] == gpu_check.SKIPPED and len(calls) == 7
    assert [r.get("ratio") for r in rows[:4]] == [1.0, 0.5, 1.0, 2.0]
    assert gpu_check.all_finite(rows)
    names = [line.split("|")[2].strip() for line in gpu_check.table(rows).splitlines()[2:]]
    assert names[:4] == ["PyTorch reference", "keras-trt torch",
                         "keras-trt torch (torch.compile)", "keras-trt jax (jit)"]
