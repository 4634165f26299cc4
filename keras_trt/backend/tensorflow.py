"""TensorFlow helpers: gradients with a persistent `tf.GradientTape` (eager), and
whether a value is concrete."""

import tensorflow as tf


def is_concrete(x):
    # Inside tf.function (with or without XLA) tensors are graph tensors without values.
    return not tf.is_symbolic_tensor(x)


def make_gradient_function(model, losses_fn, grad_transform=None, training=False):
    def fn(x, y):
        variables = model.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            y_pred = model(x, training=training)
            losses = list(losses_fn(None if y is None else tf.convert_to_tensor(y), y_pred))
        results = []
        for loss in losses:
            grads = tape.gradient(loss, variables,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            results.append(grad_transform(grads) if grad_transform else grads)
        del tape
        return losses, results

    return fn


def num_replicas_in_sync():
    """Replicas of the current `tf.distribute` strategy (1 outside one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def cross_replica_mean(x):
    """The mean of `x` over the replicas, inside a replica's step (differentiable:
    the gradient is all-reduced back); `x` itself in a cross-replica context or with
    one replica."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return x
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, x)


def has_gpu():
    return bool(tf.config.list_physical_devices("GPU"))


# keras_trt.backend.fast_kernel(name) looks kernels up here: none on TensorFlow, where
# every twin of keras_trt.backend.KERNEL_TWINS (the keras.ops form) runs.
FAST_KERNELS = {}
