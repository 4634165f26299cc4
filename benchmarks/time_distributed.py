"""kt.TimeDistributed (fold (B, T) into the batch) against keras.layers.TimeDistributed,
training-step time of conv -> BN -> conv on (B, T, H, W, C), per backend, one run.

    python benchmarks/time_distributed.py
    python benchmarks/time_distributed.py --batch 8 --timesteps 10 --backends torch

Ratios < 1 mean kt.TimeDistributed is faster. (keras.layers.TimeDistributed around a
BatchNormalization is also not tdBN: it normalises each timestep separately.)
"""

import argparse

import timing    # benchmarks/timing.py: this script's folder is first on sys.path

JIT = {"torch": [False], "tensorflow": [False, True], "jax": [True]}


def worker(wrapper, jit, args):
    import keras
    import numpy as np

    import keras_trt as kt

    wrap = kt.TimeDistributed if wrapper == "kt" else keras.layers.TimeDistributed
    shape = (args.timesteps, args.size, args.size, args.channels)
    inputs = keras.Input(shape)
    x = wrap(keras.layers.Conv2D(64, 3, padding="same", use_bias=False))(inputs)
    x = wrap(keras.layers.BatchNormalization())(x)
    x = wrap(keras.layers.Conv2D(64, 3, padding="same", use_bias=False))(x)
    model = keras.Model(inputs, x)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((args.batch, *shape)).astype("float32")
    yb = rng.standard_normal((args.batch, *shape[:-1], 64)).astype("float32")
    return timing.measure(lambda: model.train_on_batch(xb, yb), args.repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=list(JIT))
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        timing.emit(worker(args.worker[0], args.worker[1] == "True", args))
        return
    common = [f"--{k}={getattr(args, k)}" for k in ("batch", "timesteps", "size", "channels",
                                                      "repeats")]
    print(f"conv-BN-conv training step, input ({args.batch}, {args.timesteps}, {args.size}, "
          f"{args.size}, {args.channels}); {timing.machine_description()}")
    print("| backend | jit | kt.TimeDistributed ms | keras.layers.TimeDistributed ms | ratio |")
    print("|---|---|---|---|---|")
    for backend in args.backends:
        for jit in JIT[backend]:
            r = {w: timing.run_in_subprocess(__file__, common + ["--worker", w, str(jit)],
                                              backend=backend) for w in ("kt", "keras")}
            if any("error" in v for v in r.values()):
                print(f"| {backend} | {jit} | {r['kt']} | {r['keras']} | |")
                continue
            ratio = r["kt"]["median_ms"] / r["keras"]["median_ms"]
            print(f"| {backend} | {jit} | {r['kt']['median_ms']:.1f} | "
                  f"{r['keras']['median_ms']:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
