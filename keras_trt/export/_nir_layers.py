"""The per-layer converters of `keras_trt.export.to_nir`: one method per Keras layer
kind, each turning the layer into NIR nodes (the mapping is in nir_export.py's module
docstring and docs/deployment.md).

`_LayerConverters` is a mixin of the graph walk (`nir_export._Exporter`): its methods
use the walk's `nir` module, `dt`, `nodes`, `consumers` and `add_node`. Each takes the
`_Value` of its input (what that Keras tensor is in the NIR graph) and returns the
`_Value` of its output.

```python
import keras
import keras_trt as kt

inputs = keras.Input((4, 6))
h = kt.TimeDistributed(keras.layers.Dense(3, name="fc"))(inputs)
graph = kt.export.to_nir(keras.Model(inputs, kt.LIF(name="lif")(h)))
print(sorted(graph.nodes))   # ['fc', 'input', 'lif', 'output']
```
"""

import math

import keras
import numpy as np

__all__ = []


class _Value:
    """What a Keras tensor is in the NIR graph under construction.

    sources: NIR node names whose outputs sum to this tensor (more than one after Add).
    frame: the per-timestep shape in Keras layout ((H, W, C) or (features,)).
    pad: a pending symmetric zero padding (pad_h, pad_w) not yet folded into a node.
    flat_from: the (H, W, C) a Flatten produced this vector from (its NIR order is C, H, W).
    """

    def __init__(self, sources, frame, pad=(0, 0), flat_from=None):
        self.sources = list(sources)
        self.frame = tuple(int(d) for d in frame)
        self.pad = pad
        self.flat_from = flat_from


def _nir_shape(frame):
    """Keras per-frame (H, W, C) -> NIR (C, H, W); 1-D unchanged."""
    if len(frame) == 3:
        return (frame[2], frame[0], frame[1])
    return tuple(frame)


def _tuple2(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _same_padding(size, kernel, stride, dilation, layer_name):
    """The symmetric padding equal to Keras' "same" on one axis, or a ValueError."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    if total % 2:
        raise ValueError(
            f"to_nir: layer '{layer_name}' uses padding=\"same\" that pads {total // 2} and "
            f"{total - total // 2} pixels on the two sides of an axis of size {size}; NIR "
            "padding is symmetric. Use an odd kernel with stride 1, or ZeroPadding2D + "
            "padding=\"valid\".")
    return total // 2


class _LayerConverters:
    """Conversions of single layers (see the module); mixed into the graph walk."""

    def no_pending_pad(self, value, layer):
        if value.pad != (0, 0):
            raise ValueError(
                f"to_nir: layer '{layer.name}' ({type(layer).__name__}) follows a "
                "ZeroPadding2D; NIR can fold zero padding only into a following Conv2D or "
                "AveragePooling2D.")

    # ------------------------------------------------------------------- layers
    def max_pool_error(self, layer):
        raise ValueError(
            f"to_nir: cannot export layer '{layer.name}' (MaxPooling2D): NIR has no max "
            "pooling node (only AvgPool2d and SumPool2d). Replace it with "
            "AveragePooling2D and retrain, or export the part of the model after it.")

    def zero_padding(self, layer, value):
        (top, bottom), (left, right) = layer.padding
        if top != bottom or left != right or layer.data_format != "channels_last":
            raise ValueError(
                f"to_nir: ZeroPadding2D '{layer.name}' pads {layer.padding} "
                f"({layer.data_format}); NIR padding is symmetric and keras-trt frames "
                "are channels_last.")
        h, w, c = value.frame
        return _Value(value.sources, (h + 2 * top, w + 2 * left, c),
                      pad=(value.pad[0] + top, value.pad[1] + left),
                      flat_from=value.flat_from)

    def flatten(self, layer, value):
        self.no_pending_pad(value, layer)
        if len(value.frame) == 1:
            return value
        if len(value.frame) != 3:
            raise ValueError(f"to_nir: Flatten '{layer.name}' needs (H, W, C) or 1-D "
                             f"frames, got {value.frame}.")
        node = self.nir.Flatten(input_type={"input": np.array(_nir_shape(value.frame))},
                                start_dim=0, end_dim=-1)
        name = self.add_node(layer.name, node, value)
        return _Value([name], (math.prod(value.frame),), flat_from=value.frame)

    def conv(self, layer, value, tensor):
        if layer.data_format != "channels_last":
            raise ValueError(f"to_nir: Conv2D '{layer.name}' must be channels_last, got "
                             f"{layer.data_format}.")
        self.linear_activation(layer)
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float32")
        kh, kw = kernel.shape[:2]
        strides, dilation = _tuple2(layer.strides), _tuple2(layer.dilation_rate)
        h, w, _ = value.frame  # includes a pending zero padding
        pad = list(value.pad)
        if layer.padding == "same":
            pad[0] += _same_padding(h, kh, strides[0], dilation[0], layer.name)
            pad[1] += _same_padding(w, kw, strides[1], dilation[1], layer.name)
        bias = (keras.ops.convert_to_numpy(layer.bias).astype("float32") if layer.use_bias
                else np.zeros(kernel.shape[-1], "float32"))
        input_hw = (h - 2 * value.pad[0], w - 2 * value.pad[1])
        node = self.nir.Conv2d(
            input_shape=input_hw, weight=np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)),
            stride=strides, padding=tuple(pad), dilation=dilation, groups=int(layer.groups),
            bias=bias)
        name = self.add_node(layer.name, node, _Value(value.sources, ()))
        c_out = kernel.shape[-1]
        out_h, out_w = (int(d) for d in node.output_type["output"][1:])
        return _Value([name], (out_h, out_w, c_out))

    def dense(self, layer, value):
        self.no_pending_pad(value, layer)
        self.linear_activation(layer)
        if len(value.frame) != 1:
            raise ValueError(
                f"to_nir: Dense '{layer.name}' gets frames of shape {value.frame}; NIR's "
                "Affine maps vectors: Flatten first.")
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float32")
        if value.flat_from is not None:
            h, w, c = value.flat_from
            # Keras flattened (h, w, c); NIR's Flatten of (C, H, W) orders (c, h, w)
            kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
        weight = np.ascontiguousarray(kernel.T)
        if layer.use_bias:
            bias = keras.ops.convert_to_numpy(layer.bias).astype("float32")
            node = self.nir.Affine(weight=weight, bias=bias)
        else:
            node = self.nir.Linear(weight=weight)
        name = self.add_node(layer.name, node, value)
        return _Value([name], (weight.shape[0],))

    def linear_activation(self, layer):
        activation = getattr(layer, "activation", None)
        if activation is not None and activation is not keras.activations.linear:
            raise ValueError(
                f"to_nir: layer '{layer.name}' has activation "
                f"{getattr(activation, '__name__', activation)!r}; NIR's Conv2d/Affine are "
                "linear. Use activation=None (the spiking neurons are the non-linearity).")

    def avg_pool(self, layer, value):
        if layer.data_format != "channels_last":
            raise ValueError(f"to_nir: AveragePooling2D '{layer.name}' must be channels_last.")
        kernel, strides = _tuple2(layer.pool_size), _tuple2(layer.strides)
        h, w, c = value.frame
        if layer.padding == "same":
            needs = [max((math.ceil(n / s) - 1) * s + k - n, 0)
                     for n, k, s in zip((h, w), kernel, strides)]
            if any(needs):
                raise ValueError(
                    f"to_nir: AveragePooling2D '{layer.name}' uses padding=\"same\", whose "
                    "mean leaves the padded pixels out; NIR's AvgPool2d counts them. Use "
                    "ZeroPadding2D + padding=\"valid\", or sizes that need no padding.")
        node = self.nir.AvgPool2d(kernel_size=np.array(kernel), stride=np.array(strides),
                                  padding=np.array(value.pad))
        name = self.add_node(layer.name, node, value)
        out = [(n - k) // s + 1 for n, k, s in zip((h, w), kernel, strides)]
        return _Value([name], (out[0], out[1], c))

    def global_avg_pool(self, layer, value):
        self.no_pending_pad(value, layer)
        h, w, c = value.frame
        pool = self.nir.AvgPool2d(kernel_size=np.array((h, w)), stride=np.array((h, w)),
                                  padding=np.array((0, 0)))
        name = self.add_node(layer.name, pool, value)
        if getattr(layer, "keepdims", False):
            return _Value([name], (1, 1, c))
        flatten = self.nir.Flatten(input_type={"input": np.array((c, 1, 1))}, start_dim=0,
                                   end_dim=-1)
        name = self.add_node(f"{layer.name}_flatten", flatten, _Value([name], ()))
        return _Value([name], (c,))

    def batch_norm(self, layer, value, tensor):
        axis = getattr(layer, "axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, len(tensor.shape) - 1):
            raise ValueError(f"to_nir: BatchNormalization '{layer.name}' must normalise the "
                             "last (channel) axis.")
        target = self.nodes.get(value.sources[0]) if len(value.sources) == 1 else None
        if (not isinstance(target, (self.nir.Conv2d, self.nir.Affine, self.nir.Linear))
                or self.consumers.get(tensor, 0) != 1 or value.pad != (0, 0)):
            raise ValueError(
                f"to_nir: {type(layer).__name__} '{layer.name}' can be exported only folded "
                "into the Conv2D or Dense layer right before it (whose output nothing else "
                "reads); NIR has no batch-normalisation node.")
        gamma = (keras.ops.convert_to_numpy(layer.gamma).astype("float64") if layer.scale
                 else 1.0)
        beta = (keras.ops.convert_to_numpy(layer.beta).astype("float64") if layer.center
                else 0.0)
        mean = keras.ops.convert_to_numpy(layer.moving_mean).astype("float64")
        var = keras.ops.convert_to_numpy(layer.moving_variance).astype("float64")
        scale = gamma / np.sqrt(var + layer.epsilon)
        shift = beta - mean * scale
        name = value.sources[0]
        weight = target.weight.astype("float64")
        bias = (np.zeros(weight.shape[0]) if isinstance(target, self.nir.Linear)
                else target.bias.astype("float64"))
        weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
        bias = (bias * scale + shift).astype("float32")
        weight = weight.astype("float32")
        if isinstance(target, self.nir.Conv2d):
            target.weight, target.bias = weight, bias
        else:
            self.nodes[name] = self.nir.Affine(weight=weight, bias=bias)
        return value

    def add(self, layer, ins):
        sources = []
        for value in ins:
            self.no_pending_pad(value, layer)
            sources.extend(value.sources)
        if len(set(sources)) != len(sources):
            raise ValueError(
                f"to_nir: Add '{layer.name}' sums the same signal twice; NIR edges cannot "
                "carry a weight of 2.")
        if len({v.frame for v in ins}) != 1 or len({v.flat_from for v in ins}) != 1:
            raise ValueError(f"to_nir: Add '{layer.name}' sums tensors of different "
                             "shapes or layouts.")
        return _Value(sources, ins[0].frame, flat_from=ins[0].flat_from)

    def neuron(self, layer, value):
        self.no_pending_pad(value, layer)
        if layer.v_reset is None:
            raise ValueError(
                f"to_nir: {type(layer).__name__} '{layer.name}' uses a soft reset "
                "(v_reset=None, subtract the threshold); NIR's LIF and IF reset to "
                "v_reset. Use a hard reset (v_reset=0.0) to export.")
        shape = _nir_shape(value.frame)
        full = lambda v: np.full(shape, v, dtype="float64")  # noqa: E731
        if layer.tau == 1.0:
            node = self.nir.IF(r=full(1.0 / self.dt), v_threshold=full(layer.v_threshold),
                               v_reset=full(layer.v_reset))
        else:
            tau = layer.tau
            node = self.nir.LIF(tau=full(self.dt * tau / (tau - 1.0)), r=full(tau / (tau - 1.0)),
                                v_leak=full(0.0), v_threshold=full(layer.v_threshold),
                                v_reset=full(layer.v_reset))
        name = self.add_node(layer.name, node, value)
        return _Value([name], value.frame, flat_from=value.flat_from)
