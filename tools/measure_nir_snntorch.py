"""Measures how closely snnTorch's NIR import reproduces keras-trt models exported with
`keras_trt.export.to_nir`: spikes that differ and the largest logit difference, for the two
test models of tests/export/test_nir.py, on the current Keras backend.

    KERAS_BACKEND=jax python tools/measure_nir_snntorch.py
"""

import contextlib
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import nir  # noqa: E402
import numpy as np  # noqa: E402
import snntorch as snn  # noqa: E402
import torch  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

import keras_trt as kt  # noqa: E402
from tests.export.test_nir import MODELS, T, inputs_for, run  # noqa: E402

for kind in ("vgg", "residual"):
    model = MODELS[kind][0]()
    x = inputs_for(kind)
    path = os.path.join(tempfile.mkdtemp(), "model.nir")
    nir.write(path, kt.export.to_nir(model))
    frames = x if kind == "vgg" else np.repeat(x[:, None], T, axis=1)
    logits, spikes = [], {}
    for sample in frames:
        with contextlib.redirect_stdout(io.StringIO()):
            net = import_from_nir(nir.read(path))
        recorded = {}
        for name, module in net.named_modules():
            if isinstance(module, snn.Leaky):
                module.register_forward_hook(
                    lambda m, i, o, name=name: recorded.setdefault(name, []).append(
                        o.detach().numpy()[0]))
        with torch.no_grad():
            logits.append(np.stack([
                net(torch.from_numpy(f.transpose(2, 0, 1)[None].copy()))[0].numpy().reshape(-1)
                for f in sample]))
        for name, values in recorded.items():
            spikes.setdefault(name, []).append(np.stack(values))
    expected_logits, reference = run(model, x)
    differ = total = 0
    for name, expected in reference.items():
        expected = np.moveaxis(expected, -1, 2)
        differ += int(np.sum(np.stack(spikes[name]) != expected))
        total += expected.size
    print(f"{keras.backend.backend()} {kind}: {differ} of {total} spikes differ, max |logit "
          f"difference| {np.abs(np.stack(logits) - expected_logits).max():.2g}")
