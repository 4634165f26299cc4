"""When `torch.compile` (`jit_compile=True` on the torch backend) pays: its one-off costs
against the time it saves per step, for VGGSNN with TRTLoss, measured in ONE process.

Two copies of the same model (same seed), one eager and one compiled, each:

1. its first training step (the compiled one traces and compiles here), one warm-up step;
2. `--steps` training steps alternating eager / compiled, so that both see the same load
   on a shared machine: median ms of each;
3. its first step on a smaller batch (an epoch's last, partial batch: a recompile), its
   first evaluation step (`test_on_batch`: Keras compiles the test function apart) and
   the next full-batch step;
4. `--steps` alternating steps again (the compiled step may now be the recompiled one).

Compilation pays after (one-off compiled - one-off eager) / (eager ms - compiled ms)
training steps; the script prints that number.

    python benchmarks/torch_compile.py --inductor-cache /tmp/kt-inductor   # 1st run: cold
    python benchmarks/torch_compile.py --inductor-cache /tmp/kt-inductor   # 2nd run: warm
    python benchmarks/torch_compile.py --width-divisor 1 --batch 8 --steps 5   # full size

`--inductor-cache DIR` sets TORCHINDUCTOR_CACHE_DIR: with a new folder, the cost on a
machine (or container) that never compiled this model; run again with the same folder,
inductor reuses the kernels it wrote there (tracing still runs). Without it, inductor's
default folder (/tmp/torchinductor_<user>) is used, holding whatever ran before.
"""

import argparse
import os
import sys

import setup_common as setup   # this script's folder is first on sys.path
import timing


def measure(args):
    import numpy as np
    import keras

    models = {}
    for name, jit in (("eager", False), ("compiled", True)):
        keras.utils.set_random_seed(0)
        models[name] = setup.compile_trt(
            setup.vggsnn(args.timesteps, args.size, args.width_divisor), jit=jit)
    x, y = setup.random_batch(models["eager"].input_shape[1:], args.batch)
    part = max(args.batch // 2 - 1, 1)
    steps = [(name, lambda m=model: m.train_on_batch(x, y)) for name, model in models.items()]

    def alternate():
        times = timing.rounds(steps, args.steps)
        return {name: timing.summary(t)["median_ms"] for name, t in times.items()}

    result = {name: {} for name in models}
    for name, model in models.items():
        result[name]["first_step_s"] = timing.first_call(lambda: model.train_on_batch(x, y))
        model.train_on_batch(x, y)                         # warm-up
    for name, ms in alternate().items():
        result[name]["ms_per_step"] = ms
    for name, model in models.items():
        result[name]["first_partial_batch_s"] = timing.first_call(
            lambda: model.train_on_batch(x[:part], y[:part]))
        result[name]["first_eval_s"] = timing.first_call(lambda: model.test_on_batch(x, y))
        result[name]["first_full_step_after_s"] = timing.first_call(  # a recompile?
            lambda: model.train_on_batch(x, y))
    for name, ms in alternate().items():
        result[name]["ms_per_step_after_partial"] = ms
    for r in result.values():
        r["one_off_s"] = (r["first_step_s"] + r["first_partial_batch_s"] + r["first_eval_s"]
                          + r["first_full_step_after_s"])
    extra_s = result["compiled"]["one_off_s"] - result["eager"]["one_off_s"]
    for key in ("ms_per_step", "ms_per_step_after_partial"):
        saved_ms = result["eager"][key] - result["compiled"][key]
        result["break_even_steps" + key[len("ms_per_step"):]] = (
            1000 * extra_s / saved_ms if saved_ms > 0 else None)
    result["params"] = int(sum(np.prod(v.shape) for v in models["eager"].trainable_weights))
    result["partial_batch"] = part
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width-divisor", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10,
                        help="timed steps per model, alternating")
    parser.add_argument("--inductor-cache", metavar="DIR",
                        help="inductor's on-disk kernel cache (TORCHINDUCTOR_CACHE_DIR); a "
                             "new folder measures a cold compile")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = "torch"
    if "keras" in sys.modules:
        parser.error("run as a script: the backend must be chosen before keras is imported")
    cache = "default"
    if args.inductor_cache:
        cache = "cold" if not os.path.isdir(args.inductor_cache) or not os.listdir(
            args.inductor_cache) else "warm"
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.abspath(args.inductor_cache)
    result = measure(args)
    print(f"VGGSNN widths / {args.width_divisor} ({result['params']:,} parameters), "
          f"batch {args.batch}, {args.size}x{args.size}, T={args.timesteps}; "
          f"inductor cache: {cache}")
    print("| | first step (s) | first partial batch (s) | first eval (s) | next full step (s) "
          "| ms/step | ms/step after the partial batch |")
    print("|---|---|---|---|---|---|---|")
    for name in ("eager", "compiled"):
        r = result[name]
        print(f"| {name} | {r['first_step_s']:.1f} | {r['first_partial_batch_s']:.1f} "
              f"| {r['first_eval_s']:.1f} | {r['first_full_step_after_s']:.1f} "
              f"| {r['ms_per_step']:.0f} "
              f"| {r['ms_per_step_after_partial']:.0f} |")
    for key, when in (("break_even_steps", "before"), ("break_even_steps_after_partial",
                                                      "after")):
        steps = result[key]
        print(f"with the step times {when} the partial batch, torch.compile pays after "
              + (f"{steps:,.0f} training steps" if steps else "never (no faster per step)"))
    timing.emit(result)


if __name__ == "__main__":
    main()
