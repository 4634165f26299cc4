"""One float64 forward pass and one SGD step of the full-size VGGSNN, saved to an .npz.

Run once per backend and compare the files (tests/test_precision.py does):

    KERAS_BACKEND=torch python -m tests._float64_step out_torch.npz

Weights and inputs come from a fixed NumPy generator, so every backend starts from the
same numbers; the file holds the inference logits, the per-sample TRT loss of those
logits, the weight penalty, the change of every weight (moving statistics included) in
one train_on_batch step, and the loss that step reports.
"""

import os
import sys

os.environ.setdefault("JAX_ENABLE_X64", "1")  # JAX truncates float64 to float32 without it
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_trt as kt  # noqa: E402

BATCH, TIMESTEPS, SIZE, CLASSES = 2, 2, 48, 10


def _weight(path, shape, rng):
    """Values that keep every LIF layer firing, in training and in inference mode."""
    name = path.split("/")[-1]
    if name == "kernel":
        fan_in = int(np.prod(shape[:-1]))
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    if name == "gamma":
        return rng.uniform(0.8, 1.6, shape)
    if name in ("beta", "bias"):
        return rng.uniform(-0.1, 0.4, shape)
    if name == "moving_mean":
        return rng.uniform(0.0, 0.3, shape)
    if name == "moving_variance":
        return rng.uniform(0.3, 0.8, shape)
    raise ValueError(f"unexpected weight {path}")


def run(path):
    keras.config.set_floatx("float64")
    model = kt.models.VGGSNN(num_classes=CLASSES, input_shape=(TIMESTEPS, SIZE, SIZE, 2))
    rng = np.random.default_rng(0)
    model.set_weights([_weight(v.path, v.shape, rng) for v in model.weights])
    x = rng.uniform(0.0, 1.0, (BATCH, TIMESTEPS, SIZE, SIZE, 2))
    y = np.arange(BATCH) % CLASSES

    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=kt.losses.TRTLoss(eta=0.05, lam=1e-3, decay=0.25, epsilon=1e-5))
    before = model.get_weights()
    logits = model.predict_on_batch(x)
    with kt.losses.weight_penalty_scope():  # the data term alone, per sample
        per_sample_loss = model.trt_loss().call(keras.ops.convert_to_tensor(y),
                                                keras.ops.convert_to_tensor(logits))
    penalty = model.weight_penalty(TIMESTEPS)
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    after = model.get_weights()
    # the change of every weight (trainable: -lr * gradient; moving statistics: the
    # momentum update), compared rather than the weights, which it barely moves
    updates = {f"update_{i}": a - b for i, (a, b) in enumerate(zip(after, before))}
    results = dict(logits=logits, per_sample_loss=keras.ops.convert_to_numpy(per_sample_loss),
                   penalty=keras.ops.convert_to_numpy(penalty), **updates)
    dtypes = sorted({str(np.asarray(a).dtype) for a in after + list(results.values())})
    np.savez(path, loss=np.asarray(loss), dtypes=np.array(dtypes),
             names=np.array([v.path for v in model.weights]), **results)


if __name__ == "__main__":
    run(sys.argv[1])
