"""The paper's models (tiny widths) streamed one timestep per call equal their multi-step
call: every LIF layer's spikes bit for bit, and the logits (see `_assert_logits_equal`);
the VGGSNN is streamed from a `.keras` file."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.testing import to_numpy
from tests.models.paper_models import (TINY_BUILDERS, lif_layers, random_input,
                                  randomise_bn_statistics)

TIMESTEPS = 2
KWARGS = {"vggsnn": {"input_shape": (TIMESTEPS, 16, 16, 2)},
          "resnet19": {"timesteps": TIMESTEPS},
          "sew_resnet34": {"timesteps": TIMESTEPS}}


def _probe(model, names):
    """A model returning the outputs of the named layers (LIF spikes, then the logits)."""
    return keras.Model(model.inputs, [model.get_layer(n).output for n in names])


def _assert_logits_equal(streamed, multistep):
    # Bit for bit at these sizes on every backend. (In general a matmul or convolution
    # may round a frame differently in a batch of B*T frames than in one of B: torch's
    # CPU matmul does for the VGGSNN at T=4; see docs/deployment.md.)
    np.testing.assert_array_equal(streamed, multistep)


def _stream_outputs(stream, x, names, sequence_input):
    probe = _probe(stream, names)
    steps = [[to_numpy(o) for o in keras.tree.flatten(
        probe([x[:, t:t + 1] if sequence_input else x]))] for t in range(TIMESTEPS)]
    return [np.concatenate([step[i] for step in steps], axis=1) for i in range(len(names))]


@pytest.mark.parametrize("name", sorted(TINY_BUILDERS))
def test_streamed_paper_models_equal_the_multistep_call(name, tmp_path):
    model = TINY_BUILDERS[name](**KWARGS[name])
    randomise_bn_statistics(model)                  # trained-like BN statistics
    x = random_input(model, batch=2)
    names = [layer.name for layer in lif_layers(model)] + ["classifier"]
    expected = [to_numpy(o) for o in _probe(model, names)([x])]
    rates = [float(s.mean()) for s in expected[:-1]]
    assert 0.0 < np.mean(rates) < 1.0                        # the neurons do fire

    if name == "vggsnn":   # from a .keras file: a saved model streams without retraining
        model.save(str(tmp_path / "model.keras"))
        model = keras.saving.load_model(str(tmp_path / "model.keras"))
    stream = kt.streaming_model(model, batch_size=2)
    sequence_input = name == "vggsnn"
    assert stream.input_shape == ((2, 1) + model.input_shape[2:] if sequence_input
                                  else (2,) + model.input_shape[1:])
    assert all(layer.stateful for layer in lif_layers(stream))
    got = _stream_outputs(stream, x, names, sequence_input)
    for layer_name, spikes, reference in zip(names[:-1], got, expected):
        np.testing.assert_array_equal(spikes, reference, err_msg=layer_name)
    _assert_logits_equal(got[-1], expected[-1])
    assert len(stream.reset_states()) == len(names) - 1      # the next sequence anew
    first = to_numpy(stream(x[:, :1] if sequence_input else x))
    _assert_logits_equal(first, expected[-1][:, :1])
