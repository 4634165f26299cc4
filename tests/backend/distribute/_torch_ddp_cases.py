"""Models and data shared by the 2-process torch_ddp worker and the single-process
references it is compared with (tests/backend/distribute/test_torch_ddp.py)."""

import keras
import numpy as np

import keras_trt as kt

T, F, C = 4, 6, 3
WORLD = 2
PLAIN_SEED, BN_SEED, RESUME_SEED = 100, 200, 300


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2.0, (n, T, F)).astype("float32")
    y = rng.integers(0, C, n).astype("int32")
    return x, y


def build(seed, batch_norm, optimizer="sgd", sync=None):
    """A small SNN with TRT's penalty (lam large enough that counting it twice would
    show); `batch_norm` adds a TemporalBatchNorm before the LIF."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((T, F))
    h = kt.TimeDistributed(keras.layers.Dense(8))(inputs)
    if batch_norm:
        h = kt.TemporalBatchNorm(sync=sync)(h)
    h = kt.LIF()(h)
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(C))(h))
    opt = (keras.optimizers.SGD(0.5) if optimizer == "sgd"
           else keras.optimizers.Adam(0.05))
    model.compile(optimizer=opt, loss=kt.losses.TRTLoss(eta=0.05, lam=0.05, decay=0.5))
    return model


def sync_bn_loss(x, w, c, mean_fn):
    """A BatchNorm-like function of the batch statistics taken by `mean_fn` (the mean
    over the ranks of the per-rank means, or the identity on one process)."""
    m = mean_fn(x.mean(0))
    v = mean_fn(((x - m) ** 2).mean(0))
    y = (x - m) / (v + 1e-5).sqrt() * w
    return (y * c).sum()
