"""JAX on CPU: keras-trt's convolution (kernel gradient summed over chunks of the batch,
`keras_trt.backend.jax.conv2d`) against plain `ops.conv`, side by side in one process.

Rows, each compiled with `jax.jit`, warmed up, then timed in turn (one run of each per
round, median over the rounds, so that a shared machine's load shifts them alike):

- kernel gradient of each of VGGSNN's distinct 3x3 "same" convolutions (48x48 input,
  B*T = batch x T frames), `ops.conv`'s own (`jax.vjp`) and the chunked sum;
- VGGSNN's eight convolutions and four pools (no tdBN, no LIF), forward+backward;
- the VGGSNN training step (`train_on_batch`: TRTLoss, Adam).

Usage:

    KERAS_BACKEND=jax python benchmarks/jax_conv.py --batch 4 --rounds 5
"""

import argparse
import os
import sys

import setup_common as setup   # this script's folder is first on sys.path
import timing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="layers,convs,step",
                        help="comma-separated: layers, convs, step")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    if keras.backend.backend() != "jax":
        sys.exit("jax_conv.py needs KERAS_BACKEND=jax")
    import jax
    import numpy as np

    import profile_subgraphs
    from keras_trt.backend import jax as jax_kernels

    only = set(args.only.split(","))
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    frames = args.batch * args.timesteps
    shape = (args.timesteps, 48, 48, 2)
    x, y = setup.random_batch(shape, args.batch)
    fns = []
    if "layers" in only:
        def conv(a, k):
            return keras.ops.conv(a, k, padding="same")

        def chunked(a, k):  # ops.conv where one chunk would hold every frame
            out = jax_kernels.conv2d(a, k, (1, 1), "same", (1, 1), 1)
            return conv(a, k) if out is None else out
        for size, cin, cout in ((48, 2, 64), (48, 64, 128), (24, 128, 256), (24, 256, 256),
                                (12, 256, 512), (12, 512, 512), (6, 512, 512)):
            a = rng.standard_normal((frames, size, size, cin)).astype("float32")
            k = rng.standard_normal((3, 3, cin, cout)).astype("float32")
            g = rng.standard_normal((frames, size, size, cout)).astype("float32")
            for mode, op in (("chunked", chunked), ("ops.conv", conv)):
                fn = jax.jit(lambda a_, k_, g_, op=op: jax.vjp(lambda kk: op(a_, kk), k_)[1](g_)[0])
                fns.append((f"kernel grad {size}x{size} {cin}->{cout} {mode}",
                            lambda fn=fn, a=a, k=k, g=g: jax.block_until_ready(fn(a, k, g))))
    original = jax_kernels.conv2d
    for mode in ("chunked", "ops.conv"):
        # the path is chosen while tracing: each function is compiled under its own
        jax_kernels.conv2d = original if mode == "chunked" else (lambda *a: None)
        if "convs" in only:
            stack = profile_subgraphs.conv_stack(shape, batch_norm=False)
            fn = profile_subgraphs.compiled(stack, x, True, False)
            fn()
            fns.append((f"convs forward+backward {mode}", fn))
        if "step" in only:
            model = setup.compile_trt(setup.vggsnn(args.timesteps, 48), jit=True)
            fn = setup.train_step(model, x, y)
            fn()
            fns.append((f"train step {mode}", fn))
    jax_kernels.conv2d = original
    for _, fn in fns:
        fn()
    return timing.interleaved_medians(fns, args.rounds, label_width=44)


if __name__ == "__main__":
    main()
