"""`to_nir(target=...)`: the consumer forms of the graph (keras_trt.export.nir_targets),
their mappings against hand-derived values, and `from_nir` reading every form back to
the same keras-trt model."""

import warnings

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.export import nir_targets
from keras_trt.models import resnet19
from keras_trt.testing import nir_networks

nir = pytest.importorskip("nir")

# the forms each network can be written in (the others are refused: test_nir_consumers.py)
FORMS = [("nir", "vggsnn"), ("nir", "resnet19"), ("nir", "sew_resnet"),
         ("snntorch", "vggsnn"), ("snntorch", "resnet19"), ("norse", "vggsnn"),
         ("spyx", "vggsnn"), ("spikingjelly", "sew_resnet")]


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def weights_by_layer(model):
    return {layer.name: [numpy(w) for w in layer.weights] for layer in model.layers
            if layer.weights}


def neuron_settings(model):
    return {layer.name: (layer.tau, layer.v_threshold, layer.v_reset)
            for layer in model.layers if isinstance(layer, kt.LIF)}


@pytest.mark.parametrize("target,network", FORMS)
def test_every_form_reads_back_to_the_same_model(target, network, tmp_path):
    model = nir_networks.build(network)
    path = str(tmp_path / "model.nir")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # Spyx's neuron-rule warning
        nir.write(path, kt.export.to_nir(model, target=target))
    graph = nir.read(path)
    assert graph.metadata["target"] == target
    rebuilt = kt.export.from_nir(graph)
    canonical = kt.export.from_nir(kt.export.to_nir(model, dt=graph.metadata["dt"]))
    # r = 2 (tau = 2) and pools of 4 pixels: the rewrites and their inverses are exact
    expected = weights_by_layer(canonical)
    got = weights_by_layer(rebuilt)
    assert got.keys() == expected.keys()
    for name, values in expected.items():
        for a, b in zip(got[name], values):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert neuron_settings(rebuilt) == neuron_settings(canonical)


def test_norse_form_folds_r_into_the_weights_and_pools_into_sums():
    model = nir_networks.build("vggsnn")
    canonical = kt.export.to_nir(model, dt=1e-3)
    graph = kt.export.to_nir(model, target="norse")
    assert graph.metadata["dt"] == 1e-3       # norse.torch.from_nir's default
    lif, conv = graph.nodes["block1_lif"], graph.nodes["block1_conv"]
    # Norse's LIF: v += dt/tau_n (I - v): r = 1, the canonical r = tau/(tau-1) = 2 in W, b
    np.testing.assert_array_equal(lif.r, np.ones_like(lif.r))
    np.testing.assert_allclose(lif.tau, canonical.nodes["block1_lif"].tau)   # 2e-3 s
    np.testing.assert_array_equal(conv.weight, 2 * canonical.nodes["block1_conv"].weight)
    np.testing.assert_array_equal(conv.bias, 2 * canonical.nodes["block1_conv"].bias)
    assert lif.metadata["keras_trt_r"] == "weights"
    np.testing.assert_array_equal(lif.v_reset, np.zeros_like(lif.v_reset))
    # AvgPool2d(2) -> SumPool2d(2), its 1/4 in the classifier after the Flatten (not the bias)
    assert isinstance(graph.nodes["block2_pool"], nir.SumPool2d)
    head, head_canonical = graph.nodes["classifier"], canonical.nodes["classifier"]
    np.testing.assert_array_equal(head.weight, head_canonical.weight / 4)
    np.testing.assert_array_equal(head.bias, head_canonical.bias)
    # the canonical graph is not changed
    assert isinstance(canonical.nodes["block2_pool"], nir.AvgPool2d)


def identity_residual_model():
    """stem LIF -> a ResNet-19 identity block (the stem's spikes go straight into lif2,
    with conv2) -> global pool -> Linear: r cannot go into weights for lif2."""
    keras.utils.set_random_seed(0)
    neuron = dict(tau=2.0, v_threshold=1.0, v_reset=0.0, surrogate="triangle",
                  detach_reset=False, time_loop="unroll")
    inputs = keras.Input((2, 6, 6, 2))
    h = kt.TimeDistributed(keras.layers.Conv2D(4, 3, padding="same", name="stem"),
                           name="stem")(inputs)
    h = kt.LIF(name="stem_lif", **neuron)(h)
    h = resnet19.basic_block(h, 4, 1, neuron, name="res")
    h = kt.TimeDistributed(keras.layers.GlobalAveragePooling2D(name="gap"), name="gap")(h)
    outputs = kt.TimeDistributed(keras.layers.Dense(3, name="head"), name="head")(h)
    return kt.SpikingModel(inputs, outputs)


def test_norse_form_moves_r_onto_the_threshold_behind_an_identity_shortcut():
    model = identity_residual_model()
    graph = kt.export.to_nir(model, target="norse")
    canonical = kt.export.to_nir(model, dt=1e-3)
    lif2 = graph.nodes["res_lif2"]
    # its inputs: conv2 (+ folded tdBN) and stem_lif's spikes, which feed conv1 too
    assert sorted(src for src, dst in graph.edges if dst == "res_lif2") == [
        "res_conv2", "stem_lif"]
    # v' = v / r: threshold 1 / 2; conv2's weights unchanged
    assert lif2.metadata["keras_trt_r"] == "v_threshold"
    np.testing.assert_array_equal(lif2.v_threshold, np.full_like(lif2.v_threshold, 0.5))
    np.testing.assert_array_equal(graph.nodes["res_conv2"].weight,
                                  canonical.nodes["res_conv2"].weight)
    # the shortcut edge comes after the conv1 branch: Norse runs depth first
    edges = [edge for edge in graph.edges if edge[0] == "stem_lif"]
    assert edges == [("stem_lif", "res_conv1"), ("stem_lif", "res_lif2")]
    rebuilt = kt.export.from_nir(graph)
    assert rebuilt.get_layer("res_lif2").v_threshold == 1.0
    for layer in rebuilt.layers:
        if isinstance(layer, kt.LIF):
            layer.time_loop = "unroll"
    x = np.random.default_rng(0).uniform(0, 2, (2, 2, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(numpy(rebuilt(x)), numpy(model(x)), rtol=1e-5, atol=1e-5)


def test_norse_runs_an_identity_shortcut():
    pytest.importorskip("norse")
    from keras_trt.testing import nir_consumers

    model = identity_residual_model()
    x = np.random.default_rng(0).uniform(0, 2, (2, 2, 6, 6, 2)).astype("float32")
    logits, spikes = nir_consumers.norse_outputs(kt.export.to_nir(model, target="norse"), x)
    expected_logits, expected_spikes = nir_consumers.keras_outputs(model, x)
    for name, expected in expected_spikes.items():
        assert np.mean(spikes[name] != expected) <= 1e-3, name
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-4, atol=1e-4)


def test_spyx_form_orders_the_flattened_columns_channels_last():
    model = nir_networks.build("vggsnn")
    canonical = kt.export.to_nir(model, dt=1.0)
    with pytest.warns(UserWarning, match="spike on the previous step's membrane"):
        graph = kt.export.to_nir(model, target="spyx")
    assert graph.metadata["dt"] == 1.0
    c, h, w = graph.nodes["flatten"].input_type["input"]       # (8, 4, 4)
    head = canonical.nodes["classifier"].weight.reshape(-1, c, h, w) / 4
    np.testing.assert_array_equal(graph.nodes["classifier"].weight,
                                  head.transpose(0, 2, 3, 1).reshape(len(head), -1))
    # Spyx's LIF is V = beta V + I: an input weight of 1, the canonical r (not read)
    np.testing.assert_allclose(graph.nodes["block1_lif"].r, 2.0)


def test_what_each_consumer_cannot_run_is_refused():
    inputs = keras.Input((2, 4))
    h = kt.TimeDistributed(keras.layers.Dense(3, name="fc"), name="fc")(inputs)
    reset_high = kt.SpikingModel(inputs, kt.LIF(v_reset=0.5, name="lif")(h))
    for target in ("snntorch", "norse"):
        with pytest.raises(ValueError, match="neuron 'lif' has v_reset = 0.5"):
            kt.export.to_nir(reset_high, target=target)
    with pytest.raises(ValueError, match="`dt` must be 1e-4"):
        kt.export.to_nir(reset_high, target="snntorch", dt=1e-3)
    with pytest.raises(ValueError, match=r"`target` must be one of \('nir', 'snntorch'"):
        kt.export.to_nir(reset_high, target="loihi")


def test_from_nir_refuses_an_unknown_form():
    graph = kt.export.to_nir(nir_networks.build("vggsnn"))
    graph.metadata["target"] = "loihi"
    with pytest.raises(ValueError, match="`target` must be one of"):
        kt.export.from_nir(graph)
    assert nir_targets.canonical_form(kt.export.to_nir(nir_networks.build("vggsnn"))
                                      ).metadata["target"] == "nir"
