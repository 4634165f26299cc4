"""Measures how closely other simulators run the paper networks exported with
`keras_trt.export.to_nir(model, target=consumer)`: for each network of
`keras_trt.testing.nir_networks` and each consumer (snnTorch, Norse, Spyx, SpikingJelly),
the spikes that differ from keras-trt's and the largest logit difference, or why the
export is refused. Needs the `dev` extra; keras_trt importable (pip install -e, or
PYTHONPATH=.).

    KERAS_BACKEND=jax python tools/measure_nir_consumers.py
"""

import warnings

import keras
import numpy as np

import keras_trt as kt
from keras_trt.testing import nir_consumers, nir_networks

# Norse's IF adds its input without dt: IF networks need dt = 1 there
DT = {("norse", "sew_resnet"): 1.0}

for network in nir_networks.NETWORKS:
    model = nir_networks.build(network)
    x = nir_networks.inputs(network)
    frames = x if x.ndim == 5 else np.repeat(x[:, None], nir_networks.TIMESTEPS, axis=1)
    expected_logits, expected = nir_consumers.keras_outputs(model, x)
    for consumer in nir_consumers.CONSUMERS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = kt.export.to_nir(model, target=consumer,
                                         dt=DT.get((consumer, network)))
        except ValueError as error:
            print(f"{keras.backend.backend()} {network} {consumer}: refused: {error}")
            continue
        logits, spikes = nir_consumers.run(consumer, graph, frames)
        differ = sum(int(np.sum(spikes[name] != s)) for name, s in expected.items())
        total = sum(s.size for s in expected.values())
        print(f"{keras.backend.backend()} {network} {consumer}: {differ} of {total} spikes "
              f"differ, max |logit difference| {np.abs(logits - expected_logits).max():.2g}")
