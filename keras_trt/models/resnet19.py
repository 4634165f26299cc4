"""ResNet-19 (docs/method.md, ResNet-19): the CIFAR network of TET and TRT.

A 64-channel conv3x3 stem, 3/3/2 basic blocks of 128/256/512 channels (the shortcut is
added to the membrane input of the block's second LIF; a 1x1 conv + tdBN downsample when
the stride or the width changes), a global average pool, Linear(256) + LIF and a Linear
head. The static image (B, H, W, 3) is repeated over `timesteps` inside the model.

```python
import keras_trt as kt

model = kt.models.ResNet19(num_classes=10, timesteps=6, input_shape=(32, 32, 3))
model.count_params()   # includes the tdBN moving statistics; 12,630,858 trainable
model.compile(optimizer="adam", loss=kt.losses.TRTLoss(eta=0.05, lam=1e-5, decay=0.25))
```
"""

import keras

from keras_trt import training
from keras_trt.models import _blocks
from keras_trt.validation import positive_int

__all__ = ["ResNet19", "basic_block"]

RESNET19_WIDTHS = (64, 128, 256, 512)
RESNET19_STAGES = ((3, 1), (3, 2), (2, 2))   # (blocks, stride of the first block)


def basic_block(x, filters, strides, neuron, name):
    """The membrane-shortcut basic block of TET/TRT's ResNet-19 (docs/method.md, ResNet-19).

    `h = LIF(BN(conv3x3(x, s)))`; `z = BN(conv3x3(h)) + shortcut(x)`; `out = LIF(z)`,
    with shortcut = identity or BN(conv1x1(x, s)) when the stride or width changes.
    """
    in_channels = x.shape[-1]
    h = _blocks.time_conv(x, filters, 3, strides=strides, padding=1, name=f"{name}_conv1")
    h = _blocks.time_bn(h, name=f"{name}_bn1")
    h = _blocks.lif(h, neuron, name=f"{name}_lif1")
    h = _blocks.time_conv(h, filters, 3, strides=1, padding=1, name=f"{name}_conv2")
    h = _blocks.time_bn(h, name=f"{name}_bn2")
    if strides != 1 or in_channels != filters:
        shortcut = _blocks.time_conv(x, filters, 1, strides=strides, padding=0,
                                     name=f"{name}_down_conv")
        shortcut = _blocks.time_bn(shortcut, name=f"{name}_down_bn")
    else:
        shortcut = x
    z = keras.layers.Add(name=f"{name}_add")([h, shortcut])
    return _blocks.lif(z, neuron, name=f"{name}_lif2")


def ResNet19(
    num_classes=10,
    timesteps=6,
    input_shape=(32, 32, 3),
    # LIF's keywords, spelled out in every builder: each signature is its documented API
    tau=2.0,
    v_threshold=1.0,
    v_reset=0.0,
    surrogate="triangle",
    detach_reset=False,
    time_loop="auto",
    widths=RESNET19_WIDTHS,
    hidden_units=256,
    stem_once=True,
    name="resnet19",
):
    """Builds ResNet-19 as a functional `keras_trt.SpikingModel`.

    Args:
        num_classes: number of classes (10 CIFAR10, 100 CIFAR100).
        timesteps: T, the number of times the static image is presented.
        input_shape: (H, W, C) of a static image (repeated T times inside the model), or
            (T, H, W, C) for a frame sequence (then `timesteps` must match or be None).
            Any H, W >= 1 works (the head pools globally); None allows any size.
        tau, v_threshold, v_reset, surrogate, detach_reset, time_loop: passed to every
            `keras_trt.LIF` (defaults: the reference code, docs/method.md, Defaults per dataset).
        widths: channels of the stem and of the three stages (64, 128, 256, 512).
        hidden_units: width of the spiking Linear layer before the head (256).
        stem_once: for static images, run the stem conv+BN once and repeat its output over
            T instead of repeating the image (numerically the same, T times less stem
            work; see `docs/performance.md`). Weights are interchangeable between the two.
        name: the model name.

    Returns:
        A `keras_trt.SpikingModel` mapping (B, H, W, C) (or (B, T, H, W, C)) to logits
        (B, T, num_classes).

    Layer names: `stem_conv`, `stem_bn`, `stem_lif`, `stage{s}_block{b}_conv1|bn1|lif1|
    conv2|bn2|down_conv|down_bn|add|lif2`, `avg_pool`, `fc`, `fc_lif`, `classifier`.
    """
    widths = _blocks.check_model_args("ResNet19", num_classes, widths, 4)
    input_shape, timesteps, static = _blocks.parse_image_input(
        "ResNet19", input_shape, timesteps)
    _blocks.check_spatial_size("ResNet19", input_shape[-3:], 1)
    positive_int(hidden_units, "hidden_units", "ResNet19")

    neuron = _blocks.neuron_kwargs(tau, v_threshold, v_reset, surrogate, detach_reset,
                                   time_loop)
    inputs = keras.Input(input_shape, name="images" if static else "frames")

    def stem_conv_bn(x):
        x = _blocks.time_conv(x, widths[0], 3, strides=1, padding=1, name="stem_conv")
        return _blocks.time_bn(x, name="stem_bn")

    x = _blocks.stem(inputs, timesteps, static, stem_once, stem_conv_bn)
    x = _blocks.lif(x, neuron, name="stem_lif")
    for stage, ((blocks, stride), filters) in enumerate(zip(RESNET19_STAGES, widths[1:]),
                                                        start=1):
        for block in range(1, blocks + 1):
            x = basic_block(x, filters, stride if block == 1 else 1, neuron,
                            name=f"stage{stage}_block{block}")
    x = _blocks._td(keras.layers.GlobalAveragePooling2D(name="avg_pool"))(x)
    x = _blocks.time_dense(x, hidden_units, name="fc")
    x = _blocks.lif(x, neuron, name="fc_lif")
    outputs = _blocks.time_dense(x, num_classes, name="classifier")
    return training.SpikingModel(inputs, outputs, name=name)
