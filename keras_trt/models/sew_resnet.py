"""SEW-ResNet-34 (docs/method.md, SEW-ResNet-34): the ImageNet100 network of TRT
(Fang et al.'s spike-element-
wise ResNet with the ADD connection and a spiking downsample).

A 7x7/2 conv stem + tdBN + LIF + 3x3/2 max pool, [3, 4, 6, 3] SEW basic blocks of 64,
128, 256 and 512 channels, a global average pool and a Linear head. IF neurons (tau=1) by
default, as the reference's ImageNet100 command.

```python
import keras_trt as kt

model = kt.models.SEWResNet34(num_classes=100, timesteps=4, input_shape=(224, 224, 3))
model.compile(optimizer="adam", loss=kt.losses.TRTLoss(eta=0.001, lam=5e-5, decay=0.5))
```
"""

import keras

from keras_trt import training
from keras_trt.models import _blocks

__all__ = ["SEWResNet34", "sew_block", "CONNECT_FUNCTIONS"]

SEW_RESNET34_BLOCKS = (3, 4, 6, 3)
SEW_RESNET_WIDTHS = (64, 128, 256, 512)
CONNECT_FUNCTIONS = ("add", "and", "iand")


def _connect(out, identity, connect, name):
    """SEW's element-wise connection g(out, identity)."""
    if connect == "add":
        return keras.layers.Add(name=f"{name}_add")([out, identity])
    if connect == "and":
        return keras.layers.Multiply(name=f"{name}_and")([out, identity])
    # IAND: (1 - out) * identity = identity - out * identity
    both = keras.layers.Multiply(name=f"{name}_iand_mul")([out, identity])
    return keras.layers.Subtract(name=f"{name}_iand")([identity, both])


def sew_block(x, filters, strides, neuron, connect, name):
    """A SEW basic block (docs/method.md, SEW-ResNet-34).

    `a = LIF(BN(conv3x3(x, s)))`; `b = LIF(BN(conv3x3(a)))`; `id = x`, or the spiking
    downsample `LIF(BN(conv1x1(x, s)))` when the stride or width changes; `out = g(b, id)`
    with g = ADD (`b + id`, values can exceed 1), AND (`b * id`) or IAND (`(1 - b) * id`).
    """
    in_channels = x.shape[-1]
    h = _blocks.time_conv(x, filters, 3, strides=strides, padding=1, name=f"{name}_conv1")
    h = _blocks.time_bn(h, name=f"{name}_bn1")
    h = _blocks.lif(h, neuron, name=f"{name}_lif1")
    h = _blocks.time_conv(h, filters, 3, strides=1, padding=1, name=f"{name}_conv2")
    h = _blocks.time_bn(h, name=f"{name}_bn2")
    h = _blocks.lif(h, neuron, name=f"{name}_lif2")
    if strides != 1 or in_channels != filters:
        identity = _blocks.time_conv(x, filters, 1, strides=strides, padding=0,
                                     name=f"{name}_down_conv")
        identity = _blocks.time_bn(identity, name=f"{name}_down_bn")
        identity = _blocks.lif(identity, neuron, name=f"{name}_down_lif")
    else:
        identity = x
    return _connect(h, identity, connect, name)


def SEWResNet34(
    num_classes=100,
    timesteps=4,
    input_shape=(224, 224, 3),
    # LIF's keywords, spelled out in every builder: each signature is its documented API
    tau=1.0,
    v_threshold=1.0,
    v_reset=0.0,
    surrogate="triangle",
    detach_reset=False,
    time_loop="auto",
    connect="add",
    widths=SEW_RESNET_WIDTHS,
    stage_blocks=SEW_RESNET34_BLOCKS,
    stem_once=True,
    name="sew_resnet34",
):
    """Builds SEW-ResNet-34 as a functional `keras_trt.SpikingModel`.

    Args:
        num_classes: number of classes (100 for ImageNet100).
        timesteps: T, the number of times the static image is presented.
        input_shape: (H, W, C) of a static image (repeated T times inside the model), or
            (T, H, W, C) for a frame sequence (then `timesteps` must match or be None).
            Any H, W >= 1 works (224 gives the reference's 7x7 final maps); None allows
            any size.
        tau, v_threshold, v_reset, surrogate, detach_reset, time_loop: passed to every
            `keras_trt.LIF`. tau=1.0 (IF neurons) as the reference's ImageNet100 runs.
        connect: SEW connection function, "add" (the reference), "and" or "iand".
        widths: channels of the four stages (the stem has widths[0]).
        stage_blocks: blocks per stage ((3, 4, 6, 3) is SEW-ResNet-34; (2, 2, 2, 2) gives
            a SEW-ResNet-18).
        stem_once: for static images, run the stem conv+BN once and repeat its output over
            T (numerically the same as repeating the image first).
        name: the model name.

    Returns:
        A `keras_trt.SpikingModel` mapping (B, H, W, C) (or (B, T, H, W, C)) to logits
        (B, T, num_classes).

    Layer names: `stem_conv`, `stem_bn`, `stem_lif`, `stem_pool`, `stage{s}_block{b}_conv1|
    bn1|lif1|conv2|bn2|lif2|down_conv|down_bn|down_lif|add`, `avg_pool`, `classifier`.
    """
    widths = _blocks.check_model_args("SEWResNet34", num_classes, widths, 4)
    stage_blocks = tuple(int(b) for b in stage_blocks)
    if len(stage_blocks) != 4 or any(b < 1 for b in stage_blocks):
        raise ValueError(f"SEWResNet34: `stage_blocks` must be 4 positive integers, got "
                         f"{stage_blocks!r}.")
    if connect not in CONNECT_FUNCTIONS:
        raise ValueError(f"SEWResNet34: `connect` must be one of {CONNECT_FUNCTIONS}, got "
                         f"{connect!r}.")
    input_shape, timesteps, static = _blocks.parse_image_input(
        "SEWResNet34", input_shape, timesteps)
    _blocks.check_spatial_size("SEWResNet34", input_shape[-3:], 1)

    neuron = _blocks.neuron_kwargs(tau, v_threshold, v_reset, surrogate, detach_reset,
                                   time_loop)
    inputs = keras.Input(input_shape, name="images" if static else "frames")

    def stem_conv_bn(x):
        x = _blocks.time_conv(x, widths[0], 7, strides=2, padding=3, name="stem_conv")
        return _blocks.time_bn(x, name="stem_bn")

    x = _blocks.stem(inputs, timesteps, static, stem_once, stem_conv_bn)
    x = _blocks.lif(x, neuron, name="stem_lif")
    x = _blocks.time_pool(x, "max", 3, 2, padding=1, name="stem_pool")
    for stage, (blocks, filters) in enumerate(zip(stage_blocks, widths), start=1):
        for block in range(1, blocks + 1):
            strides = 2 if (stage > 1 and block == 1) else 1
            x = sew_block(x, filters, strides, neuron, connect,
                          name=f"stage{stage}_block{block}")
    x = _blocks._td(keras.layers.GlobalAveragePooling2D(name="avg_pool"))(x)
    outputs = _blocks.time_dense(x, num_classes, name="classifier")
    return training.SpikingModel(inputs, outputs, name=name)
