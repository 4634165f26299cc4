"""The paper networks exported with `to_nir(target=...)` run in snnTorch 1.0, Norse 1.1,
SpikingJelly 2.0 and Spyx 1.0 (`keras_trt.testing.nir_consumers`), or the export refuses
what the consumer cannot run, with the reason. This file fills docs/deployment.md's table
of consumers.

Tolerance (every consumer): the spikes must agree except where float32 rounding (the
frameworks' convolutions sum in different orders) moves a membrane across the threshold:
at most 0.1% of them; the logits to 1e-4. Measured with tools/measure_nir_consumers.py.

The consumers are torch or JAX programs whatever KERAS_BACKEND is; only keras-trt's side
changes with the backend, so the torch consumers run on every backend. Spyx's check
compares Spyx with a NumPy simulation of the same graph and involves no Keras backend
beyond exporting the graph (checked everywhere by the round trips), so it runs on JAX
only, where its 20-30 s of JAX compilation is shared with the backend's.
"""
import warnings

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import nir_consumers, nir_networks
from tests.export import nir_reference

nir = pytest.importorskip("nir")

# (consumer, network) -> None: same logits and spikes; else the message to_nir refuses with
REFUSED = {
    ("snntorch", "sew_resnet"): "runs nir.IF as a leaky neuron",
    ("norse", "resnet19"): "depth-first order",
    ("norse", "sew_resnet"): "depth-first order",
    ("spyx", "resnet19"): "builds a chain",
    ("spyx", "sew_resnet"): "builds a chain",
}
SIMULATOR = {"snntorch": "snntorch", "norse": "norse", "spyx": "spyx",
             "spikingjelly": "spikingjelly"}
# Norse's IF adds its input without dt: SEW-ResNet's IF neurons need dt = 1
DT = {("norse", "sew_resnet"): 1.0}


def frames_for(network):
    x = nir_networks.inputs(network)
    frames = x if x.ndim == 5 else np.repeat(x[:, None], nir_networks.TIMESTEPS, axis=1)
    return x, frames


def assert_same_run(logits, spikes, expected_logits, expected_spikes):
    assert set(spikes) == set(expected_spikes)
    for name, expected in expected_spikes.items():
        assert spikes[name].shape == expected.shape, name
        assert expected.mean() > 0.0, name     # the comparison is not vacuous
        assert np.mean(spikes[name] != expected) <= 1e-3, name
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("network", nir_networks.NETWORKS)
@pytest.mark.parametrize("consumer", ["snntorch", "norse", "spikingjelly"])
def test_torch_consumers_run_the_exported_network_with_the_same_spikes(consumer, network,
                                                                      tmp_path):
    """snnTorch maps nir.LIF to snn.Leaky(beta = 1 - dt/tau_n, threshold / (r dt/tau_n),
    reset to 0) at dt = 1e-4; Norse to its LIFBox (forward Euler at from_nir's dt, r
    ignored: the norse form folds r into the weights, average pools into sums). Both run
    NIR's Flatten(start_dim=0) as torch.nn.Flatten(0, -1), so samples run one at a time.
    SpikingJelly maps it to LIFNode(tau = tau_n/dt, decay_input=False since r = tau_n/dt,
    reset to v_reset), nir.IF to IFNode, and runs the whole batch in nirtorch's fx
    graph, which sums the edges into a node (residual blocks run as written)."""
    pytest.importorskip("torch")
    pytest.importorskip(SIMULATOR[consumer])
    model = nir_networks.build(network)
    export = lambda: kt.export.to_nir(model, target=consumer,  # noqa: E731
                                      dt=DT.get((consumer, network)))
    if (consumer, network) in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[consumer, network]):
            export()
        return
    path = str(tmp_path / "model.nir")
    nir.write(path, export())
    x, frames = frames_for(network)
    logits, spikes = nir_consumers.run(consumer, path, frames)
    assert_same_run(logits, spikes, *nir_consumers.keras_outputs(model, x))


def test_spikingjelly_reads_thresholds_and_if_resets_and_refuses_what_it_cannot():
    """SpikingJelly builds its neurons with the graph's v_threshold and v_reset and starts
    each membrane at v_reset, as keras-trt does: a LIF with threshold 0.7 feeding an IF
    with threshold 1.5 that resets to -0.2 gives keras-trt's spikes. Its LIFNode decays
    towards v_reset (v_leak must equal v_reset), keras-trt's LIF towards 0: a LIF with
    v_reset != 0 is refused."""
    pytest.importorskip("spikingjelly")
    inputs = keras.Input((4, 3))
    h = kt.TimeDistributed(keras.layers.Dense(6, name="fc1"), name="fc1")(inputs)
    h = kt.LIF(v_threshold=0.7, name="lif")(h)
    h = kt.TimeDistributed(keras.layers.Dense(5, name="fc2"), name="fc2")(h)
    model = kt.SpikingModel(inputs, kt.IF(v_threshold=1.5, v_reset=-0.2, name="if")(h))
    rng = np.random.default_rng(0)
    for name, shape in (("fc1", (3, 6)), ("fc2", (6, 5))):   # weights that make both fire
        model.get_layer(name).layer.kernel.assign(rng.normal(0.2, 0.6, shape).astype("float32"))
    x = rng.uniform(0.0, 2.0, (3, 4, 3)).astype("float32")
    graph = kt.export.to_nir(model, target="spikingjelly")
    np.testing.assert_allclose(graph.nodes["if"].v_reset, -0.2)
    logits, spikes = nir_consumers.spikingjelly_outputs(graph, x)
    expected_logits, expected_spikes = nir_consumers.keras_outputs(model, x)
    assert_same_run(logits, spikes, expected_logits, expected_spikes)

    reset_high = kt.SpikingModel(inputs, kt.LIF(v_reset=0.5, name="lif_high")(h))
    with pytest.raises(ValueError, match=r"LIF 'lif_high' has v_reset = 0\.5; SpikingJelly"):
        kt.export.to_nir(reset_high, target="spikingjelly")
    kt.export.to_nir(reset_high, target="nir")            # NIR itself expresses it


def test_norse_runs_if_neurons_only_at_dt_1():
    inputs = keras.Input((2, 3))
    h = kt.TimeDistributed(keras.layers.Dense(4, name="fc"), name="fc")(inputs)
    model = kt.SpikingModel(inputs, kt.IF(name="if")(h))
    with pytest.raises(ValueError, match=r"dt=1\.0"):
        kt.export.to_nir(model, target="norse")           # Norse's dt 1e-3
    graph = kt.export.to_nir(model, target="norse", dt=1.0)
    assert graph.metadata["dt"] == 1.0


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="Spyx runs on JAX; the "
                    "check does not depend on the Keras backend (module docstring)")
@pytest.mark.parametrize("network", nir_networks.NETWORKS)
def test_spyx_runs_the_exported_chain_with_its_own_neuron_rule(network):
    """Spyx 1.0 reads sequential graphs only (refused otherwise). It runs the VGGSNN
    graph as written, with its own neurons (spike on the previous step's membrane,
    subtract the threshold): equal to a NumPy simulation of the graph with that rule."""
    pytest.importorskip("spyx")
    model = nir_networks.build(network)
    if ("spyx", network) in REFUSED:
        with pytest.raises(ValueError, match=REFUSED["spyx", network]):
            kt.export.to_nir(model, target="spyx")
        return
    with pytest.warns(UserWarning, match="spikes differ"):
        graph = kt.export.to_nir(model, target="spyx")
    x, frames = frames_for(network)
    logits, spikes = nir_consumers.spyx_outputs(graph, frames)
    expected_logits, expected_spikes = nir_reference.simulate(
        graph, np.moveaxis(frames, -1, 2), dt=1.0, rule="spyx", flatten="hwc")
    assert_same_run(logits, spikes, expected_logits, expected_spikes)
    # ... and so not keras-trt's spikes (the warning of to_nir, the table of the docs)
    keras_logits, keras_spikes = nir_consumers.keras_outputs(model, x)
    assert all(np.mean(spikes[name] != keras_spikes[name]) > 0.01 for name in keras_spikes)


@pytest.mark.parametrize("network", ["vggsnn", "resnet19"])
def test_the_canonical_graph_follows_nir_forward_euler_semantics(network):
    """keras-trt's export, simulated by NumPy from NIR's definitions: the same spikes."""
    model = nir_networks.build(network)
    graph = kt.export.to_nir(model)
    x, frames = frames_for(network)
    logits, spikes = nir_reference.simulate(graph, np.moveaxis(frames, -1, 2), dt=1e-4)
    assert_same_run(logits, spikes, *nir_consumers.keras_outputs(model, x))


def test_sew_resnet34_itself_is_refused_for_its_max_pool():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = kt.models.SEWResNet34(num_classes=5, timesteps=2, input_shape=(16, 16, 3),
                                      widths=(4, 4, 8, 8), stage_blocks=(1, 1, 1, 1),
                                      time_loop="unroll")
    with pytest.raises(ValueError, match="NIR has no max pooling"):
        kt.export.to_nir(model)
