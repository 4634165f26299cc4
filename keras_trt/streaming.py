"""Streaming (stateful) inference: a trained multi-step model fed one timestep per call.

A keras-trt model is built for (B, T, ...) and resets its membranes at every call.
`streaming_model(model, batch_size)` rebuilds it for one timestep per call, with the
trained weights, and with every `LIF`/`IF` (and `TimeAverage`) made `stateful=True`: the
membranes are variables that each call starts from and updates. Feeding the T steps of a
sequence one after another then gives the same spikes and per-timestep logits as one
multi-step call (tdBN in inference mode and every per-frame layer work frame by frame
and need no state): bit for bit where the backend's matrix products and convolutions
round a frame the same in a batch of B*T frames as in one of B; otherwise the logits
agree to float32 rounding (docs/deployment.md, Streaming inference). `reset_states(model)` (or the model's
`reset_states()` method) starts the next sequence.

What a step takes:

- a model whose input is a sequence (B, T, ...) (event frames, VGGSNN): its streaming
  form takes (batch_size, 1, ...), one frame per call;
- a model with a static input (B, H, W, C) that `RepeatTime` presents T times
  (ResNet-19, SEW-ResNet-34): its streaming form takes the image (batch_size, H, W, C)
  at every call. Feeding the same image T times reproduces the multi-step call (the
  stem conv+BN then runs at every step, where the multi-step model runs it once);
  feeding a different image per step streams a video.

The output is (batch_size, 1, classes) per call for per-timestep logits; a model that
ends in `TimeAverage` returns the running mean over the steps so far.

```python
import numpy as np
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=3, input_shape=(4, 16, 16, 2), widths=(4, 8))
x = np.random.default_rng(0).random((2, 4, 16, 16, 2)).astype("float32")
stream = kt.streaming_model(model, batch_size=2)
steps = [stream.predict_on_batch(x[:, t:t + 1]) for t in range(4)]   # (2, 1, 3) each
np.testing.assert_allclose(np.concatenate(steps, axis=1), model.predict_on_batch(x),
                           rtol=1e-6, atol=1e-6)   # bit for bit, or see the note below
stream.reset_states()                                         # next sequence
```

Supported models are functional ones whose layers mix timesteps only
through keras-trt's `LIF`/`IF`, `RepeatTime`, `TileTime` and `TimeAverage`; a layer
that looks across time in another way (a recurrent layer, a Flatten over T) is not
converted and gives other results. The streaming form is for inference: call it with
`training=False` (the default).
"""

import keras

from keras_trt import layers as layers_lib
from keras_trt import neurons
from keras_trt.graph import layer_graph
from keras_trt.validation import positive_int

__all__ = ["streaming_model", "reset_states", "is_streaming"]

# Registered names of the layers whose config depends on T or on being stateful.
_STATEFUL = {"keras_trt>LIF", "keras_trt>IF", "keras_trt>TimeAverage"}
_REPEATS = {"keras_trt>RepeatTime", "keras_trt>TileTime"}


def _registered_name(layer_config):
    return layer_config.get("registered_name") or layer_config.get("class_name")


def _static_inputs(model_config):
    """Names of the input layers that reach a RepeatTime (inputs without a time axis)."""
    graph = layer_graph(model_config)
    by_name = {c["name"]: c for c in model_config["layers"]}
    static = set()
    for config in model_config["layers"]:
        if _registered_name(config) != "keras_trt>RepeatTime":
            continue
        stack, seen = graph.parents(config["name"]), set()
        while stack:
            name = stack.pop()
            if name in seen or name not in by_name:
                continue
            seen.add(name)
            if by_name[name]["class_name"] == "InputLayer":
                static.add(name)
            stack.extend(graph.parents(name))
    return static


def _model_timesteps(model):
    outputs = getattr(model, "outputs", None) or []
    shapes = [tuple(o.shape) for o in outputs]
    timesteps = {s[1] for s in shapes if len(s) >= 3}
    return timesteps.pop() if len(timesteps) == 1 else None


def streaming_model(model, batch_size=1):
    """The streaming form of a trained multi-step `model`: one timestep per call.

    Args:
        model: a functional keras-trt model built for (B, T, ...) (e.g. loaded with
            `keras.saving.load_model` from a `.keras` file); it is not modified.
        batch_size: the number of sequences streamed side by side. Stateful layers keep
            one membrane per sample, so every call must feed exactly this many.

    Returns:
        A model of the same class with the same weights, whose sequence inputs take
        (batch_size, 1, ...) and static inputs (batch_size, ...) per call, and whose
        `LIF`/`IF`/`TimeAverage` layers are stateful. Its membranes start at `v_reset`;
        `reset_states()` sets them back before the next sequence.

    ```python
    import keras_trt as kt

    model = kt.models.ResNet19(num_classes=10, timesteps=4, input_shape=(8, 8, 3),
                               widths=(4, 8, 8, 8), hidden_units=8)
    stream = kt.streaming_model(model, batch_size=1)
    stream.input_shape     # (1, 8, 8, 3): the image, fed at every step
    stream.output_shape    # (1, 1, 10): the logits of one timestep
    ```
    """
    batch_size = positive_int(batch_size, "batch_size", "streaming_model")
    if not isinstance(model, keras.Model):
        raise TypeError(f"streaming_model: `model` must be a keras.Model, got "
                        f"{type(model).__name__}.")
    serialized = keras.saving.serialize_keras_object(model)
    config = serialized.get("config")
    if not isinstance(config, dict) or "layers" not in config \
            or "input_layers" not in config:
        raise TypeError(
            f"streaming_model: `model` '{model.name}' must be a functional model, whose layer graph can be rebuilt for one timestep; got a subclassed "
            f"{type(model).__name__}. Make its LIF layers stateful=True yourself instead.")
    timesteps = _model_timesteps(model)
    if timesteps is None:
        timesteps = _timesteps_from_layers(model)
    static = _static_inputs(config)
    for layer_config in config["layers"]:
        layer_config.pop("build_config", None)  # rebuilt for the new shapes
        name = _registered_name(layer_config)
        inner = layer_config["config"]
        if layer_config["class_name"] == "InputLayer":
            inner["batch_shape"] = _input_shape(inner, static, timesteps, batch_size)
            inner.pop("shape", None)
            inner.pop("batch_size", None)
        elif name in _STATEFUL:
            inner["stateful"] = True
        elif name in _REPEATS:
            inner["timesteps"] = 1
    serialized.pop("build_config", None)
    serialized.pop("compile_config", None)
    stream = keras.saving.deserialize_keras_object(serialized)
    _copy_weights(model, stream)
    return stream


def _timesteps_from_layers(model):
    for layer in model.layers:
        if isinstance(layer, (neurons.LIF, layers_lib.TimeAverage)):
            shape = layer.input.shape
            if len(shape) >= 3 and shape[1] is not None:
                return shape[1]
    raise ValueError(f"streaming_model: found no time axis in model '{model.name}' (no "
                     "(batch, T, ...) output and no LIF layer).")


def _input_shape(inner, static, timesteps, batch_size):
    shape = list(inner.get("batch_shape") or [None, *inner["shape"]])
    if inner["name"] in static:
        return [batch_size] + shape[1:]
    if len(shape) < 3 or shape[1] != timesteps:
        raise ValueError(
            f"streaming_model: input '{inner['name']}' has shape {tuple(shape)}, where a "
            f"sequence input (batch, T={timesteps}, ...) or a static input that a "
            "RepeatTime layer repeats over time was expected.")
    return [batch_size, 1] + shape[2:]


def _copy_weights(source, target):
    for layer in target.layers:
        if not layer.weights:
            continue
        original = source.get_layer(layer.name)
        if getattr(layer, "stateful", False) and not original.weights:
            continue  # only the state, which starts at its initial value
        values = original.get_weights()
        if len(values) != len(layer.weights):
            raise ValueError(f"streaming_model: layer '{layer.name}' has "
                             f"{len(layer.weights)} weights in the streaming form and "
                             f"{len(values)} in the model.")
        layer.set_weights(values)


def _all_layers(layer):
    """`layer`'s sublayers, recursively (models' layers and wrapped layers)."""
    found = []
    stack = list(getattr(layer, "layers", []) or [])
    if isinstance(layer, keras.layers.Wrapper):
        stack.append(layer.layer)
    while stack:
        sub = stack.pop(0)
        found.append(sub)
        stack.extend(getattr(sub, "layers", []) or [])
        if isinstance(sub, keras.layers.Wrapper):
            stack.append(sub.layer)
    return found


def reset_states(model):
    """Resets every stateful layer of `model` (membranes to `v_reset`, running means to
    nothing seen): the next call starts a new sequence. Returns the layers reset."""
    reset = []
    for layer in _all_layers(model):
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            layer.reset_state()
            reset.append(layer)
    return reset


def is_streaming(model):
    """Whether `model` has a stateful layer (a streaming form)."""
    return any(getattr(layer, "stateful", False) for layer in _all_layers(model))
