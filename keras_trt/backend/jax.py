"""JAX helpers: gradients via `model.stateless_call` + `jax.vjp` (jit-compiled), whether
a value is concrete, and a convolution whose kernel gradient XLA:CPU computes faster
(`conv2d`, below).

One forward pass, then the vector-Jacobian products of all losses at once (`jax.vmap`
over the one-hot cotangents: one batched backward pass, which compiles much faster than
one backward pass per loss); the whole function (and `grad_transform`, applied to each
loss's gradients inside the vmap) is compiled once per input shape by `jax.jit`.
"""

import functools

import jax
import jax.numpy as jnp
import keras


def is_concrete(x):
    # Inside jax.jit / grad / vmap every array is a Tracer whose values do not exist yet.
    return not isinstance(x, jax.core.Tracer)


def make_gradient_function(model, losses_fn, grad_transform=None, training=False):
    def pure(trainable, non_trainable, x, y):
        def forward(tv):
            y_pred, _ = model.stateless_call(tv, non_trainable, x, training=training)
            return jnp.stack(list(losses_fn(y, y_pred)))

        losses, vjp = jax.vjp(forward, trainable)

        def one(cotangent):
            (grads,) = vjp(cotangent)
            grads = list(grads)
            return grad_transform(grads) if grad_transform else grads

        batched = jax.vmap(one)(jnp.eye(losses.shape[0], dtype=losses.dtype))
        results = [jax.tree_util.tree_map(lambda a, i=i: a[i], batched)
                   for i in range(losses.shape[0])]
        return losses, results

    compiled = jax.jit(pure)

    def fn(x, y):
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        losses, results = compiled(trainable, non_trainable, x, y)
        return list(losses), results

    return fn


# --------------------------------------------------------------------- fast kernels
# XLA:CPU lowers the kernel gradient of a convolution over a large image (a convolution
# whose "kernel" is the whole B x H x W output gradient) to a much slower loop than the
# forward convolution: for VGGSNN's 48x48x64 -> 128 layer with B*T = 40 frames it took
# 3-5x the forward pass. The same gradient summed over chunks of a few frames is the same
# arithmetic in a different summation order, and measured 2-3x faster there
# (docs/performance.md, "Where JAX and TensorFlow spend the step").

# Frames per chunk: enough to make each chunk's contraction about this many pixels.
_KERNEL_GRAD_CHUNK_PIXELS = 4096
# At most this many chunks per convolution (each is one more convolution to compile).
_KERNEL_GRAD_MAX_CHUNKS = 64


def _kernel_grad_chunks(batch, height, width):
    """Frame ranges [start, stop) whose kernel gradients are summed, or None where one
    chunk would hold the whole batch (the plain convolution's gradient then)."""
    size = max(1, _KERNEL_GRAD_CHUNK_PIXELS // max(1, height * width))
    size = max(size, -(-batch // _KERNEL_GRAD_MAX_CHUNKS))
    if size >= batch:
        return None
    return tuple((start, min(start + size, batch)) for start in range(0, batch, size))


def _keras_conv(inputs, kernel, strides, padding, dilation_rate):
    return keras.ops.conv(inputs, kernel, strides=strides, padding=padding,
                          data_format="channels_last", dilation_rate=dilation_rate)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_chunked_kernel_grad(inputs, kernel, strides, padding, dilation_rate, chunks):
    return _keras_conv(inputs, kernel, strides, padding, dilation_rate)


def _conv_forward(inputs, kernel, strides, padding, dilation_rate, chunks):
    return _keras_conv(inputs, kernel, strides, padding, dilation_rate), (inputs, kernel)


def _conv_backward(strides, padding, dilation_rate, chunks, residuals, upstream):
    inputs, kernel = residuals
    conv = functools.partial(_keras_conv, strides=strides, padding=padding,
                             dilation_rate=dilation_rate)
    _, input_vjp = jax.vjp(lambda x: conv(x, kernel), inputs)
    (grad_inputs,) = input_vjp(upstream)
    # partial sums in at least float32, whatever the compute dtype
    total_dtype = jnp.promote_types(kernel.dtype, jnp.float32)
    grad_kernel = None
    for start, stop in chunks:
        _, kernel_vjp = jax.vjp(lambda k, a=start, b=stop: conv(inputs[a:b], k), kernel)
        (part,) = kernel_vjp(upstream[start:stop])
        part = part.astype(total_dtype)
        grad_kernel = part if grad_kernel is None else grad_kernel + part
    return grad_inputs, grad_kernel.astype(kernel.dtype)


_conv_chunked_kernel_grad.defvjp(_conv_forward, _conv_backward)


def conv2d(inputs, kernel, strides, padding, dilation_rate, groups):
    """`keras.ops.conv` (channels-last 2-D) whose kernel gradient is summed over chunks of
    the batch on XLA:CPU, or None (use `ops.conv`: on GPUs and TPUs, for small batches,
    and for grouped convolutions).

    Same forward pass as `ops.conv`, same input gradient; the kernel gradient equals
    `ops.conv`'s up to float rounding (another summation order over the batch).

    `keras_trt.spatial.FastConv2D` calls it through `keras_trt.backend.fast_kernel`:

    ```python
    import keras
    from keras_trt import backend
    conv = backend.fast_kernel("conv2d")   # this function on JAX (torch: its own kernel)
    x, k = keras.ops.ones((8, 32, 32, 4)), keras.ops.ones((3, 3, 4, 6))
    y = None if conv is None else conv(x, k, (1, 1), "same", (1, 1), 1)  # (8, 32, 32, 6)
    ```
    """
    if keras.backend.backend() != "jax" or jax.default_backend() != "cpu" or \
            groups != 1 or len(inputs.shape) != 4:
        return None
    batch, height, width = inputs.shape[:3]
    if not isinstance(batch, int):   # None, or symbolic (jax.export): chunks need a number
        return None
    chunks = _kernel_grad_chunks(batch, height, width)
    if chunks is None:
        return None
    kernel = keras.ops.convert_to_tensor(kernel)  # a Variable's value (autocast applied)
    return _conv_chunked_kernel_grad(inputs, kernel, tuple(strides), padding,
                                     tuple(dilation_rate), chunks)


def has_gpu():
    return jax.default_backend() == "gpu"


# keras_trt.backend.fast_kernel(name) looks kernels up here (names and keras.ops twins:
# keras_trt.backend.KERNEL_TWINS); keras.ops is as fast for the others on JAX.
FAST_KERNELS = {
    "conv2d": conv2d,   # twin: ops.conv (keras Conv2D); same values, chunk-summed gradient
}
