"""A user's training script that resumes exactly with the public callback alone.

    python resume_user_script.py BACKUP_DIR WEIGHTS.npz   # run again after a kill: continues

A small SNN (tdBN, Dropout, TRT's penalty, Adam with the per-epoch cosine) trains on a
seeded tf.data pipeline that reshuffles every epoch; `keras_trt.callbacks.ExactResume`
saves and restores everything. The final weights go to WEIGHTS.npz.
"""

import sys

import keras
import numpy as np
import tensorflow as tf

import keras_trt as kt

EPOCHS, STEPS = 3, 6


def main(backup_dir, weights_out, callbacks=()):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, (8 * STEPS, 3, 5)).astype("float32")
    y = rng.integers(0, 3, 8 * STEPS)
    train = tf.data.Dataset.from_tensor_slices((x, y))
    train = train.shuffle(len(y), seed=1, reshuffle_each_iteration=True).batch(8)

    inputs = keras.Input((3, 5))
    h = kt.TimeDistributed(keras.layers.Dense(8))(inputs)
    h = keras.layers.Dropout(0.25)(kt.LIF()(kt.TemporalBatchNorm()(h)))
    model = kt.SpikingModel(inputs, kt.TimeDistributed(keras.layers.Dense(3))(h))
    schedule = kt.schedules.PerEpochCosineDecay(0.05, EPOCHS, steps_per_epoch=STEPS)
    model.compile(optimizer=keras.optimizers.Adam(schedule, epsilon=1e-8),
                  loss=kt.losses.TRTLoss(eta=0.05, lam=1e-3, decay=0.5),
                  jit_compile=keras.backend.backend() != "torch")

    resume = kt.callbacks.ExactResume(backup_dir, monitor="val_accuracy")
    model.fit(resume.wrap_dataset(train), epochs=EPOCHS, validation_data=(x[:16], y[:16]),
              callbacks=[resume, *callbacks], verbose=0)
    np.savez(weights_out, *model.get_weights())


if __name__ == "__main__":
    main(*sys.argv[1:3])
