"""One rank of the 2-process torch_ddp checks (launched by torchrun from
tests/backend/distribute/test_torch_ddp.py): runs every scenario, writes rank<r>.npz/.json to
OUT (argv[1])."""

import json
import os
import sys

import keras
import numpy as np
import tensorflow as tf
import torch

import keras_trt as kt
from keras_trt.backend.distribute import torch as engine
from tests.backend.distribute import _torch_ddp_cases as cases


class CountingResume(kt.callbacks.ExactResume):
    saves = 0

    def _save(self, epochs_completed):
        CountingResume.saves += 1
        super()._save(epochs_completed)


def weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def main(out):
    kt.distribute.initialize(timeout_s=60)
    kt.distribute.initialize()                               # idempotent
    r, w = engine.rank(), engine.world_size()
    arrays, logs = {}, {"rank": r, "world_size": w}

    # 1 + 5: different initial weights per rank (broadcast from rank 0), one SGD step
    # per epoch-half on n = 4 samples per rank; global metrics.
    x, y = cases.data(16)
    model = cases.build(cases.PLAIN_SEED + r, batch_norm=False)
    xs, ys = engine.shard_dataset((x, y))
    history = model.fit(xs, ys, batch_size=4, epochs=1, shuffle=False, verbose=0)
    logs["plain_fit"] = {k: v[-1] for k, v in history.history.items()}
    logs["plain_evaluate"] = model.evaluate(xs, ys, batch_size=4, verbose=0,
                                            return_dict=True)
    for i, value in enumerate(weights(model)):
        arrays[f"plain_w{i}"] = value

    # 2 + 4: TemporalBatchNorm, one step; per-rank moving statistics, rank 0's kept;
    # a .keras file written by rank 0.
    model = cases.build(cases.BN_SEED, batch_norm=True)
    xs, ys = engine.shard_dataset((x[:8], y[:8]))
    model.fit(xs, ys, batch_size=4, epochs=1, shuffle=False, verbose=0)
    bn = [layer for layer in model.layers if isinstance(layer, kt.TemporalBatchNorm)][0]
    arrays["bn_moving_mean"] = keras.ops.convert_to_numpy(bn.moving_mean)
    arrays["bn_moving_variance"] = keras.ops.convert_to_numpy(bn.moving_variance)
    arrays["bn_predict"] = model.predict(x, batch_size=8, verbose=0)
    xs, ys = engine.shard_dataset((x, y))
    logs["bn_evaluate"] = model.evaluate(xs, ys, batch_size=4, verbose=0, return_dict=True)
    if r == 0:
        model.save(os.path.join(out, "bn.keras"))

    # 1 + 2 with TemporalBatchNorm(sync=True): statistics over the global batch, so one
    # step on 2 x 4 samples is one process's step on the 8.
    model = cases.build(cases.BN_SEED, batch_norm=True, sync=True)
    xs, ys = engine.shard_dataset((x[:8], y[:8]))
    model.fit(xs, ys, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for i, value in enumerate(weights(model)):
        arrays[f"sync_w{i}"] = value

    # 4: ExactResume, interrupted after epoch 1 and resumed, vs uninterrupted (Adam,
    # shuffled arrays, both ranks seeded alike).
    xs, ys = engine.shard_dataset((x, y))
    runs = {}
    for name, epochs in (("full", [2]), ("resumed", [1, 2])):
        for e in epochs:
            model = cases.build(cases.RESUME_SEED, batch_norm=True, optimizer="adam")
            model.fit(xs, ys, batch_size=4, epochs=e, shuffle=True, verbose=0,
                      callbacks=[CountingResume(os.path.join(out, name), monitor="loss")])
        runs[name] = weights(model)
    for i, (a, b) in enumerate(zip(runs["full"], runs["resumed"])):
        arrays[f"resume_full_w{i}"], arrays[f"resume_resumed_w{i}"] = a, b
    logs["resume_saves"] = CountingResume.saves

    # 3: every sample once per epoch: shard first, then shuffle (reshuffled each epoch).
    ds = engine.shard_dataset(tf.data.Dataset.range(12)).shuffle(12, seed=5).batch(2)
    logs["seen"] = [[int(i) for batch in ds for i in batch.numpy()] for _ in range(2)]
    # A pipeline of 5 batches on 2 ranks: the fifth is dropped so both run 2 steps.
    logs["uneven"] = [int(b.numpy()) for b in engine.shard_dataset(
        tf.data.Dataset.range(5))]

    # Unequal steps: 9 samples, batch 2 per rank -> 3 and 2 steps: refused on every rank.
    xs, ys = engine.shard_dataset((x[:9], y[:9]))
    try:
        model.fit(xs, ys, batch_size=2, epochs=1, verbose=0)
        logs["unequal_steps_error"] = None
    except ValueError as e:
        logs["unequal_steps_error"] = str(e)

    # train_on_batch would apply each rank's own gradients: refused on every rank.
    try:
        model.train_on_batch(xs[:2], ys[:2])
        logs["train_on_batch_error"] = None
    except RuntimeError as e:
        logs["train_on_batch_error"] = str(e)

    # all_reduce_mean: value and gradient of a synchronised-BatchNorm-like loss.
    rng = np.random.default_rng(3)
    gx = torch.tensor(rng.normal(size=(4, 3)))
    gc = torch.tensor(rng.normal(size=(4, 3)))
    xr = gx[r::w].clone().requires_grad_(True)
    wr = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    arrays["mean"] = engine.all_reduce_mean(xr.mean(0)).detach().numpy()
    loss = cases.sync_bn_loss(xr, wr, gc[r::w], engine.all_reduce_mean)
    loss.backward()
    arrays["grad_x"], arrays["grad_w"] = xr.grad.numpy(), wr.grad.numpy()

    # Gradient averaging with a float64 variable (its own all-reduce) and gradients
    # missing on one rank (zero there) or on every rank (stays None).
    variables = [keras.Variable(np.zeros(2, dtype)) for dtype in
                 ("float32", "float64", "float32")]
    grads = [torch.full((2,), r + 1.0), None if r == 1 else torch.ones(2, dtype=torch.float64),
             None]
    averaged = engine.average_gradients(grads, variables)
    arrays["avg0"], arrays["avg1"] = averaged[0].numpy(), averaged[1].numpy()
    logs["avg2_is_none"] = averaged[2] is None

    np.savez(os.path.join(out, f"rank{r}.npz"), **arrays)
    with open(os.path.join(out, f"rank{r}.json"), "w") as f:
        json.dump(logs, f)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
