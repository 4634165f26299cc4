import csv
import os

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.callbacks import FisherInformationCallback
from tests.analysis.models import data, mlp_snn


def test_callback_writes_csv_and_png_during_fit(tmp_path):
    model = mlp_snn(T=3, hidden=(6,), names=("lif1",))
    model.compile(optimizer="adam", loss=kt.losses.TRTLoss())
    x, y = data(32, T=3)
    cb = FisherInformationCallback((x, y), epochs="2-3", batches=1, batch_size=16,
                                   output_dir=str(tmp_path), log_ic=True)
    history = model.fit(x, y, epochs=3, batch_size=16, callbacks=[cb], verbose=0)
    assert sorted(cb.history) == [2, 3]
    assert all(v.shape == (3,) for v in cb.history.values())
    assert all(1.0 <= cb.ics[e] <= 3.0 for e in cb.ics)
    with open(cb.csv_path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "ic", "fi_1", "fi_2", "fi_3"]
    assert [r[0] for r in rows[1:]] == ["2", "3"]
    np.testing.assert_allclose([float(v) for v in rows[2][2:]], cb.history[3])
    assert os.path.getsize(cb.png_path) > 1000
    assert history.history["ic"][-1] == pytest.approx(cb.ics[3])
    # The training state is untouched by the observation (the model still trains).
    assert np.isfinite(history.history["loss"]).all()


def test_callback_epoch_parsing():
    x, y = data(4, T=3)
    assert FisherInformationCallback((x, y), epochs="20-40").epochs == [20, 40]
    assert FisherInformationCallback((x, y)).epochs[-1] == 300
    with pytest.raises(ValueError):
        FisherInformationCallback((x, y), epochs=[0])
