"""The GPU check: keras-trt's training step on the torch and JAX backends, in float32 and
mixed precision, next to the pure-PyTorch baseline (`benchmarks/torch_reference.py`) in
float32 and under the matching `torch.autocast`, as one table. Run it through
`benchmarks/gpu_check.sh`, which first installs Keras (docs/performance.md, GPU).

Each row is one configuration of `benchmarks/train_step.py`, in its own subprocess, one
after the other: VGGSNN (48x48 events, T=10) and ResNet-19 (32x32 images, T=4) at full
width with TRTLoss; each backend in its default mode (torch eager, JAX `jax.jit`); ratios
to the baseline of the same model and precision. TensorFlow is hidden from every worker
(`--hide-modules tensorflow`): the run fails if a path needs it.

Without a GPU (or with `--device cpu`) it falls back to tiny models (widths / 16, 16x16
events, T=2) and 2 steps, which checks the whole pipeline in seconds but measures nothing
worth reading.

    python benchmarks/gpu_check.py --out results/          # what gpu_check.sh runs
    python benchmarks/gpu_check.py --device cpu --models vggsnn --out /tmp/check

Writes `gpu_check.md` (the table and the environment) and `gpu_check.json` (every
measurement) to `--out` (default: $OUT, else the current folder).
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

if __package__:          # imported as benchmarks.gpu_check (the tests)
    from . import train_step
else:                    # run as a script: its own folder is first on sys.path
    import train_step

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
BACKENDS = ("torch", "jax")
# Each backend's default jit_compile="auto" mode: eager torch (torch.compile's first step
# costs more than it saves in a short run), jax.jit.
JIT = {"torch": "off", "jax": "on", train_step.REFERENCE: "off"}
COLUMNS = ("model", "implementation", "precision", "device", "ms/step", "ratio to baseline",
           "peak MiB", "first step (s)")
SKIPPED = "skipped (time budget)"
SIZES = {
    # full size, as the paper; a batch an H100/H200 steps through in well under a second
    "gpu": dict(batch=32, steps=10, warmup=2, width_divisor=1, vgg_size=48, vgg_timesteps=10,
                resnet_size=32, resnet_timesteps=4),
    # the pipeline only: every model and code path, nothing worth timing
    "cpu": dict(batch=2, steps=2, warmup=0, width_divisor=16, vgg_size=16, vgg_timesteps=2,
                resnet_size=8, resnet_timesteps=2),
}


_PROBE = """
import json, platform
from importlib.metadata import version
info = {"python": platform.python_version(), "machine": platform.machine()}
for name in ("torch", "jax", "jaxlib", "keras"):
    try:
        info[name] = version(name)
    except Exception:
        pass
try:
    import torch
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
except ImportError:
    pass
print(json.dumps(info))
"""


def environment():
    """Versions and the GPU torch sees, from a subprocess: this process creates no CUDA
    context (which would hold device memory, or the device itself in exclusive mode, while
    the workers run) and never initialises JAX (which would reserve most of the memory)."""
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                              timeout=120)
        info = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        info = {"python": platform.python_version()}
    try:
        info["driver"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {k: v for k, v in info.items() if v}


def _run_args(size, precision, timeout):
    """The namespace train_step.run_config reads."""
    return argparse.Namespace(
        **size, num_classes=10, stem="once", mixed_precision=precision,
        device="auto", hide_modules="tensorflow", tuned_malloc=False, timeout=timeout)


def run(models, backends, precisions, size, budget_s, torch_compile=False, log=print):
    """Runs every configuration (baseline first per model and precision; with
    torch_compile, keras-trt torch under torch.compile as well) within budget_s seconds; a
    configuration that would not fit (by the longest wall time of its kind so far) is
    recorded as skipped. Returns a list of row dicts."""
    impls = [(train_step.REFERENCE, "off")] + [(b, JIT[b]) for b in backends]
    if torch_compile:
        impls.insert(impls.index(("torch", "off")) + 1 if "torch" in backends else 1,
                     ("torch", "on"))
    deadline = time.monotonic() + budget_s
    longest = {}
    rows = []
    for precision in precisions:
        for model in models:
            for backend, jit in impls:
                row = {"model": model, "backend": backend, "precision": precision,
                       "jit": jit}
                rows.append(row)
                left = deadline - time.monotonic()
                if left < 1.1 * longest.get((backend, jit), 0) or left < 5:
                    row["error"] = SKIPPED
                    log(f"  skip {backend:9s} {model:8s} {precision}: time budget")
                    continue
                timesteps = size[{"vggsnn": "vgg_timesteps",
                                  "resnet19": "resnet_timesteps"}[model]]
                result = train_step.run_config(_run_args(size, precision, left), backend,
                                               model, jit, "trt", timesteps, "off",
                                               precision)
                row.update(result)
                if "wall_s" in result:
                    longest[backend, jit] = max(longest.get((backend, jit), 0),
                                                result["wall_s"])
                log(f"  done {backend:9s} {model:8s} {precision}: "
                    + (result.get("error") or f"{result['ms_per_step']:.1f} ms/step"))
    for row in rows:
        base = next((r for r in rows if r["backend"] == train_step.REFERENCE
                     and (r["model"], r["precision"]) == (row["model"], row["precision"])), {})
        if "ms_per_step" in row and base.get("ms_per_step"):
            row["ratio"] = row["ms_per_step"] / base["ms_per_step"]
    return rows


def _name(row):
    if row["backend"] == train_step.REFERENCE:
        return "PyTorch reference" + {"float32": "", "mixed_bfloat16": " (autocast)",
                                      "mixed_float16": " (autocast + GradScaler)"}[
                                          row["precision"]]
    jit = {"torch": " (torch.compile)", "jax": " (jit)"}.get(row["backend"], " (jit)")
    return f"keras-trt {row['backend']}" + (jit if row["jit"] == "on" else "")


def table(rows):
    """A Markdown table with COLUMNS; ms/step and the ratio as numbers, errors in place."""
    def num(value, spec):
        return "n/a" if value is None else format(value, spec)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [row["model"], _name(row), row["precision"]]
        if "error" in row:
            cells += [row["error"]] + [""] * (len(COLUMNS) - 4)
        else:
            cells += [row.get("device", "cpu"), num(row["ms_per_step"], ".1f"),
                      num(row.get("ratio"), ".2f"), num(row.get("peak_mib"), ".0f"),
                      num(row["first_step_s"], ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def all_finite(rows):
    """Whether every row that ran was measured and all its numbers are finite (rows
    skipped for the time budget are not failures)."""
    keys = ("ms_per_step", "ratio", "peak_mib", "first_step_s")
    return all(r.get("error") == SKIPPED
               or ("error" not in r and all(isinstance(r.get(k), (int, float))
                                            and math.isfinite(r[k]) for k in keys))
               for r in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or ".",
                        help="folder for gpu_check.md and gpu_check.json (default: $OUT "
                             "or the current folder)")
    parser.add_argument("--device", default="auto", choices=("auto", "gpu", "cpu"),
                        help="gpu: full-size models; cpu: the tiny fallback; auto: gpu "
                             "when torch sees CUDA")
    parser.add_argument("--models", default="vggsnn,resnet19")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help="Keras dtype policies, run in this order (the baseline under "
                             "torch.autocast of the same dtype)")
    parser.add_argument("--batch", type=int, help="override the batch size of the mode")
    parser.add_argument("--torch-compile", action="store_true",
                        help="also keras-trt torch with jit_compile=True (torch.compile: "
                             "its first step compiles, tens of seconds)")
    parser.add_argument("--budget-s", type=float, default=420,
                        help="seconds for all configurations; those that would not fit are "
                             "reported as skipped")
    args = parser.parse_args(argv)

    models, backends = args.models.split(","), args.backends.split(",")
    precisions = args.precisions.split(",")
    for name, values, allowed in (("--models", models, train_step.MODELS),
                                  ("--backends", backends, BACKENDS),
                                  ("--precisions", precisions, PRECISIONS)):
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            parser.error(f"{name}: unknown {unknown}; expected a comma-separated subset "
                         f"of {','.join(allowed)}")
    env = environment()
    mode = args.device if args.device != "auto" else ("gpu" if "gpu" in env else "cpu")
    if mode == "cpu":             # the workers too, on a machine that has a GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        os.environ["JAX_PLATFORMS"] = "cpu"
    size = dict(SIZES[mode])
    if args.batch:
        size["batch"] = args.batch
    header = (f"mode {mode}: " + ", ".join(f"{k} {v}" for k, v in size.items())
              + "; TRTLoss, Adam; " + ", ".join(f"{k} {v}" for k, v in env.items()))
    print(header, flush=True)
    if mode == "gpu" and "gpu" not in env:
        print("warning: torch sees no CUDA device; the rows measure the CPU", flush=True)

    start = time.monotonic()
    rows = run(models, backends, precisions, size, args.budget_s, args.torch_compile)
    text = table(rows)
    print(text)
    print(f"({time.monotonic() - start:.0f} s)")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_check.md"), "w") as f:
        f.write(f"{header}\n\n{text}\n")
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump({"mode": mode, "size": size, "environment": env, "rows": rows}, f, indent=1)
    print(f"wrote {os.path.join(args.out, 'gpu_check.md')} and gpu_check.json")
    return 0 if all_finite(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
