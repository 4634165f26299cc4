"""Backend set-up for the recipes: jit and mixed-precision choices, the loss of a
method and the compiled model: Adam (epsilon 1e-8) with the learning rate annealed by
`keras_trt.schedules.PerEpochCosineDecay`.

```python
import _training_setup
_training_setup.compile_model(model, args, steps_per_epoch=100)   # Adam, the method's loss
```
"""


def backend_name():
    import keras
    return keras.backend.backend()


def has_gpu():
    backend = backend_name()
    try:
        if backend == "torch":
            import torch
            return torch.cuda.is_available()
        if backend == "jax":
            import jax
            return jax.default_backend() == "gpu"
        if backend == "tensorflow":
            import tensorflow as tf
            return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - a missing driver means no GPU
        return False
    return False


def resolve_jit(jit):
    """--jit -> compile(jit_compile=...). "auto": jit on JAX, eager torch (Keras' choice)
    and XLA on TensorFlow, also on CPU: with XLA a resumed TensorFlow run ends bit-identical
    to an uninterrupted one; without it, one resumed test run differed in 10 of 20,480
    weights by one float32 ulp (on a CPU, `--jit off` is faster for full-size networks,
    docs/performance.md). Under a TensorFlow distribution strategy "auto" is off, as
    Keras' own default: XLA steps failed there on several (virtual CPU) devices."""
    if jit == "on":
        return True
    if jit == "off":
        return False
    if backend_name() == "tensorflow":
        import keras_trt as kt
        return kt.distribute.num_replicas() == 1
    return backend_name() == "jax"


def resolve_policy(mixed_precision):
    if mixed_precision in (None, "float32"):
        return "float32"
    if mixed_precision == "auto":
        return "mixed_float16" if has_gpu() else "mixed_bfloat16"
    return mixed_precision


def distribution(args):
    """The context of `--distribute`: `kt.distribute.auto(sync_batch_norm=True)`, so that an
    N-device step computes what one device computes with the global batch (tdBN
    statistics included), or a context that changes nothing."""
    import contextlib

    if getattr(args, "distribute", "none") != "auto":
        return contextlib.nullcontext()
    import keras_trt as kt
    return kt.distribute.auto(sync_batch_norm=True)


def make_loss(args):
    import keras_trt as kt
    if args.method == "trt":
        return kt.losses.TRTLoss(eta=args.eta, lam=args.lam, decay=args.decay,
                                 epsilon=args.epsilon)
    if args.method == "tet":
        return kt.losses.TETLoss(lam=args.tet_lam, phi=args.tet_phi)
    return kt.losses.SDTLoss()


def method_hyperparameters(args):
    """The hyperparameters that the chosen method actually uses."""
    if args.method == "trt":
        return {"eta": args.eta, "lam": args.lam, "decay": args.decay, "epsilon": args.epsilon}
    if args.method == "tet":
        return {"lam": args.tet_lam, "phi": args.tet_phi}
    return {}


def compile_model(model, args, steps_per_epoch, loss=None):
    """Adam with the learning rate `args.lr` cosine-annealed to 0 over `args.epochs`,
    stepped per epoch (PyTorch's CosineAnnealingLR as the reference code uses it)."""
    import keras
    import keras_trt as kt
    schedule = kt.schedules.PerEpochCosineDecay(args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule, epsilon=1e-8),
        loss=loss or make_loss(args),
        metrics=[kt.metrics.TemporalAccuracy(), kt.metrics.TemporalCrossEntropy()],
        jit_compile=resolve_jit(args.jit),
    )
    return model
