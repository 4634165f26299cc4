"""NIR export and import: round trips through a NIR file, the LIF/IF parameter mapping
and the messages for what NIR cannot express. Other simulators running the exported
graphs: test_nir_consumers.py; the consumer forms: test_nir_targets.py."""

import functools
import sys

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.models import _blocks, resnet19, sew_resnet
from tests.models.paper_models import randomise_bn_statistics

nir = pytest.importorskip("nir")

T = 3


@functools.lru_cache(maxsize=None)  # built once: model construction takes seconds on JAX
def vgg_model():
    """VGG-style: conv/tdBN/LIF, conv/tdBN/LIF, 2x2 average pool, flatten, Linear."""
    keras.utils.set_random_seed(0)
    model = kt.models.VGGSNN(num_classes=5, input_shape=(T, 8, 8, 2), widths=(4, 8),
                             time_loop="unroll")
    randomise_bn_statistics(model)
    return model


@functools.lru_cache(maxsize=None)
def residual_model():
    """Static image, stem run once; a ResNet-19 block (stride 2: zero padding and a 1x1
    downsample added to the membrane input of a LIF) and a SEW block (ADD of spikes)."""
    keras.utils.set_random_seed(0)
    neuron = _blocks.neuron_kwargs(2.0, 1.0, 0.0, "triangle", False, "unroll")
    inputs = keras.Input((8, 8, 3))

    def conv_bn(x):
        x = _blocks.time_conv(x, 4, 3, strides=1, padding=1, name="stem_conv")
        return _blocks.time_bn(x, name="stem_bn")

    x = _blocks.stem(inputs, T, True, True, conv_bn)
    x = _blocks.lif(x, neuron, name="stem_lif")
    x = resnet19.basic_block(x, 8, 2, neuron, name="res")
    x = sew_resnet.sew_block(x, 8, 1, neuron, "add", name="sew")
    x = _blocks._td(keras.layers.GlobalAveragePooling2D(name="avg_pool"))(x)
    outputs = _blocks.time_dense(x, 5, name="classifier")
    model = kt.SpikingModel(inputs, outputs, name="residual")
    randomise_bn_statistics(model)
    return model


MODELS = {"vgg": (vgg_model, (2, T, 8, 8, 2)), "residual": (residual_model, (2, 8, 8, 3))}


def inputs_for(kind):
    return np.random.default_rng(1).uniform(0.0, 2.0, MODELS[kind][1]).astype("float32")


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def run(model, x):
    """(logits, {LIF name: (B, T, ...) spikes}) of a functional model in inference mode,
    from one call (eager JAX compiles every call's time loop)."""
    lifs = [layer for layer in model.layers if isinstance(layer, kt.LIF)]
    probe = keras.Model(model.input, [model.output] + [layer.output for layer in lifs])
    outputs = [numpy(y) for y in probe(x, training=False)]
    return outputs[0], {layer.name: s for layer, s in zip(lifs, outputs[1:])}


def unrolled(model):
    # the time loop keras-trt picks on JAX (scan) compiles at every eager call: unroll it
    # to keep the test short (same values)
    for layer in model.layers:
        if isinstance(layer, kt.LIF):
            layer.time_loop = "unroll"
    return model


@pytest.mark.parametrize("kind", ["vgg", "residual"])
def test_round_trip_through_a_nir_file_gives_the_same_outputs(kind, tmp_path):
    model = MODELS[kind][0]()
    x = inputs_for(kind)
    path = str(tmp_path / "model.nir")
    nir.write(path, kt.export.to_nir(model))
    rebuilt = unrolled(kt.export.from_nir(nir.read(path)))

    (expected, reference), (got, rebuilt_spikes) = run(model, x), run(rebuilt, x)
    assert got.shape == expected.shape == (2, T, 5)
    # tdBN is folded into the convolution: the same numbers up to float32 rounding
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert set(reference) == set(rebuilt_spikes)
    for name, spikes in reference.items():
        assert 0.0 < spikes.mean() < 1.0, name   # the comparison is not vacuous
        np.testing.assert_array_equal(rebuilt_spikes[name], spikes, err_msg=name)


def test_export_structure_of_the_residual_model():
    graph = kt.export.to_nir(residual_model())
    incoming = lambda node: sorted(src for src, dst in graph.edges if dst == node)  # noqa: E731
    # ResNet-19's shortcut: the LIF sums conv2 (tdBN folded) and the 1x1 downsample
    assert incoming("res_lif2") == ["res_conv2", "res_down_conv"]
    # SEW's ADD of spikes: the next node receives both operands
    assert incoming("avg_pool") == ["res_lif2", "sew_lif2"]
    # the stride-2 conv's ZeroPadding2D(1) is folded into the NIR padding
    assert tuple(graph.nodes["res_conv1"].padding) == (1, 1)
    assert tuple(graph.nodes["res_conv1"].stride) == (2, 2)
    assert list(graph.nodes["input"].output_type["output"]) == [3, 8, 8]   # (C, H, W)
    assert graph.metadata == {"dt": 1e-4, "timesteps": T, "static_input": 1, "target": "nir"}


def test_tdbn_is_folded_into_the_convolution_weights():
    model = vgg_model()
    graph = kt.export.to_nir(model)
    kernel = numpy(model.get_layer("block1_conv").layer.kernel)      # (3, 3, 2, 4)
    bn = model.get_layer("block1_bn")
    gamma, beta, mean, var = (numpy(v) for v in (bn.gamma, bn.beta, bn.moving_mean,
                                                   bn.moving_variance))
    scale = gamma / np.sqrt(var + 1e-5)
    node = graph.nodes["block1_conv"]
    np.testing.assert_allclose(node.weight, kernel.transpose(3, 2, 0, 1)
                               * scale[:, None, None, None], rtol=1e-6)
    np.testing.assert_allclose(node.bias, beta - mean * scale, rtol=1e-6, atol=1e-7)


def test_lif_and_if_parameters_follow_the_forward_euler_mapping():
    inputs = keras.Input((T, 4))
    h = kt.TimeDistributed(keras.layers.Dense(3, name="fc"), name="fc")(inputs)
    h = kt.LIF(tau=4.0, v_threshold=0.5, v_reset=0.0, name="lif")(h)
    h = kt.TimeDistributed(keras.layers.Dense(2, name="fc2"), name="fc2")(h)
    outputs = kt.IF(v_threshold=2.0, name="if")(h)
    graph = kt.export.to_nir(kt.SpikingModel(inputs, outputs), dt=1e-3)
    lif, if_node = graph.nodes["lif"], graph.nodes["if"]
    assert isinstance(lif, nir.LIF) and isinstance(if_node, nir.IF)
    # 1 - dt/tau_n = 1/4 -> tau_n = dt * 4/3; dt r / tau_n = 1 -> r = 4/3
    np.testing.assert_allclose(lif.tau, np.full(3, 1e-3 * 4 / 3))
    np.testing.assert_allclose(lif.r, np.full(3, 4 / 3))
    np.testing.assert_array_equal(lif.v_leak, np.zeros(3))
    np.testing.assert_array_equal(lif.v_threshold, np.full(3, 0.5))
    # IF: v_t = v_{t-1} + dt r I_t -> r = 1/dt
    np.testing.assert_allclose(if_node.r, np.full(2, 1e3))
    rebuilt = kt.export.from_nir(graph)
    assert rebuilt.get_layer("lif").tau == pytest.approx(4.0)
    assert rebuilt.get_layer("if").tau == 1.0
    assert rebuilt.get_layer("if").v_threshold == pytest.approx(2.0)


def test_import_moves_the_input_scale_onto_the_threshold():
    # r dt / tau = 4 * 1e-4 / 2e-4 = 2: the input counts twice, so the keras-trt
    # threshold is 1 / 2; tau_kt = 1 / (1 - 1e-4 / 2e-4) = 2
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])),
               "fc": nir.Linear(weight=np.eye(2, dtype="float32")),
               "lif": nir.LIF(tau=np.full(2, 2e-4), r=np.full(2, 4.0), v_leak=np.zeros(2),
                              v_threshold=np.ones(2), v_reset=np.zeros(2)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    model = kt.export.from_nir(graph, timesteps=3, dt=1e-4)
    lif = model.get_layer("lif")
    assert (lif.tau, lif.v_threshold, lif.v_reset) == (2.0, 0.5, 0.0)
    # NIR: v_t = v_{t-1}/2 + 2 * x_t, spike above 1. x = 0.3: v = 0.6, 0.9, 1.05 -> spike
    # at t = 2 only; x = 0.6: v = 1.2 -> spike every step
    x = np.array([[[0.3, 0.6]] * 3], "float32")
    np.testing.assert_array_equal(numpy(model(x)), [[[0, 1], [0, 1], [1, 1]]])


def test_what_nir_cannot_express_is_refused():
    inputs = keras.Input((T, 8, 8, 2))
    h = kt.TimeDistributed(keras.layers.Conv2D(4, 3, padding="same", name="c"), name="c")(inputs)
    pooled = kt.TimeDistributed(keras.layers.MaxPooling2D(2, name="mp"), name="mp")(
        kt.LIF(name="l")(h))
    with pytest.raises(ValueError, match="NIR has no max pooling"):
        kt.export.to_nir(kt.SpikingModel(inputs, pooled))
    with pytest.raises(ValueError, match="soft reset"):
        kt.export.to_nir(kt.SpikingModel(inputs, kt.LIF(v_reset=None)(h)))
    spikes = kt.LIF(name="l2")(h)
    product = keras.layers.Multiply(name="and")([spikes, kt.LIF(name="l3")(h)])
    with pytest.raises(ValueError, match="cannot multiply two signals"):
        kt.export.to_nir(kt.SpikingModel(inputs, product))


def test_import_refuses_what_keras_trt_cannot_run():
    def graph_with(neuron):
        return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "n": neuron,
                                   "output": nir.Output(output_type=np.array([2]))},
                            edges=[("input", "n"), ("n", "output")])

    ones = np.ones(2)
    leaky = graph_with(nir.LIF(tau=ones, r=ones, v_leak=ones, v_threshold=ones))
    with pytest.raises(ValueError, match="v_leak"):
        kt.export.from_nir(leaky, timesteps=2, dt=0.1)
    with pytest.raises(ValueError, match="pass `dt`"):
        kt.export.from_nir(graph_with(nir.IF(r=ones, v_threshold=ones)), timesteps=2)
    cuba = nir.CubaLIF(tau_syn=ones, tau_mem=ones, r=ones, v_leak=0 * ones, v_threshold=ones)
    with pytest.raises(ValueError, match="CubaLIF"):
        kt.export.from_nir(graph_with(cuba), timesteps=2, dt=0.1)


def test_missing_nir_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ImportError, match=r"keras-trt\[deploy\]"):
        kt.export.to_nir(vgg_model())
