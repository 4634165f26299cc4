"""Where a keras-trt JAX or TensorFlow training step spends its time: the compiled VGGSNN
step of `benchmarks/train_step.py` (48x48, T=10, TRTLoss, Adam) next to compiled pieces
of it, each timed on its own (`benchmarks/profile_step.py` is the torch profiler).

Pieces (forward = `training=True`; backward = gradients of the outputs' sum with respect
to every trainable weight; JAX: `jax.jit`, TensorFlow: `tf.function`, XLA with `--xla`):

- convs: the eight bias-free 3x3 convolutions and the four average pools alone;
- convs+tdBN: the same with tdBN after every convolution;
- VGGSNN: the whole model (convs, tdBN, LIF, pools, head);
- penalty: the TRT penalty of the model's weights, value and gradient;
- train step: `model.train_on_batch` (forward, TRT loss and penalty, backward, Adam).

Differences between rows give each part's share: LIF = VGGSNN - convs+tdBN (the head is
a 10-output Linear layer), tdBN = convs+tdBN - convs, loss and optimizer = train step -
VGGSNN forward+backward.

Usage:

    KERAS_BACKEND=jax python benchmarks/profile_subgraphs.py --batch 4 --steps 3
    KERAS_BACKEND=tensorflow python benchmarks/profile_subgraphs.py --batch 4 --steps 3 --xla
"""

import argparse
import sys

import setup_common as setup   # this script's folder is first on sys.path
import timing


def compiled(model, x, backward, xla):
    """A no-argument function running model(x) (and its backward pass), compiled."""
    import keras
    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        def forward(tv, ntv):
            y, _ = model.stateless_call(tv, ntv, x, training=True)
            return jnp.sum(y.astype("float32"))

        fn = jax.jit(jax.grad(forward) if backward else forward)
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        return lambda: jax.block_until_ready(fn(tv, ntv))
    import tensorflow as tf

    @tf.function(jit_compile=xla)
    def fn():
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.cast(model(x, training=True), "float32"))
        return tape.gradient(y, model.trainable_variables) if backward else y

    return lambda: [t.numpy() for t in tf.nest.flatten(fn())]


def _penalty_fn(model, timesteps, xla):
    import keras
    import keras_trt as kt
    from keras_trt import regularizers
    weights = regularizers.penalized_variables(model)

    def value(ws):
        return kt.regularizers.temporal_weight_penalty(ws, timesteps, setup.LAM, setup.DECAY,
                                                       1e-8)

    if keras.backend.backend() == "jax":
        import jax
        fn = jax.jit(jax.value_and_grad(value))
        ws = [w.value for w in weights]
        return lambda: jax.block_until_ready(fn(ws))
    import tensorflow as tf

    @tf.function(jit_compile=xla)
    def fn():
        with tf.GradientTape() as tape:
            r = value([w.value for w in weights])
        return r, tape.gradient(r, weights)

    return lambda: [t.numpy() for t in tf.nest.flatten(fn())]


def conv_stack(shape, batch_norm):
    """VGGSNN's convolutions (and tdBN) and pools without the LIF, from public layers
    (the same layer classes and sizes as kt.models.VGGSNN's blocks)."""
    import keras
    import keras_trt as kt
    inputs = keras.Input(shape)
    h = inputs
    for i, width in enumerate(kt.models.vggsnn.VGGSNN_WIDTHS, start=1):
        h = kt.TimeDistributed(kt.spatial.Conv2D(width, 3, padding="same", use_bias=False),
                               name=f"c{i}")(h)
        if batch_norm:
            h = kt.TemporalBatchNorm(momentum=0.1, epsilon=1e-5, name=f"bn{i}")(h)
        if i % 2 == 0:
            h = kt.TimeDistributed(kt.spatial.AveragePooling2D(2, strides=2),
                                   name=f"p{i}")(h)
    return keras.Model(inputs, h)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--steps", type=int, default=3,
                        help="rounds: timed runs per piece (median)")
    parser.add_argument("--xla", action="store_true", help="TensorFlow: jit_compile=True")
    parser.add_argument("--only", default="", help="comma-separated row names to run")
    args = parser.parse_args(argv)

    import keras

    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow"):
        sys.exit("profile_subgraphs.py profiles jax and tensorflow: set KERAS_BACKEND")
    keras.utils.set_random_seed(0)
    shape = (args.timesteps, args.size, args.size, 2)
    x, y = setup.random_batch(shape, args.batch)

    pieces = []
    only = set(filter(None, args.only.split(",")))

    def run(name, make):
        if not only or name in only:
            pieces.append((name, make))

    convs = conv_stack(shape, batch_norm=False)
    run("convs forward", lambda: compiled(convs, x, False, args.xla))
    run("convs forward+backward", lambda: compiled(convs, x, True, args.xla))
    convs_bn = conv_stack(shape, batch_norm=True)
    run("convs+tdBN forward+backward", lambda: compiled(convs_bn, x, True, args.xla))
    model = setup.vggsnn(args.timesteps, args.size)
    run("VGGSNN forward", lambda m=model: compiled(m, x, False, args.xla))
    run("VGGSNN forward+backward", lambda m=model: compiled(m, x, True, args.xla))
    run("penalty value+gradient",
        lambda m=model: _penalty_fn(m, args.timesteps, args.xla))
    model = setup.compile_trt(setup.vggsnn(args.timesteps, args.size),
                              jit=True if backend == "jax" else args.xla)
    run("train step", lambda m=model: setup.train_step(m, x, y))
    # The machine may be shared: every piece is compiled and warmed up first, then the
    # pieces are timed in turn, one run each per round, so that a change in load shifts
    # all of them alike; the median over the rounds per piece.
    fns = []
    for name, make in pieces:
        fn = make()
        fn()
        fn()
        fns.append((name, fn))
    return timing.interleaved_medians(fns, args.steps, label_width=40)


if __name__ == "__main__":
    main()
