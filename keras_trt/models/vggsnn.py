"""VGGSNN (docs/method.md, VGGSNN): the DVS network of TET and TRT (DVS-CIFAR10, N-Caltech101).

Eight conv3x3 -> tdBN -> LIF blocks (64, 128, 256, 256, 512, 512, 512, 512 channels), a
2x2 average pool after the LIF of blocks 2, 4, 6 and 8, then a per-timestep Linear head.
Event input (B, T, H, W, 2); output per-timestep logits (B, T, num_classes).

```python
import keras_trt as kt

model = kt.models.VGGSNN(num_classes=10, input_shape=(10, 48, 48, 2))    # 9,268,746 params
model.compile(optimizer="adam", loss=kt.losses.TRTLoss(eta=0.001, lam=5e-5, decay=0.5))

# a small VGG-style SNN (4 blocks, pools after blocks 2 and 4) for a quick start
small = kt.models.VGGSNN(num_classes=10, input_shape=(10, 48, 48, 2), widths=(16, 32, 32, 64))
```
"""

import numbers
import warnings

import keras

from keras_trt import remat as remat_lib
from keras_trt import training
from keras_trt.models import _blocks
from keras_trt.validation import positive_int

__all__ = ["VGGSNN"]

VGGSNN_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)


def VGGSNN(
    num_classes=10,
    input_shape=(10, 48, 48, 2),
    # LIF's keywords, spelled out in every builder: each signature is its documented API
    tau=2.0,
    v_threshold=1.0,
    v_reset=0.0,
    surrogate="triangle",
    detach_reset=False,
    time_loop="auto",
    widths=VGGSNN_WIDTHS,
    remat=False,
    remat_time_chunk=None,
    name="vggsnn",
):
    """Builds VGGSNN as a functional `keras_trt.SpikingModel`.

    Args:
        num_classes: number of classes of the Linear head (10 DVS-CIFAR10, 101 N-Caltech101).
        input_shape: (T, H, W, C) of one sample: T frames of H x W with C (polarity)
            channels, channels last. H and W must be at least 2**(number of pools) (16
            for the 8-block network); sizes that do not divide evenly are floored by the
            pools, as in PyTorch.
        tau, v_threshold, v_reset, surrogate, detach_reset, time_loop: passed to every
            `keras_trt.LIF` (defaults: the reference code, docs/method.md, Defaults per dataset).
        widths: output channels of the conv blocks; a 2x2 average pool follows the LIF of
            every second block (blocks 2, 4, 6, 8 for the default eight). Fewer or
            narrower blocks give small VGG-style SNNs for tests and quick starts.
        remat: recompute each block's activations in the backward pass instead of
            keeping them (`keras_trt.Remat`): training memory then grows with T by the
            block outputs only, for one more forward pass per step. Same values and
            gradients. Each block (conv, tdBN, LIF, pool) becomes a sub-model
            `block{i}` inside a `block{i}_remat` layer; the weights keep their order.
            (Deprecated: an integer n means `remat=True, remat_time_chunk=n`.)
        remat_time_chunk: None, or with `remat=True` an integer n >= 1: recompute each
            block n timesteps at a time (`keras_trt.Remat(time_chunk=n)`): memory nearly
            flat in T, for a second pass over the convolutions; equal to float rounding.
        name: the model name.

    Returns:
        A `keras_trt.SpikingModel` mapping (B, T, H, W, C) to logits (B, T, num_classes).

    Layer names: `block{i}_conv`, `block{i}_bn`, `block{i}_lif`, `block{i}_pool` (i from
    1), `flatten`, `classifier`. Note that the flatten order is (H, W, C), not PyTorch's
    (C, H, W): it only matters when porting the classifier weights.
    """
    remat, time_chunk = _remat_settings(remat, remat_time_chunk)
    widths = tuple(int(w) for w in widths)
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"VGGSNN: `widths` must be a non-empty sequence of positive "
                         f"integers, got {widths!r}.")
    positive_int(num_classes, "num_classes", "VGGSNN")
    input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(input_shape) != 4:
        raise ValueError(
            "VGGSNN: `input_shape` must be (timesteps, height, width, channels), got "
            f"{input_shape!r}.")
    timesteps = input_shape[0]
    positive_int(timesteps, "timesteps", "VGGSNN", hint="input_shape[0]; it must be known")
    num_pools = len(widths) // 2
    minimum = 2 ** num_pools
    if input_shape[1] is None or input_shape[2] is None:
        raise ValueError(
            "VGGSNN: input height and width must be known (the Linear head's size depends "
            f"on them), got input_shape {input_shape!r}.")
    _blocks.check_spatial_size("VGGSNN", input_shape[1:], minimum)

    neuron = _blocks.neuron_kwargs(tau, v_threshold, v_reset, surrogate, detach_reset,
                                   time_loop)
    inputs = keras.Input(input_shape, name="events")
    x = inputs
    for i, width in enumerate(widths, start=1):
        block_input = keras.Input(x.shape[1:], name=f"block{i}_input") if remat else x
        h = _blocks.time_conv(block_input, width, 3, strides=1, padding=1,
                              name=f"block{i}_conv")
        h = _blocks.time_bn(h, name=f"block{i}_bn")
        h = _blocks.lif(h, neuron, name=f"block{i}_lif")
        if i % 2 == 0:
            h = _blocks.time_pool(h, "avg", 2, 2, name=f"block{i}_pool")
        if remat:
            h = remat_lib.Remat(keras.Model(block_input, h, name=f"block{i}"),
                                time_chunk=time_chunk, name=f"block{i}_remat")(x)
        x = h
    x = _blocks._td(keras.layers.Flatten(name="flatten"))(x)
    outputs = _blocks.time_dense(x, num_classes, name="classifier")
    return training.SpikingModel(inputs, outputs, name=name)


def _remat_settings(remat, time_chunk):
    """(remat, time chunk) from `VGGSNN`'s arguments, with the deprecated integer form
    `remat=n` read as `remat=True, remat_time_chunk=n`."""
    if not isinstance(remat, bool) and isinstance(remat, numbers.Integral) and remat >= 1 \
            and time_chunk is None:
        warnings.warn(f"VGGSNN(remat={remat}) is deprecated; use VGGSNN(remat=True, "
                      f"remat_time_chunk={remat}).", DeprecationWarning, stacklevel=3)
        return True, int(remat)
    if not isinstance(remat, bool):
        raise ValueError(f"VGGSNN: `remat` must be True or False (recompute each block in "
                         f"the backward pass), got {remat!r}; a time-chunk size goes in "
                         "`remat_time_chunk`.")
    if time_chunk is None:
        return remat, None
    if isinstance(time_chunk, bool) or not isinstance(time_chunk, numbers.Integral) \
            or time_chunk < 1:
        raise ValueError(f"VGGSNN: `remat_time_chunk` must be None or an integer >= 1 "
                         f"(timesteps per recomputed chunk), got {time_chunk!r}.")
    if not remat:
        raise ValueError(f"VGGSNN: `remat_time_chunk={time_chunk}` needs `remat=True`.")
    return remat, int(time_chunk)
