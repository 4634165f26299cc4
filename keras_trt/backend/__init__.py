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
- `fast_kernel(name)`: the current backend's fast kernel `name`, or None where it has
  none. Every name is listed in `KERNEL_TWINS` with its keras.ops twin: the library code
  that runs instead where a backend has no kernel, the kernel declines an input (returns
  None), or `fast_kernels_disabled()` is active. Each backend module lists its kernels in
  its `FAST_KERNELS` table (torch: all seven; JAX: "conv2d"; TensorFlow: none);
  tests/test_backend_fast_kernels.py checks every entry against its twin, values and
  gradients.
- `fast_kernels_disabled(*names)`: a context manager in which `fast_kernel` returns None
  for `names` (all when none given): the keras.ops twins run, e.g. to compare with them.
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

import contextlib
import importlib

import keras
import numpy as np

__all__ = ["make_gradient_function", "gradients", "backend_module", "fast_kernel",
           "KERNEL_TWINS", "fast_kernels_disabled", "is_concrete", "replica_share",
           "readable_scalar", "global_rng_state", "set_global_rng_state", "has_gpu"]

# Every fast kernel's name, with its keras.ops twin: the code that computes the same
# thing where the kernel is absent or declines. A kernel must equal its twin in value and
# gradient (to float rounding); a backend's FAST_KERNELS may use these names only.
KERNEL_TWINS = {
    "lif_multistep_fused": "keras_trt._neuron_dynamics.lif_multistep_fused: the "
                           "custom_gradient BPTT over the unrolled time loop",
    "lif_from_membrane": "keras_trt._neuron_dynamics.lif_multistep(return_membrane=True, "
                         "initial_membrane=...) in a chunked keras_trt.Remat block",
    "chunked_block": "keras_trt.Remat(time_chunk=n) of a block with tdBN: the keras.remat "
                     "of each chunk after a first pass for the batch statistics",
    "batch_norm": "keras_trt.TemporalBatchNorm.call: ops.moments and "
                  "ops.batch_normalization, moving statistics assigned",
    "conv2d": "keras.layers.Conv2D.convolution_op (ops.conv), via keras_trt.spatial.Conv2D",
    "pool2d": "keras.layers.AveragePooling2D / MaxPooling2D.call (ops.average_pool, "
              "ops.max_pool), via keras_trt.spatial",
    "trt_penalty": "keras_trt.regularizers.temporal_weight_penalty: the custom_gradient "
                   "penalty of each weight",
}

_disabled = set()   # names fast_kernel() answers None for (fast_kernels_disabled)

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
    """The current backend's fast kernel `name` (a key of `KERNEL_TWINS`), or None where
    that backend has none (its twin runs then); an unknown name is a ValueError.

    ```python
    from keras_trt import backend
    conv = backend.fast_kernel("conv2d")   # torch, JAX: a function; TensorFlow: None
    ```
    """
    if name not in KERNEL_TWINS:
        raise ValueError(f"keras_trt.backend.fast_kernel: unknown kernel {name!r}; "
                         f"known: {sorted(KERNEL_TWINS)}.")
    if name in _disabled or "*" in _disabled:
        return None
    return backend_module().FAST_KERNELS.get(name)


@contextlib.contextmanager
def fast_kernels_disabled(*names):
    """Within it `fast_kernel` returns None for `names` (all kernels when none given), so
    their keras.ops twins run. Global, not per thread; a traced function (jax.jit,
    tf.function, torch.compile) keeps what it traced.

    ```python
    from keras_trt import backend
    with backend.fast_kernels_disabled("conv2d"):
        assert backend.fast_kernel("conv2d") is None
    ```
    """
    unknown = [n for n in names if n not in KERNEL_TWINS]
    if unknown:
        raise ValueError(f"keras_trt.backend.fast_kernels_disabled: unknown kernels "
                         f"{unknown}; known: {sorted(KERNEL_TWINS)}.")
    added = set(names or ["*"]) - _disabled
    _disabled.update(added)
    try:
        yield
    finally:
        _disabled.difference_update(added)


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
