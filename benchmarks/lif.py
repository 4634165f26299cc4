"""LIF forward + backward time per Keras backend (jit off and on) against a pure-PyTorch
LIF (Python loop over T, `torch.autograd.Function` triangle surrogate, as the reference
code), same shapes, measured side by side in one run.

    python benchmarks/lif.py                       # B=32, T=10, 24x24x64, all backends
    python benchmarks/lif.py --batch 8 --repeats 5 --backends torch jax

Each backend runs in its own subprocess; the table prints median ms and the ratio to the
pure-PyTorch baseline (< 1 is faster).
"""

import argparse

import timing    # benchmarks/timing.py: this script's folder is first on sys.path

MODES = {"torch": ["eager", "compile"], "tensorflow": ["eager", "function", "xla"],
         "jax": ["eager", "jit"]}


def pytorch_baseline(shape, repeats):
    import torch

    class Triangle(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u > 0).float()

        @staticmethod
        def backward(ctx, grad_output):
            (u,) = ctx.saved_tensors
            return grad_output * (1.0 - u.abs()).clamp(min=0)

    def lif(x, tau=2.0):
        mem, spikes = 0.0, []
        for t in range(x.shape[1]):
            mem = mem / tau + x[:, t]
            spike = Triangle.apply(mem - 1.0)
            mem = (1 - spike) * mem
            spikes.append(spike)
        return torch.stack(spikes, 1)

    torch.manual_seed(0)
    # channels-first, as the reference stores [B, T, C, H, W]
    b, t, h, w, c = shape
    x = (torch.randn(b, t, c, h, w) + 0.5).requires_grad_(True)
    up = torch.randn(b, t, c, h, w)

    def step():
        x.grad = None
        (lif(x) * up).sum().backward()

    return timing.measure(step, repeats)


def keras_lif(shape, mode, repeats, implementation):
    import keras
    import numpy as np

    import keras_trt as kt

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    x_np = (rng.standard_normal(shape) + 0.5).astype("float32")
    up_np = rng.standard_normal(shape).astype("float32")
    lif = kt.LIF(tau=2.0, implementation=implementation)
    lif.build(shape)

    if backend == "torch":
        import torch

        x = torch.tensor(x_np, requires_grad=True)
        up = torch.tensor(up_np)

        def forward_backward(x_):
            return (lif(x_) * up).sum()

        fn = torch.compile(forward_backward) if mode == "compile" else forward_backward

        def step():
            x.grad = None
            fn(x).backward()

    elif backend == "tensorflow":
        import tensorflow as tf

        x, up = tf.constant(x_np), tf.constant(up_np)

        def grad_fn(x_):
            with tf.GradientTape() as tape:
                tape.watch(x_)
                y = tf.reduce_sum(lif(x_) * up)
            return tape.gradient(y, x_)

        if mode != "eager":
            grad_fn = tf.function(grad_fn, jit_compile=(mode == "xla"))

        def step():
            grad_fn(x).numpy()

    else:
        import jax

        x, up = jax.numpy.asarray(x_np), jax.numpy.asarray(up_np)
        grad_fn = jax.grad(lambda x_: (lif(x_) * up).sum())
        if mode == "jit":
            grad_fn = jax.jit(grad_fn)

        def step():
            grad_fn(x).block_until_ready()

    return timing.measure(step, repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=list(MODES))
    parser.add_argument("--implementations", nargs="+", default=["fused", "autodiff"])
    parser.add_argument("--no-torch-compile", action="store_true",
                        help="skip torch.compile (its first call takes about a minute)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = (args.batch, args.timesteps, args.size, args.size, args.channels)

    if args.worker:
        backend, mode, implementation = args.worker
        if backend == "pytorch":
            timing.emit(pytorch_baseline(shape, args.repeats))
        else:
            timing.emit(keras_lif(shape, mode, args.repeats, implementation))
        return

    common = ["--batch", str(args.batch), "--timesteps", str(args.timesteps), "--size",
              str(args.size), "--channels", str(args.channels), "--repeats", str(args.repeats)]
    print(f"LIF forward+backward, input {shape} (B, T, H, W, C); {timing.machine_description()}")
    baseline = timing.run_in_subprocess(__file__, common + ["--worker", "pytorch", "-", "-"])
    rows = [("pure PyTorch (reference style)", "-", baseline)]
    for backend in args.backends:
        for mode in MODES[backend]:
            if mode == "compile" and args.no_torch_compile:
                continue
            for impl in args.implementations:
                result = timing.run_in_subprocess(
                    __file__, common + ["--worker", backend, mode, impl], backend=backend)
                rows.append((f"keras-trt {backend}, LIF {impl}", mode, result))
    print("| implementation | mode | median ms | min ms | first call s | ratio to PyTorch |")
    print("|---|---|---|---|---|---|")
    for name, mode, r in rows:
        if "error" in r:
            print(f"| {name} | {mode} | failed: {r['error']} | | | |")
            continue
        ratio = r["median_ms"] / baseline["median_ms"] if "median_ms" in baseline else float("nan")
        print(f"| {name} | {mode} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | "
              f"{r['first_s']:.2f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
