"""keras_trt.graph: the layer graph of a functional model, read from get_config()."""

import keras
import pytest

import keras_trt as kt
from keras_trt.graph import TensorRef, layer_graph


def _names(graph):
    return [(call.layer, call.node) for call in graph.calls]


def _position(graph):
    return {(call.layer, call.node): i for i, call in enumerate(graph.calls)}


def _assert_topological(graph):
    position = _position(graph)
    for call in graph.calls:
        for ref in call.inputs:
            assert position[(ref.layer, ref.node)] < position[(call.layer, call.node)], (
                f"{call.layer}#{call.node} comes before its input {ref}")


def test_a_chain_in_order_with_shapes():
    inputs = keras.Input((4, 3), name="x")
    h = kt.TimeDistributed(keras.layers.Dense(5), name="fc")(inputs)
    outputs = kt.LIF(name="lif")(h)
    graph = layer_graph(keras.Model(inputs, outputs))
    assert _names(graph) == [("x", 0), ("fc", 0), ("lif", 0)]
    x, fc, lif = graph.calls
    assert x.inputs == () and x.outputs == (TensorRef("x", 0, 0),)
    assert x.outputs[0].shape == (None, 4, 3)
    assert fc.inputs == (TensorRef("x", 0, 0),)
    assert lif.inputs[0].shape == (None, 4, 5)
    assert graph.inputs == [TensorRef("x", 0, 0)]
    assert graph.outputs == [TensorRef("lif", 0, 0)] and graph.outputs[0].shape == (None, 4, 5)


def test_a_residual_add_reads_both_branches_in_argument_order():
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(4, name="fc")(inputs)
    outputs = keras.layers.Add(name="add")([h, inputs])
    graph = layer_graph(keras.Model(inputs, outputs))
    assert graph.parents("add") == ["fc", "x"]
    assert [c.layer for c in graph.consumers("x")] == ["fc", "add"]
    _assert_topological(graph)


def test_a_layer_called_twice_gives_two_calls_after_their_inputs():
    # The config lists both calls of `shared` together, before `mid`, whose output the
    # second call reads: the walk must reorder them.
    inputs = keras.Input((4,), name="x")
    shared = keras.layers.Dense(4, name="shared")
    first = shared(inputs)
    second = shared(keras.layers.Dense(4, name="mid")(first))
    outputs = keras.layers.Concatenate(name="cat")([first, second])
    graph = layer_graph(keras.Model(inputs, outputs))
    assert graph.call_counts() == {"x": 1, "shared": 2, "mid": 1, "cat": 1}
    assert _names(graph) == [("x", 0), ("shared", 0), ("mid", 0), ("shared", 1), ("cat", 0)]
    _assert_topological(graph)
    cat = graph.calls_of("cat")[0]
    assert cat.inputs == (TensorRef("shared", 0, 0), TensorRef("shared", 1, 0))
    assert graph.parents("shared") == ["x", "mid"]


def test_a_nested_model_is_one_call_and_its_output_is_found():
    inner_in = keras.Input((4,), name="inner_x")
    inner = keras.Model(inner_in, keras.layers.Dense(2, name="inner_fc")(inner_in),
                        name="inner")
    inputs = keras.Input((4,), name="x")
    a = inner(inputs)
    b = inner(keras.layers.Dense(4, name="up")(a))
    model = keras.Model(inputs, [a, b])
    graph = layer_graph(model)
    assert graph.call_counts() == {"x": 1, "inner": 2, "up": 1}
    _assert_topological(graph)
    # Keras numbers a nested model's calls from 1 in the config's outputs: read as 0, 1.
    assert graph.outputs == [TensorRef("inner", 0, 0), TensorRef("inner", 1, 0)]
    assert [ref.shape for ref in graph.outputs] == [(None, 2), (None, 2)]
    assert all(ref in call.outputs for ref, call in zip(graph.outputs,
                                                        graph.calls_of("inner")))
    assert _names(layer_graph(inner)) == [("inner_x", 0), ("inner_fc", 0)]


def test_several_outputs_of_one_call():
    inputs = keras.Input((6,), name="x")
    parts = keras.layers.Lambda(lambda t: [t[:, :3], t[:, 3:]], name="split")(inputs)
    outputs = keras.layers.Add(name="add")(parts)
    graph = layer_graph(keras.Model(inputs, outputs))
    split = graph.calls_of("split")[0]
    assert split.outputs == (TensorRef("split", 0, 0), TensorRef("split", 0, 1))
    assert graph.calls_of("add")[0].inputs == split.outputs


def test_dict_inputs_and_outputs():
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    total = keras.layers.Add(name="sum")([a, b])
    diff = keras.layers.Subtract(name="diff")([a, b])
    graph = layer_graph(keras.Model({"a": a, "b": b}, {"z": total, "y": diff}))
    # in the order of model.outputs (a dict flattens by its sorted keys)
    assert graph.outputs == [TensorRef("diff", 0, 0), TensorRef("sum", 0, 0)]
    assert sorted(ref.layer for ref in graph.inputs) == ["a", "b"]


def test_a_serialized_config_gives_the_same_graph():
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(4, name="fc")(inputs)
    model = keras.Model(inputs, keras.layers.Add(name="add")([h, inputs]))
    from_config = layer_graph(keras.saving.serialize_keras_object(model)["config"])
    assert _names(from_config) == _names(layer_graph(model))
    assert from_config.parents("add") == ["fc", "x"]


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.fc = keras.layers.Dense(2)

    def call(self, x):
        return self.fc(x)


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
def test_models_without_a_graph_are_refused(kind):
    if kind == "sequential":
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    else:
        model = _Subclassed()
        model(keras.ops.ones((1, 3)))
    with pytest.raises(TypeError, match="is not a functional model"):
        layer_graph(model)
