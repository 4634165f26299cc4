"""TRT weight-penalty cost (value + gradient) on ResNet-19's weight shapes, per backend,
for keras-trt's implementation and the alternatives it was chosen over, next to the
reference code's PyTorch double loop (for t, for every parameter).

    python benchmarks/penalty.py                     # T = 4 and 10, every backend
    python benchmarks/penalty.py --timesteps 6 --backends torch
"""

import argparse

import timing    # benchmarks/timing.py: this script's folder is first on sys.path

# ResNet-19 (CIFAR10) penalised weights: conv kernels, BN gammas, linear kernels.
SHAPES = ([(3, 3, 3, 64), (64,)] + [(3, 3, 64, 128), (128,), (3, 3, 128, 128), (128,),
                                    (1, 1, 64, 128), (128,)]
          + [(3, 3, 128, 128), (128,)] * 4
          + [(3, 3, 128, 256), (256,), (3, 3, 256, 256), (256,), (1, 1, 128, 256), (256,)]
          + [(3, 3, 256, 256), (256,)] * 4
          + [(3, 3, 256, 512), (512,), (3, 3, 512, 512), (512,), (1, 1, 256, 512), (512,)]
          + [(3, 3, 512, 512), (512,)] * 2 + [(512, 256), (256, 10)])
LAM, DECAY, EPS = 1e-5, 0.25, 1e-5


def reference_torch(weights, T):
    import torch

    total = 0.0
    for t in range(T):
        for w in weights:
            total = total + (LAM * w**2 / (1 + (torch.exp(torch.tensor(DECAY * t)) - 1)
                                           * (w.abs() + EPS))).sum()
    return total / T


def broadcast_keras(weights, T):
    from keras import ops

    from keras_trt.regularizers import decay_offsets

    offsets = ops.convert_to_tensor(decay_offsets(T, DECAY), "float32")[:, None]
    total = 0.0
    for w in weights:
        w = ops.reshape(w, (1, -1))
        total = total + ops.sum(ops.square(w) / (1.0 + offsets * (ops.abs(w) + EPS)))
    return total * (LAM / T)


def autodiff_loop_keras(weights, T):
    from keras import ops

    from keras_trt.regularizers import decay_offsets

    total = 0.0
    for w in weights:
        w2, m = ops.square(w), ops.abs(w) + EPS
        total = total + sum(ops.sum(w2 / (1.0 + a * m)) for a in decay_offsets(T, DECAY))
    return total * (LAM / T)


def keras_trt_penalty(weights, T):
    from keras_trt.regularizers import temporal_weight_penalty

    return temporal_weight_penalty(weights, T, LAM, DECAY, EPS)


VARIANTS = {"keras-trt (closed-form gradient)": keras_trt_penalty,
            "(T, n) broadcast, autodiff": broadcast_keras,
            "loop over t, autodiff": autodiff_loop_keras}


def worker(variant, T, repeats):
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = [rng.normal(0, 0.05, s).astype("float32") for s in SHAPES]
    backend = keras.backend.backend() if variant != "reference" else "torch"
    fn = reference_torch if variant == "reference" else VARIANTS[variant]
    if backend == "torch":
        import torch

        ws = [torch.tensor(a, requires_grad=True) for a in arrays]
        step = lambda: torch.autograd.grad(fn(ws, T), ws)  # noqa: E731
    elif backend == "tensorflow":
        import tensorflow as tf

        ws = [tf.Variable(a) for a in arrays]

        @tf.function(jit_compile=True)
        def value_and_grad():
            with tf.GradientTape() as tape:
                value = fn(ws, T)
            return value, tape.gradient(value, ws)

        step = value_and_grad
    else:
        import jax

        ws = [jax.numpy.asarray(a) for a in arrays]
        value_and_grad = jax.jit(jax.value_and_grad(lambda w: fn(w, T)))
        step = lambda: jax.block_until_ready(value_and_grad(ws))  # noqa: E731
    return timing.measure(step, repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, nargs="+", default=[4, 10])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["torch", "tensorflow", "jax"])
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        timing.emit(worker(args.worker[0], int(args.worker[1]), args.repeats))
        return
    n = sum(int(__import__("math").prod(s)) for s in SHAPES)
    print(f"TRT penalty value + gradient over {n:,} ResNet-19 weights; "
          f"{timing.machine_description()}")
    print("| T | backend | implementation | median ms | ratio to reference loop |")
    print("|---|---|---|---|---|")
    for T in args.timesteps:
        common = [f"--repeats={args.repeats}"]
        ref = timing.run_in_subprocess(__file__, common + ["--worker", "reference", str(T)],
                                        backend="torch")
        print(f"| {T} | pure PyTorch | reference double loop | {ref.get('median_ms', 0):.1f} | 1.00x |")
        for backend in args.backends:
            for variant in VARIANTS:
                r = timing.run_in_subprocess(__file__, common + ["--worker", variant, str(T)],
                                              backend=backend)
                if "error" in r:
                    print(f"| {T} | {backend} | {variant} | failed: {r['error']} | |")
                    continue
                print(f"| {T} | {backend} | {variant} | {r['median_ms']:.1f} | "
                      f"{r['median_ms'] / ref['median_ms']:.2f}x |")


if __name__ == "__main__":
    main()
