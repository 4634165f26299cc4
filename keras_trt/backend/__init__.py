"""The few per-backend helpers that `keras.ops` cannot express.

Library code calls these functions; each dispatches on `keras.backend.backend()` to one
small module (`torch.py`, `tensorflow.py`, `jax.py`), imported on first use so that
`import keras_trt` never imports a framework the user does not run.

- `make_gradient_function(model, losses_fn, grad_transform=None, training=False)`:
  returns `fn(x, y) -> (losses, results)` that runs ONE forward pass of `model` and one
  backward pass per loss in `losses_fn(y, y_pred)` (a list of scalars), with gradients
  taken w.r.t. `model.trainable_variables` (in that order; a variable the loss does not
  depend on gets a zero gradient). `results[i]` is `grad_transform(grads_i)` (default: the
  list of gradients itself). The transform runs inside the backend's graph where there is
  one (JAX jit), so reducing gradients there (e.g. to squared norms) saves memory.
- `gradients(model, x, y, loss_fn, training=False)`: the gradients of one scalar loss.
- `fast_kernel(name)`: a backend's fused kernel (torch: the LIF, tdBN, channels-last
  conv and pooling, the TRT penalty; JAX: a convolution whose kernel gradient XLA:CPU
  computes faster), or None.
- `is_concrete(x)`: whether the values of `x` can be read now (NumPy data or an eager
  tensor) rather than being symbolic (a `keras.KerasTensor`, a tensor traced by `jax.jit`,
  `tf.function` or `torch.compile`); `keras.ops` has no way to tell.
- `replica_share(term)`: a loss term that every replica of a data-parallel step adds in
  full (TRT's weight penalty), as the share that makes the engine's gradient reduction
  count it once: TensorFlow sums its replicas' gradients, so the term is divided by the
  replicas in sync; JAX (one global program) and torch DDP (mean over processes) keep it.
- `readable_scalar(value)`: a differentiable scalar that `float()` reads without a
  framework warning (torch warns when a tensor that requires grad becomes a number);
  `value` itself elsewhere.
- `global_rng_state()` / `set_global_rng_state(state)`: the framework's own global random
  generators as JSON-able data (torch: CPU and CUDA; Keras' torch data loaders shuffle
  with them), None where Keras draws from none (TensorFlow, JAX).

```python
import numpy as np, keras
from keras import ops
from keras_trt import backend

inputs = keras.Input((3,))
model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
loss = lambda y, y_pred: ops.mean(ops.square(y_pred - y))
grads = backend.gradients(model, np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), loss)
```
"""

import importlib

import keras
import numpy as np

__all__ = ["make_gradient_function", "gradients", "backend_module", "fast_kernel",
           "is_concrete", "replica_share", "readable_scalar", "global_rng_state",
           "set_global_rng_state", "has_gpu"]

_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}


def backend_module():
    """The helper module of the current Keras backend."""
    name = keras.backend.backend()
    if name not in _MODULES:
        raise NotImplementedError(
            f"keras_trt.backend: no gradient helpers for the Keras backend {name!r}; "
            f"supported: {sorted(_MODULES)}.")
    return importlib.import_module(f"keras_trt.backend.{_MODULES[name]}")


def fast_kernel(name):
    """The current backend's fused implementation of `name` ("lif_multistep_fused",
    "batch_norm", "conv2d", "pool2d", "trt_penalty"), or None where keras.ops is as fast
    (torch has them all, JAX only "conv2d", TensorFlow none)."""
    if keras.backend.backend() not in ("torch", "jax"):
        return None
    return getattr(backend_module(), name, None)


def make_gradient_function(model, losses_fn, grad_transform=None, training=False):
    """See the module docstring."""
    return backend_module().make_gradient_function(
        model, losses_fn, grad_transform=grad_transform, training=training)


def gradients(model, x, y, loss_fn, training=False):
    """Gradients of `loss_fn(y, model(x))` w.r.t. `model.trainable_variables`."""
    fn = make_gradient_function(model, lambda y_, p: [loss_fn(y_, p)], training=training)
    _, (grads,) = fn(x, y)
    return grads


def is_concrete(x):
    """Whether the values of `x` can be read now (see the module docstring)."""
    if isinstance(x, keras.KerasTensor):
        return False
    if isinstance(x, (np.ndarray, np.generic, int, float, bool, list, tuple)):
        return True
    return backend_module().is_concrete(x)


def replica_share(term):
    """`term` divided by the replicas whose gradients the engine sums (see the module)."""
    if keras.backend.backend() != "tensorflow":
        return term
    replicas = backend_module().num_replicas_in_sync()
    if replicas == 1:
        return term
    return keras.ops.multiply(term, keras.ops.cast(1.0 / replicas, term.dtype))


def readable_scalar(value):
    """`value` as a scalar that `float()` reads quietly (see the module docstring)."""
    reader = getattr(backend_module(), "readable_scalar", None)
    return value if reader is None else reader(value)


def global_rng_state():
    """The framework's global random state as JSON-able data, or None (see the module)."""
    getter = getattr(backend_module(), "global_rng_state", None)
    return None if getter is None else getter()


def set_global_rng_state(state):
    """Restores what `global_rng_state()` returned (None: nothing to restore)."""
    if state is not None:
        backend_module().set_global_rng_state(state)


def has_gpu():
    """Whether the current backend's framework sees a GPU (False where it cannot tell:
    a missing driver means no GPU)."""
    try:
        return bool(backend_module().has_gpu())
    except Exception:  # noqa: BLE001 - a broken CUDA set-up is "no GPU" here
        return False
