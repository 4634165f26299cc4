"""JAX helpers: gradients via `model.stateless_call` + `jax.vjp` (jit-compiled), and
whether a value is concrete.

One forward pass, then the vector-Jacobian products of all losses at once (`jax.vmap`
over the one-hot cotangents: one batched backward pass, which compiles much faster than
one backward pass per loss); the whole function (and `grad_transform`, applied to each
loss's gradients inside the vmap) is compiled once per input shape by `jax.jit`.
"""

import jax
import jax.numpy as jnp


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
