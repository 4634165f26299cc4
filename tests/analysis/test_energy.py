"""keras_trt.analysis.energy: operation counts and energies checked against hand counts."""

import json

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.analysis import energy_report, format_energy_table, plot_energy
from keras_trt.experiments.cli import analyze

PJ = 1e-12


def conv_model():
    """(T=2, 4, 4, 1) -> Conv2D(2, 3x3, same, no bias) -> LIF -> 2x2 avg pool -> Flatten ->
    Dense(3). Only the centre tap of output channel 0 is non-zero (= 1)."""
    inputs = keras.Input((2, 4, 4, 1))
    conv = keras.layers.Conv2D(2, 3, padding="same", use_bias=False, name="conv")
    h = kt.TimeDistributed(conv, name="conv")(inputs)
    h = kt.LIF(tau=2.0, name="lif1")(h)
    h = kt.TimeDistributed(keras.layers.AveragePooling2D(2, name="pool"), name="pool")(h)
    h = kt.TimeDistributed(keras.layers.Flatten(name="flat"), name="flat")(h)
    outputs = kt.TimeDistributed(keras.layers.Dense(3, name="head"), name="head")(h)
    model = kt.SpikingModel(inputs, outputs)
    kernel = np.zeros((3, 3, 1, 2), "float32")
    kernel[1, 1, 0, 0] = 1.0
    conv.set_weights([kernel])
    return model


def test_counts_and_energy_by_hand():
    model = conv_model()
    # Input 1.5 everywhere: channel 0 gets current 1.5 at every pixel and step, so its LIF
    # (u = u/2 + 1.5 > 1) fires at both steps; channel 1 gets 0 and never fires.
    # Firing rate = (2 steps * 16 pixels * 1 channel) / (2 * 16 * 2) = 0.5.
    x = np.full((4, 2, 4, 4, 1), 1.5, "float32")
    report = energy_report(model, data=(x, np.zeros(4, "int32")), batch_size=4)
    conv, head = report["layers"]["conv"], report["layers"]["head"]
    # conv: real-valued input -> MACs. Per frame: 4*4*2 outputs x 3*3*1 taps = 288;
    # two timesteps: 576. The same network without spikes runs once: 288.
    assert conv["input"] == "real"
    assert (conv["snn_macs"], conv["acs"], conv["ann_macs"]) == (576.0, 0.0, 288.0)
    # head: reads the pooled spikes (2*2*2 = 8 inputs) -> 3 units: 24 MACs per frame,
    # 48 over two steps; spike-driven: ACs = rate 0.5 * 48 = 24.
    assert head["input"] == "spikes" and head["sources"] == ["lif1"]
    assert head["rate"] == 0.5
    assert (head["snn_macs"], head["acs"], head["ann_macs"]) == (0.0, 24.0, 24.0)
    # SNN: 576 MACs * 4.6 pJ + 24 ACs * 0.9 pJ = 2649.6 + 21.6 = 2671.2 pJ
    # ANN: (288 + 24) MACs * 4.6 pJ = 1435.2 pJ
    total = report["total"]
    assert total["snn_energy"] == pytest.approx(2671.2 * PJ)
    assert total["ann_energy"] == pytest.approx(1435.2 * PJ)
    assert total["ratio"] == pytest.approx(1435.2 / 2671.2)
    # other constants: SNN 576 * 3 + 24 * 1 = 1752 pJ, ANN 312 * 3 = 936 pJ
    custom = energy_report(model, rates={"lif1": 0.5}, e_mac=3 * PJ, e_ac=1 * PJ)
    assert custom["total"]["snn_energy"] == pytest.approx(1752 * PJ)
    assert custom["total"]["ann_energy"] == pytest.approx(936 * PJ)


def test_add_of_spikes_and_batchnorm_outputs_by_hand():
    """(T=2, 4) -> a: Dense(3) -> LIF l1; b: Dense(3) -> LIF l2; head: Dense(2) on l1 + l2;
    c: Dense(3) -> tdBN -> d: Dense(2); output head + d."""
    inputs = keras.Input((2, 4))

    def dense(units, name, x):
        return kt.TimeDistributed(keras.layers.Dense(units, name=name), name=name)(x)

    l1 = kt.LIF(name="l1")(dense(3, "a", inputs))
    l2 = kt.LIF(name="l2")(dense(3, "b", inputs))
    head = dense(2, "head", keras.layers.Add(name="add")([l1, l2]))
    d = dense(2, "d", kt.TemporalBatchNorm(name="bn")(dense(3, "c", inputs)))
    model = kt.SpikingModel(inputs, keras.layers.Add(name="out")([head, d]))
    report = energy_report(model, rates={"l1": 0.25, "l2": 0.5})
    layers = report["layers"]
    # a, b, c: 4 -> 3 = 12 MACs per frame, 24 over T = 2, real input
    for name in "abc":
        assert (layers[name]["input"], layers[name]["snn_macs"]) == ("real", 24.0)
    # d reads a BatchNorm output (real-valued): 3 -> 2 = 6 per frame, 12 MACs
    assert (layers["d"]["input"], layers["d"]["snn_macs"], layers["d"]["acs"]) == (
        "real", 12.0, 0.0)
    # head: the spikes of l1 and l2 each trigger accumulations: (0.25 + 0.5) * 12 = 9
    assert sorted(layers["head"]["sources"]) == ["l1", "l2"]
    assert layers["head"]["acs"] == 9.0
    # totals: SNN MACs 24 * 3 + 12 = 84, ACs 9, ANN MACs 12 * 3 + 6 + 6 = 48
    assert report["total"]["snn_macs"] == 84.0 and report["total"]["acs"] == 9.0
    assert report["total"]["ann_macs"] == 48.0


def test_table_plot_and_errors(tmp_path):
    model = conv_model()
    report = energy_report(model, rates={"lif1": 0.5})
    table = format_energy_table(report).splitlines()
    assert table[2].split()[:2] == ["conv", "real"] and table[3].split()[:3] == [
        "head", "spikes", "0.500"]
    assert table[-2].split()[0] == "total"
    path = plot_energy(report, str(tmp_path / "energy.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no firing rate for the LIF layers"):
        energy_report(model, rates={})
    with pytest.raises(ValueError, match=r"energy_report: e_ac must be a number >= 0 \(joules per operation\), got e_ac=-1.0"):
        energy_report(model, rates={"lif1": 0.5}, e_ac=-1.0)
    with pytest.raises(ValueError, match="pass `data`"):
        energy_report(model)


def test_analyze_recipe_writes_the_energy_report(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    model = conv_model()
    model.save(str(run / "best.keras"))
    np.savez(run / "data.npz", x=np.full((4, 2, 4, 4, 1), 1.5, "float32"),
             y=np.zeros(4, "int32"))
    out = tmp_path / "report"
    analyze.main(["--run", str(run), "--data-npz", str(run / "data.npz"),
                         "--output", str(out), "--batch-size", "4", "--e-mac", "3",
                         "--e-ac", "1", "--skip", "fisher", "landscape", "curves",
                         "--verbose", "0"])
    with open(out / "report.json") as f:
        saved = json.load(f)
    # the hand counts above at 3 pJ / 1 pJ
    assert saved["energy"]["total"]["snn_energy"] == pytest.approx(1752 * PJ)
    assert (out / "energy.png").is_file()
    assert "total" in (out / "energy.txt").read_text()
