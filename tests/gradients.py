"""Test helper: gradients of a scalar function of tensors on the active Keras backend."""

import keras
import numpy as np


def grad(fn, *arrays):
    """Returns (value, [d fn / d array]) as NumPy, for float32 NumPy inputs."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*xs)
        gs = torch.autograd.grad(y, xs)
        return y.detach().numpy(), [g.detach().numpy() for g in gs]
    if backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(xs)
            y = fn(*xs)
        gs = tape.gradient(y, xs)
        return y.numpy(), [np.zeros_like(a) if g is None else g.numpy()
                           for a, g in zip(arrays, gs)]
    if backend == "jax":
        import jax

        y, gs = jax.value_and_grad(fn, argnums=tuple(range(len(arrays))))(*arrays)
        return np.asarray(y), [np.asarray(g) for g in gs]
    raise NotImplementedError(backend)
