"""Training-step time and memory of keras-trt's VGGSNN and ResNet-19 with TRTLoss, per
backend, with jit on and off, side by side with the pure-PyTorch reference mirror
(`benchmarks/torch_reference.py`) measured in the same run.

Every configuration runs in its own subprocess (a fresh interpreter per backend), one
after the other, so they do not compete for the cores. Per configuration:

- first step: wall time of the first training step (tracing/compilation included);
- ms/step: median over `--steps` steps after `--warmup` further warm-up steps;
- peak MiB: the process's peak resident memory during the timed steps above its resident
  memory before the first step (Linux: VmHWM reset through /proc/self/clear_refs); the
  same measure for every backend and the baseline, so it counts host (CPU) memory only.

Usage (the full sizes: VGGSNN 48x48 T=10, ResNet-19 32x32 T=4):

    python benchmarks/train_step.py                                # all backends, jit on+off
    python benchmarks/train_step.py --backends torch --jit off --batch 16 --steps 20
    python benchmarks/train_step.py --width-divisor 4 --steps 3    # reduced widths (CPU)
    python benchmarks/train_step.py --backends torch --jit off --loss both   # penalty share
    python benchmarks/train_step.py --tuned-malloc   # every side with glibc's heap kept
    python benchmarks/train_step.py --models vggsnn --backends torch --jit off \
        --timesteps 4,8,16 --remat both            # memory against T, with/without remat
    python benchmarks/train_step.py --models vggsnn --backends torch --jit off \
        --timesteps 4,8,16 --remat off,on,2        # and recomputed 2 timesteps at a time

Keras steps run through `model.train_on_batch` (the compiled train function of each
backend); the baseline is `zero_grad / forward / trt_loss / backward / Adam.step`.
"""

import argparse
import json
import os
import subprocess
import sys
import time

if __package__:          # imported as benchmarks.train_step (gpu_check's tests)
    from . import setup_common as setup
    from . import timing
else:                    # run as a script: its own folder is first on sys.path
    import setup_common as setup
    import timing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("torch", "tensorflow", "jax")
MODELS = ("vggsnn", "resnet19")
REFERENCE = "reference"
# glibc returns freed blocks above a dynamic threshold (>= 128 KiB) to the OS, so a CPU
# step's large tensors are mmap'ed, page-faulted and zeroed again at every step; these
# thresholds keep them in the heap (~1.1-1.6x faster torch CPU steps; docs/performance.md).
TUNED_MALLOC = ("glibc.malloc.mmap_threshold=4294967296:"
                "glibc.malloc.trim_threshold=4294967296")


# ----------------------------------------------------------------------- workers
def _timesteps(args):
    return args.vgg_timesteps if args.model == "vggsnn" else args.resnet_timesteps


def _reference_device(args):
    import torch
    if args.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return args.device


def _worker_reference(args):
    import numpy as np
    import torch

    if __package__:
        from . import torch_reference as ref
    else:
        import torch_reference as ref

    device = _reference_device(args)
    torch.manual_seed(0)
    model, T = ref.build(args.model, num_classes=args.num_classes, timesteps=_timesteps(args),
                         size=args.vgg_size if args.model == "vggsnn" else None,
                         width_divisor=args.width_divisor)
    model = model.to(device)
    rng = np.random.default_rng(0)
    if args.model == "vggsnn":                          # (B, T, C, H, W), channels first
        x = rng.random((args.batch, T, 2, args.vgg_size, args.vgg_size), dtype="float32")
    else:
        x = rng.normal(size=(args.batch, 3, args.resnet_size, args.resnet_size)).astype(
            "float32")
    x = torch.from_numpy(x).to(device)
    y = torch.from_numpy(rng.integers(0, args.num_classes, args.batch)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.LEARNING_RATE)
    model.train()
    forward = torch.compile(model) if args.jit == "on" else model
    # The reference's AMP (docs/method.md, Precision): autocast around forward and loss,
    # a GradScaler.
    amp_dtype = {"mixed_float16": torch.float16,
                 "mixed_bfloat16": torch.bfloat16}.get(args.mixed_precision)
    scaler = torch.amp.GradScaler(device, enabled=amp_dtype == torch.float16)

    def step():
        optimizer.zero_grad()
        with torch.autocast(device, dtype=amp_dtype or torch.bfloat16,
                            enabled=amp_dtype is not None):
            outputs = forward(x)
            if args.loss == "trt":
                loss = ref.trt_loss(model, outputs, y, T, eta=setup.ETA, lam=setup.LAM,
                                    decay=setup.DECAY)
            else:
                loss = ref.tet_loss(outputs, y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = _timed(step, args)
    result["params"] = sum(p.numel() for p in model.parameters())
    result["device"] = device
    if device == "cuda":
        result["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _worker_keras(args):
    import numpy as np
    import keras

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.mixed_precision)
    if args.model == "vggsnn":
        model = setup.vggsnn(args.vgg_timesteps, args.vgg_size, args.width_divisor,
                             args.num_classes, **remat_arg(args.remat))
    elif args.remat != "off":
        raise ValueError("--remat: only VGGSNN has the remat option")
    else:
        model = setup.resnet19(args.resnet_timesteps, args.resnet_size, args.width_divisor,
                               args.num_classes, stem_once=args.stem == "once")
    setup.compile_trt(model, loss=args.loss, jit=args.jit == "on")
    x, y = setup.random_batch(model.input_shape[1:], args.batch, args.num_classes)
    if keras.backend.backend() == "torch":
        import torch
        if torch.cuda.is_available():      # as the baseline: the peak of the steps
            torch.cuda.reset_peak_memory_stats()
    result = _timed(setup.train_step(model, x, y), args)
    result["params"] = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    result.update(timing.accelerator_memory())
    return result


def _timed(step, args):
    """first_step_s, ms_per_step (median), min_ms and the host peak_mib of the steps."""
    r = timing.measure_with_host_peak(step, repeats=args.steps, warmup=args.warmup)
    return {"first_step_s": r["first_s"], "ms_per_step": r["median_ms"],
            "min_ms": r["min_ms"], "peak_mib": r["peak_mib"]}


def hide_modules(names):
    """Makes `import name` fail as if the package were not installed (and
    `importlib.util.find_spec(name)` return None), for each of the comma-separated
    `names`: to check that a path never needs them."""
    for name in filter(None, names.split(",")):
        sys.modules[name] = None


def worker(args):
    """Runs one configuration in this process and prints its RESULT line."""
    hide_modules(args.hide_modules)
    if args.backend == REFERENCE:
        result = _worker_reference(args)
    else:
        result = _worker_keras(args)
    timing.emit(result)


# ------------------------------------------------------------------ orchestration
def remat_arg(value):
    """--remat's value as VGGSNN's keyword arguments: remat off, on, or on in chunks of
    n timesteps."""
    if value in ("on", "off"):
        return {"remat": value == "on"}
    if value.isdigit() and int(value) >= 1:
        return {"remat": True, "remat_time_chunk": int(value)}
    raise SystemExit(f"--remat: expected on, off, both or an integer >= 1, got {value!r}")


def run_config(args, backend, model, jit, loss, timesteps, remat, policy):
    """Runs one configuration in a worker subprocess (a fresh interpreter under
    KERAS_BACKEND=backend); `args` holds the sizes and options of main()'s parser.
    Returns the worker's result with "wall_s", or {"error": ...}."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend if backend != REFERENCE else "torch"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.tuned_malloc:
        env["GLIBC_TUNABLES"] = TUNED_MALLOC
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--backend", backend,
           "--model", model, "--jit", jit, "--loss", loss, "--remat", remat,
           "--mixed-precision", policy,
           {"vggsnn": "--vgg-timesteps", "resnet19": "--resnet-timesteps"}[model],
           str(timesteps)]
    for key in ("batch", "steps", "warmup", "width_divisor", "vgg_size",
                "resnet_size", "num_classes", "stem",
                "device", "hide_modules"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=args.timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {args.timeout} s"}
    result = timing.parse_result(proc.stdout, proc.stderr, proc.returncode)
    if "error" not in result:
        result["wall_s"] = time.perf_counter() - start
    return result


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def _table(results, models, losses, timesteps):
    """Markdown rows: ratio to the baseline of the same model, loss and T; with both
    losses, the penalty's share of a step (TRT over TET of the same configuration)."""
    header = ("| model | T | loss | implementation | precision | jit | remat | ms/step (median) | "
              "ratio to baseline (same precision) | ratio to baseline float32 | penalty share "
              "| first step (s) | peak MiB (step) | params |")
    lines = [header, "|" + "---|" * 14]
    for model, loss, T in ((m, l, t) for m in models for t in timesteps for l in losses):
        base32 = results.get((REFERENCE, model, "off", loss, T, "off", "float32"),
                             {}).get("ms_per_step")
        for (backend, m, jit, l, t, remat, policy), r in results.items():
            if (m, l, t) != (model, loss, T):
                continue
            base = results.get((REFERENCE, model, "off", loss, T, "off", policy),
                               {}).get("ms_per_step")
            name = "PyTorch reference" if backend == REFERENCE else f"keras-trt {backend}"
            if r.get("device", "cpu") != "cpu":
                name += f" ({r['device']}, peak MiB = device memory)"
            if "error" in r:
                lines.append(f"| {model} | {T} | {loss} | {name} | {policy} | {jit} | {remat} "
                             f"| {r['error']} |" + " |" * 6)
                continue
            ratio = None if not base else r["ms_per_step"] / base
            ratio32 = None if not base32 else r["ms_per_step"] / base32
            tet = results.get((backend, m, jit, "tet", t, remat, policy), {}).get("ms_per_step")
            share = (r["ms_per_step"] / tet - 1.0) if loss == "trt" and tet else None
            lines.append(
                f"| {model} | {T} | {loss} | {name} | {policy} | {jit} | {remat} "
                f"| {r['ms_per_step']:.0f} "
                f"| {_fmt(ratio, '.2f')}{'x' if ratio else ''} "
                f"| {_fmt(ratio32, '.2f')}{'x' if ratio32 else ''} "
                f"| {'' if share is None else format(share, '+.1%')} "
                f"| {r['first_step_s']:.1f} | {_fmt(r['peak_mib'], '.0f')} "
                f"| {r['params']:,} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated Keras backends (the baseline always runs)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--jit", default="both", choices=("on", "off", "both"),
                        help="jit_compile for Keras (torch.compile for the baseline "
                             "only with --reference-jit)")
    parser.add_argument("--reference-jit", action="store_true",
                        help="also time the baseline under torch.compile")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
    parser.add_argument("--width-divisor", type=int, default=1,
                        help="divide every channel width by this (reduced-size runs)")
    parser.add_argument("--vgg-size", type=int, default=48)
    parser.add_argument("--vgg-timesteps", type=int, default=10)
    parser.add_argument("--resnet-size", type=int, default=32)
    parser.add_argument("--resnet-timesteps", type=int, default=4)
    parser.add_argument("--timesteps",
                        help="comma-separated T values, one run each (memory against T); "
                             "overrides --vgg-timesteps / --resnet-timesteps")
    parser.add_argument("--remat", default="off",
                        help="VGGSNN(remat=True): recompute each block's activations in "
                             "the backward pass (keras-trt only): on, off, both (off,on), "
                             "an integer n (VGGSNN(remat=True, remat_time_chunk=n): "
                             "n timesteps at a time), or a "
                             "comma-separated list of these, run side by side")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--loss", default="trt", choices=("trt", "tet", "both"),
                        help="both: TET and TRT side by side, for the penalty's share")
    parser.add_argument("--stem", default="once", choices=("once", "repeat"),
                        help="ResNet-19: stem conv+BN once (default) or on T copies")
    parser.add_argument("--mixed-precision", default="float32",
                        help="Keras dtype policy (float32, mixed_float16, mixed_bfloat16), "
                             "or several, comma-separated, run side by side; the baseline "
                             "runs under torch.autocast with the same dtype (and a "
                             "GradScaler for float16)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="the baseline's device (auto: cuda when available); Keras "
                             "places its tensors by itself")
    parser.add_argument("--tuned-malloc", action="store_true",
                        help="run every configuration, the baseline included, with "
                             "GLIBC_TUNABLES=" + TUNED_MALLOC)
    parser.add_argument("--hide-modules", default="",
                        help="comma-separated modules the workers see as not installed "
                             "(e.g. tensorflow: check that a run never imports it)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds per configuration")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    policies = args.mixed_precision.split(",")
    for policy in policies:
        if policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
            parser.error(f"--mixed-precision: expected float32, mixed_float16 or "
                         f"mixed_bfloat16 (comma-separated), got {policy!r}")
    if args.worker:
        return worker(args)

    models = args.models.split(",")
    jits = ("off", "on") if args.jit == "both" else (args.jit,)
    losses = ("tet", "trt") if args.loss == "both" else (args.loss,)
    remats = [r for item in args.remat.split(",")
              for r in (("off", "on") if item == "both" else (item,))]
    for r in remats:
        remat_arg(r)
    if args.timesteps:
        timesteps = [int(t) for t in args.timesteps.split(",")]
    else:
        timesteps = [None]

    def steps_of(model, T):
        return T or (args.vgg_timesteps if model == "vggsnn" else args.resnet_timesteps)

    configs = []
    for T, p in ((T, p) for T in timesteps for p in policies):
        configs += [(REFERENCE, m, "off", l, steps_of(m, T), "off", p)
                    for m in models for l in losses]
        if args.reference_jit:
            configs += [(REFERENCE, m, "on", l, steps_of(m, T), "off", p)
                        for m in models for l in losses]
        configs += [(b, m, j, l, steps_of(m, T), r, p) for b in args.backends.split(",")
                    for j in jits for m in models for l in losses for r in remats]

    print(f"batch {args.batch}, {args.steps} timed steps after 1 + {args.warmup} warm-up, "
          f"width divisor {args.width_divisor}, loss {args.loss}, ResNet-19 stem "
          f"{args.stem}; VGGSNN {args.vgg_size}x{args.vgg_size} T={args.vgg_timesteps}, "
          f"ResNet-19 {args.resnet_size}x{args.resnet_size} T={args.resnet_timesteps}"
          + (f"; GLIBC_TUNABLES={TUNED_MALLOC}" if args.tuned_malloc else "")
          + (f"; {args.mixed_precision}" if policies != ["float32"] else ""),
          flush=True)
    results = {}
    for config in configs:
        result = run_config(args, *config)
        results[config] = result
        backend, model, jit, loss, T, remat, policy = config
        print(f"  done {backend:10s} {model:8s} T={T} jit={jit} loss={loss} remat={remat} "
              f"{policy}: "
              + (result.get("error") or f"{result['ms_per_step']:.0f} ms/step"), flush=True)
    all_steps = sorted({c[4] for c in configs})
    print(_table(results, models, losses, all_steps))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(backend=b, model=m, jit=j, loss=l, timesteps=t, remat=rm,
                            policy=p, **r)
                       for (b, m, j, l, t, rm, p), r in results.items()], f, indent=1)


if __name__ == "__main__":
    main()
