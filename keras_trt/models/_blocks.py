"""Building blocks shared by the model families: PyTorch-style initialisation, symmetric
padding for strided convolutions and pools, and the conv -> tdBN -> LIF unit
(docs/method.md, tdBN and initialisation; Padding).

Every per-frame layer (Conv2D, pooling, Dense) is wrapped in `keras_trt.TimeDistributed`,
which folds (B, T) into the batch axis as the reference's `SeqToANNContainer` does. The
wrapper and the layer inside it carry the same name, so variable paths read
`stage2_block1_conv1/kernel`.
"""

import math

import keras

from keras_trt import dense as kt_dense
from keras_trt import layers as kt_layers
from keras_trt import neurons
from keras_trt import spatial
from keras_trt.validation import integer, positive_int

__all__ = [
    "conv_kernel_initializer", "dense_kernel_initializer", "dense_bias_initializer",
    "time_conv", "time_bn", "time_pool", "time_dense", "lif",
    "check_spatial_size", "conv_output_size",
]


# ----------------------------------------------------------------------------- init
def conv_kernel_initializer():
    """Kaiming normal, mode fan_out, ReLU gain, untruncated: std = sqrt(2 / (C_out k k)).

    PyTorch `nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`, as the
    reference code initialises every Conv2d (docs/method.md, tdBN and initialisation).
    Keras' `he_normal` is fan_in and
    truncated, so it is not the same.
    """
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal")


def dense_kernel_initializer():
    """PyTorch's default `nn.Linear` weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def dense_bias_initializer(fan_in):
    """PyTorch's default `nn.Linear` bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(minval=-bound, maxval=bound)


# --------------------------------------------------------------------------- layers
def _td(layer):
    """Wraps a per-frame layer; the wrapper takes the layer's name."""
    return kt_layers.TimeDistributed(layer, name=layer.name)


def time_conv(x, filters, kernel_size, strides=1, padding=0, name=None):
    """A bias-free Conv2D over (B, T, H, W, C) with PyTorch's symmetric zero padding.

    Padding `p` pads p pixels on every side, then the convolution is "valid"; this equals
    PyTorch's `Conv2d(padding=p)` for every stride, where Keras' "same" pads the extra
    pixel of a stride-2 convolution at the end only (docs/method.md, Padding). Stride-1 convolutions
    whose padding keeps the size use "same" directly (identical and cheaper).
    """
    conv_padding = "valid"
    if padding:
        if strides == 1 and 2 * padding == kernel_size - 1:
            conv_padding = "same"
        else:
            x = _td(keras.layers.ZeroPadding2D(padding, name=f"{name}_pad"))(x)
    conv = spatial.FastConv2D(
        filters, kernel_size, strides=strides, padding=conv_padding, use_bias=False,
        kernel_initializer=conv_kernel_initializer(), name=name)
    return _td(conv)(x)


def time_bn(x, name):
    """tdBN: statistics over batch, time and space; PyTorch eps 1e-5, momentum 0.1."""
    return kt_layers.TemporalBatchNorm(momentum=0.1, epsilon=1e-5, name=name)(x)


def time_pool(x, kind, pool_size, strides, padding=0, name=None):
    """Average or max pooling per frame with PyTorch's symmetric zero padding.

    Zero padding equals PyTorch's -inf padding for max pooling here because the pooled
    values are spikes (>= 0).
    """
    if padding:
        x = _td(keras.layers.ZeroPadding2D(padding, name=f"{name}_pad"))(x)
    cls = {"avg": spatial.FastAveragePooling2D, "max": spatial.FastMaxPooling2D}[kind]
    return _td(cls(pool_size, strides=strides, padding="valid", name=name))(x)


def time_dense(x, units, name):
    """A Linear layer per timestep with PyTorch's default initialisation."""
    fan_in = int(x.shape[-1])
    dense = kt_dense.Float64ExactDense(
        units, kernel_initializer=dense_kernel_initializer(),
        bias_initializer=dense_bias_initializer(fan_in), name=name)
    return _td(dense)(x)


def lif(x, neuron, name):
    """A LIF layer over T with the model's neuron arguments (`neuron` is a dict)."""
    return neurons.LIF(name=name, **neuron)(x)


def neuron_kwargs(tau, v_threshold, v_reset, surrogate, detach_reset, time_loop):
    """The LIF arguments of a model builder, for every `keras_trt.LIF` it makes.

    Each builder (VGGSNN, ResNet19, SEWResNet34) lists these six arguments in its own
    signature, as `keras_trt.LIF` does, rather than taking `**kwargs`: `help()`, IDEs
    and a misspelt argument's TypeError then show them. The repeated signature lines mean
    the same thing on purpose; this function is the one place that passes them on.
    """
    return dict(tau=tau, v_threshold=v_threshold, v_reset=v_reset, surrogate=surrogate,
                detach_reset=detach_reset, time_loop=time_loop)


# ----------------------------------------------------------------------- shape checks
def conv_output_size(size, kernel_size, strides, padding):
    """PyTorch's output size of a conv/pool: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - kernel_size) // strides + 1


def check_spatial_size(model_name, shape, minimum, channels_name="channels"):
    """Raises a ValueError naming the minimum when (H, W) is smaller than `minimum`."""
    height, width, channels = shape
    for label, size in (("height", height), ("width", width)):
        if size is not None:
            integer(size, f"input {label}", model_name, minimum=minimum,
                    hint=f"the smallest size the architecture allows; input spatial size "
                         f"{height}x{width}")
    positive_int(channels, f"input {channels_name}", model_name,
                 hint="the last axis; it must be known")


# --------------------------------------------------------------- static-image inputs
def parse_image_input(model_name, input_shape, timesteps):
    """Validates the input of a model that takes static images or frame sequences.

    Returns (input_shape, timesteps, static): a rank-3 `input_shape` (H, W, C) is a
    static image repeated `timesteps` times inside the model; a rank-4 one (T, H, W, C)
    is a sequence, whose T must agree with `timesteps` (or `timesteps` is None).
    """
    input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(input_shape) == 3:
        static = True
    elif len(input_shape) == 4:
        static = False
        if timesteps is not None and timesteps != input_shape[0]:
            raise ValueError(
                f"{model_name}: `timesteps`={timesteps!r} disagrees with the sequence "
                f"input_shape {input_shape!r} (T = input_shape[0]); pass timesteps=None "
                "or a matching value.")
        timesteps = input_shape[0]
    else:
        raise ValueError(
            f"{model_name}: `input_shape` must be (height, width, channels) for a static "
            f"image or (timesteps, height, width, channels) for a sequence, got "
            f"{input_shape!r}.")
    timesteps = positive_int(timesteps, "timesteps", model_name, hint="it must be known")
    return input_shape, timesteps, static


def stem(inputs, timesteps, static, stem_once, conv_and_bn):
    """Applies the first conv+BN to the input and returns (B, T, ...) currents.

    For a static image the reference repeats the image T times before the first conv
    (docs/method.md, Architectures). With `stem_once` the conv+BN runs on the image once
    and its output is repeated: the same values and gradients, since the T copies are
    identical (the BN batch statistics too; only the unbiased correction n/(n-1) of the
    moving variance uses n = B*H*W instead of B*T*H*W).
    """
    if not static:
        return conv_and_bn(inputs)
    if stem_once:
        x = kt_layers.RepeatTime(1, name="stem_expand")(inputs)
        x = conv_and_bn(x)
        if timesteps == 1:
            return x
        return kt_layers.TileTime(timesteps, name="stem_repeat")(x)
    x = kt_layers.RepeatTime(timesteps, name="repeat_time")(inputs)
    return conv_and_bn(x)


def check_model_args(model_name, num_classes, widths, count):
    positive_int(num_classes, "num_classes", model_name)
    widths = tuple(int(w) for w in widths)
    if len(widths) != count or any(w < 1 for w in widths):
        raise ValueError(f"{model_name}: `widths` must be {count} positive integers, got "
                         f"{widths!r}.")
    return widths
