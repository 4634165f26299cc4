"""The training setup every benchmark measures, written once: VGGSNN or ResNet-19 (widths
optionally divided for reduced-size runs), TRTLoss with the paper's constants, Adam, and a
seeded random batch. Keras and keras-trt are imported inside the functions, so a script
can choose the backend (or hide a framework) before anything imports Keras.

    import setup_common as setup        # from a script in benchmarks/
    model = setup.vggsnn(timesteps=4, size=16, width_divisor=16)
    setup.compile_trt(model)
    x, y = setup.random_batch(model.input_shape[1:], batch_size=2)
    step = setup.train_step(model, x, y)   # one training step, returns the loss
"""

import numpy as np

# TRTLoss as in the paper's experiments (the reference mirror uses the same).
ETA, LAM, DECAY = 0.05, 1e-5, 0.25
LEARNING_RATE = 1e-3
NUM_CLASSES = 10


def vggsnn(timesteps=10, size=48, width_divisor=1, num_classes=NUM_CLASSES, **kwargs):
    """kt.models.VGGSNN on (timesteps, size, size, 2) events, every width divided by
    `width_divisor` (unless `widths` is given); other keyword arguments go to VGGSNN."""
    import keras_trt as kt

    kwargs.setdefault("widths", tuple(w // width_divisor
                                      for w in kt.models.vggsnn.VGGSNN_WIDTHS))
    return kt.models.VGGSNN(num_classes=num_classes, input_shape=(timesteps, size, size, 2),
                            **kwargs)


def resnet19(timesteps=4, size=32, width_divisor=1, num_classes=NUM_CLASSES, **kwargs):
    """kt.models.ResNet19 on (size, size, 3) images repeated `timesteps` times, widths
    (and the hidden layer) divided by `width_divisor`."""
    import keras_trt as kt

    widths = tuple(w // width_divisor for w in kt.models.resnet19.RESNET19_WIDTHS)
    return kt.models.ResNet19(num_classes=num_classes, timesteps=timesteps,
                              input_shape=(size, size, 3), widths=widths,
                              hidden_units=256 // width_divisor, **kwargs)


def trt_loss(lam=LAM):
    import keras_trt as kt

    return kt.losses.TRTLoss(eta=ETA, lam=lam, decay=DECAY)


def adam():
    import keras

    return keras.optimizers.Adam(LEARNING_RATE, epsilon=1e-8)


def compile_trt(model, loss="trt", jit=False, optimizer=None, lam=LAM):
    """model.compile with TRTLoss ("trt", penalty weight `lam`) or TETLoss ("tet"), Adam
    (unless `optimizer`), no metrics and jit_compile=`jit`; returns the model."""
    import keras_trt as kt

    model.compile(optimizer=optimizer or adam(),
                  loss=trt_loss(lam) if loss == "trt" else kt.losses.TETLoss(),
                  metrics=[], jit_compile=jit)
    return model


def random_batch(input_shape, batch_size, num_classes=NUM_CLASSES, seed=0):
    """A seeded (x, y) for one input of `input_shape` (no batch axis): uniform [0, 1)
    events for (T, H, W, C), normal images for (H, W, C); integer labels."""
    rng = np.random.default_rng(seed)
    shape = (batch_size,) + tuple(input_shape)
    if len(shape) == 5:
        x = rng.random(shape, dtype="float32")
    else:
        x = rng.normal(size=shape).astype("float32")
    return x, rng.integers(0, num_classes, batch_size)


def train_step(model, x, y):
    """A no-argument function running one `train_on_batch` and returning the loss."""
    return lambda: float(model.train_on_batch(x, y, return_dict=True)["loss"])
