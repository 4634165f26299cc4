"""Where and how a run executes: the backend, a GPU, jit, mixed precision, data parallelism.

```python
from keras_trt.experiments import execution

print(execution.resolve_policy(None))   # float32
print(execution.resolve_jit("off"))     # False
```
"""

import contextlib
import sys

__all__ = ["backend_name", "has_gpu", "resolve_jit", "resolve_policy", "distribution",
           "versions"]

JIT_CHOICES = ("auto", "on", "off")
POLICY_CHOICES = (None, "float32", "auto", "mixed_float16", "mixed_bfloat16")


def backend_name():
    """The Keras backend: "torch", "tensorflow" or "jax"."""
    import keras
    return keras.backend.backend()


def has_gpu():
    """Whether the backend sees a GPU (keras_trt.backend asks the framework)."""
    from keras_trt import backend
    return backend.has_gpu()


def resolve_jit(jit):
    """`jit` ("auto", "on", "off") -> compile's `jit_compile`. "auto": jit on JAX, eager
    torch (Keras' choice) and XLA on TensorFlow, also on CPU: with XLA a resumed TensorFlow
    run ends bit-identical to an uninterrupted one; without it, one resumed test run
    differed in 10 of 20,480 weights by one float32 ulp (on a CPU, "off" is faster for
    full-size networks, docs/performance.md). Under a TensorFlow distribution strategy
    "auto" is off, as Keras' own default: XLA steps failed there on several (virtual CPU)
    devices."""
    if jit not in JIT_CHOICES:
        raise ValueError(f"`jit` must be one of {', '.join(JIT_CHOICES)}, got {jit!r}.")
    if jit == "on":
        return True
    if jit == "off":
        return False
    if backend_name() == "tensorflow":
        import keras_trt as kt
        return kt.distribute.num_replicas() == 1
    return backend_name() == "jax"


def resolve_policy(mixed_precision):
    """`mixed_precision` -> a Keras dtype policy name: None/"float32" -> "float32",
    "auto" -> "mixed_float16" on a GPU (the paper's AMP), "mixed_bfloat16" on a CPU."""
    if mixed_precision not in POLICY_CHOICES:
        raise ValueError("`mixed_precision` must be None, 'auto', 'mixed_float16' or "
                         f"'mixed_bfloat16', got {mixed_precision!r}.")
    if mixed_precision in (None, "float32"):
        return "float32"
    if mixed_precision == "auto":
        return "mixed_float16" if has_gpu() else "mixed_bfloat16"
    return mixed_precision


def distribution(distribute):
    """The context of a data-parallel run: `kt.distribute.auto(sync_batch_norm=True)`, so
    that an N-device step computes what one device computes with the global batch (tdBN
    statistics included); a context that changes nothing when `distribute` is false."""
    if not distribute:
        return contextlib.nullcontext()
    import keras_trt as kt
    return kt.distribute.auto(sync_batch_norm=True)


def versions():
    """{"keras": ..., "python": ..., <backend>: ...} for results files."""
    import importlib

    import keras
    found = {"keras": keras.__version__, "python": sys.version.split()[0]}
    backend = backend_name()
    with contextlib.suppress(Exception):
        found[backend] = importlib.import_module(backend).__version__
    return found
