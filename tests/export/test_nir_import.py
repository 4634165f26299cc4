"""`from_nir` on graphs keras-trt did not write: written by hand with NIR's own API and by
Norse 1.1's `to_nir`, checked against NIR's forward-Euler semantics simulated in NumPy
(tests/export/nir_reference.py)."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from tests.export import nir_reference

nir = pytest.importorskip("nir")

T = 4


def keras_spikes(model, x):
    """{neuron layer: spikes (B, T, ...) channels first} and the output, from one call."""
    lifs = [layer for layer in model.layers if isinstance(layer, kt.LIF)]
    probe = keras.Model(model.input, [model.output] + [layer.output for layer in lifs])
    out = [keras.ops.convert_to_numpy(y) for y in probe(x, training=False)]
    first = lambda s: np.moveaxis(s, -1, 2) if s.ndim == 5 else s  # noqa: E731
    return first(out[0]), {layer.name: first(s) for layer, s in zip(lifs, out[1:])}


def assert_matches_reference(graph, frames, dt):
    """from_nir's model against the NumPy simulation of NIR's definitions: at most 0.1% of
    the spikes differ (float32 against float64 rounding at the threshold)."""
    model = kt.export.from_nir(graph, timesteps=frames.shape[1], dt=dt)
    for layer in model.layers:
        if isinstance(layer, kt.LIF):
            layer.time_loop = "unroll"
    x = np.moveaxis(frames, 2, -1) if frames.ndim == 5 else frames
    out, spikes = keras_spikes(model, x.astype("float32"))
    expected_out, expected = nir_reference.simulate(graph, frames, dt)
    assert set(spikes) == set(expected)
    for name, values in expected.items():
        assert 0.0 < values.mean() < 1.0, name          # not vacuous
        assert np.mean(spikes[name] != values) <= 1e-3, name
    np.testing.assert_allclose(out, expected_out, rtol=1e-4, atol=1e-4)
    return model


def test_hand_written_dense_graph_with_its_own_r_thresholds_and_resets():
    """r = 3 (not tau/(tau-1)), v_threshold 0.7 and 1.5, v_reset -0.2 and 0.1, an IF."""
    rng = np.random.default_rng(0)
    ones = lambda n, v: np.full(n, v)  # noqa: E731
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([5])),
               "fc1": nir.Affine(weight=rng.normal(0, 0.6, (6, 5)), bias=rng.normal(0, .1, 6)),
               # dt/tau = 1e-4/4e-4: decay 0.75, input weight r dt/tau = 0.75
               "lif": nir.LIF(tau=ones(6, 4e-4), r=ones(6, 3.0), v_leak=ones(6, 0.0),
                              v_threshold=ones(6, 0.7), v_reset=ones(6, -0.2)),
               "fc2": nir.Linear(weight=rng.normal(0.3, 0.8, (3, 6))),
               # v += dt r I = 0.5 I
               "if": nir.IF(r=ones(3, 5e3), v_threshold=ones(3, 1.5), v_reset=ones(3, 0.1)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "if"),
               ("if", "output")])
    frames = rng.uniform(0, 2, (4, T, 5))
    model = assert_matches_reference(graph, frames, dt=1e-4)
    lif = model.get_layer("lif")
    # keras-trt: tau = 1 / 0.75, the input weight 0.75 moved onto threshold and reset
    assert lif.tau == pytest.approx(4 / 3)
    assert lif.v_threshold == pytest.approx(0.7 / 0.75)
    assert lif.v_reset == pytest.approx(-0.2 / 0.75)


def test_hand_written_conv_graph_with_a_sum_pool():
    rng = np.random.default_rng(1)
    lif = lambda shape, threshold: nir.LIF(  # noqa: E731
        tau=np.full(shape, 3e-3), r=np.full(shape, 2.0), v_leak=np.zeros(shape),
        v_threshold=np.full(shape, threshold), v_reset=np.zeros(shape))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2, 6, 6])),
               "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0, 0.5, (3, 2, 3, 3)),
                                  stride=1, padding=(1, 1), dilation=1, groups=1,
                                  bias=rng.normal(0.1, 0.1, 3)),
               "lif1": lif((3, 6, 6), 0.8),
               "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                     padding=np.array([0, 0])),
               "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0),
               "fc": nir.Affine(weight=rng.normal(0, 0.4, (4, 27)), bias=np.zeros(4)),
               "lif2": lif((4,), 0.6),
               "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "flat"),
               ("flat", "fc"), ("fc", "lif2"), ("lif2", "output")])
    assert_matches_reference(graph, rng.uniform(0, 2, (3, T, 2, 6, 6)), dt=1e-3)


def test_v_leak_names_the_node_and_the_field():
    ones = np.ones(2)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])),
               "leaky": nir.LIF(tau=ones, r=ones, v_leak=0.5 * ones, v_threshold=ones),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "leaky"), ("leaky", "output")])
    with pytest.raises(ValueError, match="LIF 'leaky' leaks towards v_leak"):
        kt.export.from_nir(graph, timesteps=2, dt=0.1)


def test_a_graph_written_by_norse_imports():
    """Norse 1.1's to_nir writes tau = dt / tau_mem_inv = dt * tau_mem and r = 1
    (norse issue #411): NIR's forward Euler at step dt' then decays by 1 - dt'/(dt tau_mem)
    with input weight dt'/(dt tau_mem), which is Norse's own update (1 - dt/tau_mem,
    dt/tau_mem) at dt' = dt^2. from_nir at that step reproduces Norse's run."""
    torch = pytest.importorskip("torch")
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    dt = 1e-3
    cell = lambda n, th: norse.LIFBoxCell(norse.LIFBoxParameters(  # noqa: E731
        tau_mem_inv=torch.full((n,), 400.0), v_th=torch.full((n,), th),
        v_leak=torch.zeros(n)), dt=dt)   # per-neuron v_leak: NIR wants one shape
    net = norse.SequentialState(torch.nn.Linear(5, 6), cell(6, 0.3),
                                torch.nn.Linear(6, 3), cell(3, 0.2))
    graph = norse.to_nir(net, torch.zeros(1, 5), dt=dt)
    np.testing.assert_allclose(np.asarray(graph.nodes["1"].tau), dt / 400.0)
    frames = np.random.default_rng(2).uniform(0, 3, (3, T, 5)).astype("float32")
    model = assert_matches_reference(graph, frames, dt=dt ** 2)
    # ... and Norse's own simulation of `net`
    state, steps = None, []
    with torch.no_grad():
        for t in range(T):
            out, state = net(torch.from_numpy(frames[:, t]), state)
            steps.append(out.numpy())
    norse_spikes = np.stack(steps, axis=1)
    got = keras.ops.convert_to_numpy(model(frames))
    assert 0.0 < norse_spikes.mean() < 1.0
    assert np.mean(got != norse_spikes) <= 1e-3
