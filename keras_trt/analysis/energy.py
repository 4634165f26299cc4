"""Energy estimate of a spiking model: operations per layer times energy per operation.

For every weight layer W (Conv, Dense: a layer with a `kernel`) of a functional model,
per sample:

- `macs`: the dense multiply-accumulates of W over the timesteps it runs
  (`output elements x kernel elements / output channels`, x T; a stem run once on a
  static image counts once).
- `ann_macs`: what W costs in the same network without spikes, run once per sample:
  `macs` / T (T: axis 1 of the output of W's `TimeDistributed` wrapper).
- If W reads spikes (its inputs come from LIF/IF layers, possibly through weightless
  layers: pooling, padding, flatten, Add, ...): it only accumulates, once per spike and
  per output it feeds, so `acs = rate x macs`, with `rate` the firing rate of the source
  LIF layer (`keras_trt.analysis.firing_rates`); summed over the sources of an Add (SEW's
  ADD: each operand's spikes count), as `synaptic_operations` counts SOPs. With average
  pooling in between, the pooled input is taken to be non-zero as often as the spikes.
- Otherwise (the first layer on real-valued input, or any input that is not only
  spikes, e.g. a BatchNorm output): W multiplies, and its `macs` count as MACs.

Energy: `snn = e_mac * (MACs of real-input layers) + e_ac * ACs`, `ann = e_mac *
ann_macs`. Defaults: 45 nm CMOS, 0.9 V, 32-bit float (Horowitz, "Computing's energy
problem (and what we can do about it)", ISSCC 2014): add 0.9 pJ, multiply 3.7 pJ, so an
accumulate (AC) is 0.9 pJ and a multiply-accumulate (MAC) 3.7 + 0.9 = 4.6 pJ. Pass other
figures (e.g. 8-bit integers, other processes) as `e_mac`/`e_ac`. Neuron updates, BatchNorm
(folded at inference) and memory traffic are not counted: memory often dominates on
real hardware, so treat these as arithmetic-only estimates.

```python
import numpy as np, keras
import keras_trt as kt
from keras_trt.analysis import energy_report, format_energy_table

inputs = keras.Input((4, 8))
h = kt.LIF(name="lif1")(kt.TimeDistributed(keras.layers.Dense(16, name="fc1"), name="fc1")(inputs))
outputs = kt.TimeDistributed(keras.layers.Dense(3, name="head"), name="head")(h)
model = kt.SpikingModel(inputs, outputs)
report = energy_report(model, rates={"lif1": 0.25})
print(report["layers"]["head"]["acs"])   # 48.0 = rate 0.25 x (16 x 3 MACs) x 4 steps
print(format_energy_table(report))        # one row per Dense/Conv layer, then the total
```
"""

import math

import keras
import numpy as np

from keras_trt import layers as kt_layers
from keras_trt import neurons
from keras_trt.analysis.firing_rates import firing_rates
from keras_trt.analysis.synapses import dense_macs, weight_layer
from keras_trt.graph import layer_graph
from keras_trt.validation import number

__all__ = ["energy_report", "format_energy_table", "plot_energy", "HOROWITZ_45NM_FP32"]

# Joules per operation, 45 nm, 0.9 V, 32-bit float (Horowitz, ISSCC 2014).
HOROWITZ_45NM_FP32 = {"e_mac": 4.6e-12, "e_ac": 0.9e-12}

_REAL_VALUED = (keras.layers.InputLayer, kt_layers.TemporalBatchNorm,
                keras.layers.BatchNormalization)


def _check_energy(name, value):
    return number(value, name, "energy_report", at_least=0, hint="joules per operation")


def energy_report(model, data=None, rates=None, e_mac=HOROWITZ_45NM_FP32["e_mac"],
                  e_ac=HOROWITZ_45NM_FP32["e_ac"], steps=None, batch_size=32):
    """Per-layer operation counts and energy per sample (see the module docstring).

    Args:
        model: a functional keras-trt model.
        data: inputs for `firing_rates` (an `(x, y)` tuple, a dataset, ...), used when
            `rates` is None.
        rates: `{LIF layer name: firing rate}` (floats or per-timestep arrays, averaged),
            e.g. from `keras_trt.analysis.firing_rates`.
        e_mac, e_ac: joules per multiply-accumulate and per accumulate.
        steps, batch_size: passed to `firing_rates`.

    Returns:
        `{"layers": {name: {"input": "spikes" | "real", "sources": [...], "rate",
        "macs", "acs", "snn_macs", "ann_macs", "snn_energy", "ann_energy"}}, "total":
        {"snn_macs", "acs", "ann_macs", "snn_energy", "ann_energy", "ratio"}, "e_mac",
        "e_ac"}`, counts per sample, energies in joules; "ratio" is ann / snn energy.

    Raises:
        ValueError: neither `data` nor `rates`, a LIF layer without a rate, negative
            energies, or a model without a layer graph (subclassed or Sequential).
    """
    e_mac, e_ac = _check_energy("e_mac", e_mac), _check_energy("e_ac", e_ac)
    try:
        graph = layer_graph(model)
    except TypeError:
        raise ValueError("energy_report needs a functional model (a layer graph in its "
                         f"config); '{model.name}' is subclassed or Sequential.") from None
    if rates is None:
        if data is None:
            raise ValueError("energy_report: pass `data` (to measure the firing rates) or "
                             "`rates`.")
        rates = firing_rates(model, data, steps=steps, batch_size=batch_size)
    rates = {name: float(np.mean(rate)) for name, rate in rates.items()}
    layers = {}
    for call in graph.calls:
        name = call.layer
        if name in layers:
            continue
        layer = model.get_layer(name)
        if weight_layer(layer) is None:
            continue
        output_shape = layer.compute_output_shape(call.inputs[0].shape)
        macs = float(dense_macs(layer, output_shape))
        steps_run = _timesteps(layer, output_shape)
        spike_sources, real = _sources(model, graph, name)
        missing = [s for s in spike_sources if s not in rates]
        if missing:
            raise ValueError(f"energy_report: no firing rate for the LIF layers {missing} "
                             "(pass them in `rates`, or pass `data`).")
        spiking = bool(spike_sources) and not real
        rate = sum(rates[s] for s in spike_sources) if spiking else None
        acs = rate * macs if spiking else 0.0
        snn_macs = 0.0 if spiking else macs
        ann_macs = macs / steps_run
        layers[name] = {
            "input": "spikes" if spiking else "real", "sources": spike_sources + real,
            "rate": rate, "macs": macs, "acs": acs, "snn_macs": snn_macs,
            "ann_macs": ann_macs, "snn_energy": e_mac * snn_macs + e_ac * acs,
            "ann_energy": e_mac * ann_macs}
    total = {key: float(sum(v[key] for v in layers.values()))
             for key in ("snn_macs", "acs", "ann_macs", "snn_energy", "ann_energy")}
    total["ratio"] = (total["ann_energy"] / total["snn_energy"] if total["snn_energy"]
                      else math.inf)
    return {"layers": layers, "total": total, "e_mac": e_mac, "e_ac": e_ac}


def _timesteps(layer, output_shape):
    """How many timesteps `layer` runs per sample: axis 1 of a time wrapper's output (or
    of a Dense applied to (B, T, features) directly), else 1."""
    over_time = getattr(layer, "layer", None) is not None or (
        isinstance(layer, keras.layers.Dense) and len(output_shape) >= 3)
    return int(output_shape[1]) if over_time and output_shape[1] else 1


def _sources(model, graph, name):
    """(LIF layers, other real-valued producers) that feed layer `name`, followed back
    through weightless layers."""
    spikes, real, seen = [], [], set()
    stack = graph.parents(name)
    while stack:
        producer = stack.pop(0)
        if producer in seen:
            continue
        seen.add(producer)
        layer = model.get_layer(producer)
        if isinstance(layer, neurons.LIF):
            spikes.append(producer)
        elif (isinstance(layer, _REAL_VALUED) or weight_layer(layer) is not None
                or isinstance(getattr(layer, "layer", None), _REAL_VALUED)
                or not graph.parents(producer)):
            real.append(producer)
        else:
            stack.extend(graph.parents(producer))
    return spikes, real


def format_energy_table(report):
    """The report as a fixed-width text table, one row per weight layer and a total."""
    header = (f"{'layer':<24} {'input':<6} {'rate':>6} {'MACs':>12} {'ACs':>12} "
              f"{'ANN MACs':>12} {'SNN pJ':>12} {'ANN pJ':>12}")
    lines = [header, "-" * len(header)]
    for name, row in report["layers"].items():
        rate = "" if row["rate"] is None else f"{row['rate']:.3f}"
        lines.append(f"{name[:24]:<24} {row['input']:<6} {rate:>6} {row['snn_macs']:>12.4g} "
                     f"{row['acs']:>12.4g} {row['ann_macs']:>12.4g} "
                     f"{row['snn_energy'] * 1e12:>12.4g} {row['ann_energy'] * 1e12:>12.4g}")
    total = report["total"]
    lines.append("-" * len(header))
    lines.append(f"{'total':<24} {'':<6} {'':>6} {total['snn_macs']:>12.4g} "
                 f"{total['acs']:>12.4g} {total['ann_macs']:>12.4g} "
                 f"{total['snn_energy'] * 1e12:>12.4g} {total['ann_energy'] * 1e12:>12.4g}")
    lines.append(f"ANN / SNN energy: {total['ratio']:.3g} (e_mac = {report['e_mac'] * 1e12:g} "
                 f"pJ, e_ac = {report['e_ac'] * 1e12:g} pJ, per sample)")
    return "\n".join(lines)


def plot_energy(report, path, title="Energy per sample"):
    """Bars of the SNN and ANN energy (pJ, log scale) of every weight layer; returns path."""
    from keras_trt.analysis.plots import new_figure, save_figure

    names = list(report["layers"])
    snn = [report["layers"][n]["snn_energy"] * 1e12 for n in names]
    ann = [report["layers"][n]["ann_energy"] * 1e12 for n in names]
    fig = new_figure(figsize=(max(6.0, 0.5 * len(names) + 2), 4))
    ax = fig.add_subplot(1, 1, 1)
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, snn, 0.4, label="SNN (MACs + ACs)")
    ax.bar(xs + 0.2, ann, 0.4, label="same network without spikes (MACs)")
    ax.set_xticks(xs)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    if any(v > 0 for v in snn + ann):
        ax.set_yscale("log")
    ax.set_ylabel("energy per sample (pJ)")
    total = report["total"]
    ax.set_title(f"{title}: SNN {total['snn_energy'] * 1e6:.3g} uJ, ANN "
                 f"{total['ann_energy'] * 1e6:.3g} uJ")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
