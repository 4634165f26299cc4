"""Measures how closely snnTorch's NIR import reproduces keras-trt models exported with
`keras_trt.export.to_nir`: spikes that differ and the largest logit difference, for the two
test models of tests/export/test_nir.py, on the current Keras backend.

    KERAS_BACKEND=jax python tools/measure_nir_snntorch.py
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import nir  # noqa: E402
import numpy as np  # noqa: E402

import keras_trt as kt  # noqa: E402
from tests.export.test_nir import MODELS, inputs_for, run, snntorch_outputs  # noqa: E402

for kind in ("vgg", "residual"):
    model = MODELS[kind][0]()
    x = inputs_for(kind)
    path = os.path.join(tempfile.mkdtemp(), "model.nir")
    nir.write(path, kt.export.to_nir(model))
    logits, spikes = snntorch_outputs(path, x, kind)
    expected_logits, reference = run(model, x)
    differ = total = 0
    for name, expected in reference.items():
        expected = np.moveaxis(expected, -1, 2)
        differ += int(np.sum(spikes[name] != expected))
        total += expected.size
    print(f"{keras.backend.backend()} {kind}: {differ} of {total} spikes differ, max |logit "
          f"difference| {np.abs(logits - expected_logits).max():.2g}")
