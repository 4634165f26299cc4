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
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("torch", "tensorflow", "jax")
MODELS = ("vggsnn", "resnet19")
REFERENCE = "reference"
# glibc returns freed blocks above a dynamic threshold (>= 128 KiB) to the OS, so a CPU
# step's large tensors are mmap'ed, page-faulted and zeroed again at every step; these
# thresholds keep them in the heap (~1.1-1.6x faster torch CPU steps; docs/performance.md).
TUNED_MALLOC = ("glibc.malloc.mmap_threshold=4294967296:"
                "glibc.malloc.trim_threshold=4294967296")


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


def _reset_peak():
    """Resets VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------- workers
def _shapes(args):
    if args.model == "vggsnn":
        return (args.vgg_timesteps, args.vgg_size, args.vgg_size, 2), args.vgg_timesteps
    return (args.resnet_size, args.resnet_size, 3), args.resnet_timesteps


def _time_steps(step_fn, args):
    rss0 = _status_kib("VmRSS")
    can_reset = _reset_peak()
    start = time.perf_counter()
    step_fn()
    first = time.perf_counter() - start
    for _ in range(args.warmup):
        step_fn()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step_fn()
        times.append(time.perf_counter() - start)
    peak = _status_kib("VmHWM") if can_reset else None
    return {
        "first_step_s": first,
        "ms_per_step": 1000 * statistics.median(times),
        "min_ms": 1000 * min(times),
        "peak_mib": None if peak is None or rss0 is None else (peak - rss0) / 1024,
    }


def _reference_device(args):
    import torch
    if args.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return args.device


def _worker_reference(args):
    import numpy as np
    import torch

    sys.path.insert(0, ROOT)
    from benchmarks import torch_reference as ref

    device = _reference_device(args)
    torch.manual_seed(0)
    model, T = ref.build(args.model, num_classes=args.num_classes,
                         timesteps=_shapes(args)[1],
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
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
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
                loss = ref.trt_loss(model, outputs, y, T, eta=0.05, lam=1e-5, decay=0.25)
            else:
                loss = ref.tet_loss(outputs, y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = _time_steps(step, args)
    result["params"] = sum(p.numel() for p in model.parameters())
    result["device"] = device
    if device == "cuda":
        result["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _worker_keras(args):
    import numpy as np
    import keras

    import keras_trt as kt

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.mixed_precision)
    shape, T = _shapes(args)
    d = args.width_divisor
    if args.model == "vggsnn":
        widths = tuple(w // d for w in kt.models.vggsnn.VGGSNN_WIDTHS)
        model = kt.models.VGGSNN(num_classes=args.num_classes, input_shape=shape,
                                 widths=widths, remat=_remat_arg(args.remat))
    elif args.remat != "off":
        raise ValueError("--remat: only VGGSNN has the remat option")
    else:
        widths = tuple(w // d for w in kt.models.resnet19.RESNET19_WIDTHS)
        model = kt.models.ResNet19(num_classes=args.num_classes, timesteps=T,
                                   input_shape=shape, widths=widths,
                                   hidden_units=256 // d, stem_once=args.stem == "once")
    loss = (kt.losses.TRTLoss(eta=0.05, lam=1e-5, decay=0.25) if args.loss == "trt"
            else kt.losses.TETLoss())
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-8), loss=loss,
                  metrics=[], jit_compile=args.jit == "on")
    rng = np.random.default_rng(0)
    if args.model == "vggsnn":
        x = rng.random((args.batch,) + shape, dtype="float32")
    else:
        x = rng.normal(size=(args.batch,) + shape).astype("float32")
    y = rng.integers(0, args.num_classes, args.batch)

    def step():
        return float(model.train_on_batch(x, y, return_dict=True)["loss"])

    if keras.backend.backend() == "torch":
        import torch
        if torch.cuda.is_available():      # as the baseline: the peak of the steps
            torch.cuda.reset_peak_memory_stats()
    result = _time_steps(step, args)
    result["params"] = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    result.update(_accelerator_memory())
    return result


def _accelerator_memory():
    """{"device", and on a GPU "peak_mib": the framework's peak device memory}."""
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


def _hide_modules(names):
    """Makes `import name` fail as if the package were not installed (and
    `importlib.util.find_spec(name)` return None), to check a path never needs it."""
    for name in filter(None, names.split(",")):
        sys.modules[name] = None


def worker(args):
    _hide_modules(args.hide_modules)
    if args.backend == REFERENCE:
        result = _worker_reference(args)
    else:
        result = _worker_keras(args)
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------ orchestration
def _remat_arg(value):
    """--remat's value as VGGSNN's `remat`: False, True or a chunk length."""
    if value in ("on", "off"):
        return value == "on"
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise SystemExit(f"--remat: expected on, off, both or an integer >= 1, got {value!r}")


def _run_config(args, backend, model, jit, loss, timesteps, remat, policy):
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
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["wall_s"] = time.perf_counter() - start
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": " / ".join(tail)[-300:] or f"exit code {proc.returncode}"}


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
                             "an integer n (VGGSNN(remat=n): n timesteps at a time), or a "
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
        _remat_arg(r)
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
        result = _run_config(args, *config)
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
