"""The paper's networks: parameter and LIF counts, layer names, shapes, padding, init."""

import keras
import numpy as np
import pytest

import keras_trt as kt
from keras_trt.models import _blocks
from keras_trt.testing import to_numpy
from tests.support import BACKEND
from tests.models.paper_models import (
    TINY_BUILDERS, full_model, lif_layers, predict, random_input, tiny_resnet19,
    tiny_sew_resnet34, trainable_count,
)

# Eager forward passes at new input sizes compile new kernels on JAX (seconds each): on
# TensorFlow and JAX the real forward runs for the odd-sized inputs only; all shapes are
# checked symbolically everywhere.
ALL_FORWARDS = BACKEND == "torch"

# Trainable parameter counts of the reference networks and their LIF layers
# (docs/method.md, Parameter counts).
REFERENCE = [
    ("VGGSNN", dict(num_classes=10), 9_268_746, 8),
    ("VGGSNN", dict(num_classes=101), 9_688_165, 8),
    ("ResNet19", dict(num_classes=10), 12_630_858, 18),
    ("ResNet19", dict(num_classes=100), 12_653_988, 18),
    ("SEWResNet34", dict(num_classes=100), 21_335_972, 36),
]


@pytest.mark.parametrize("builder,kwargs,params,lifs", REFERENCE,
                         ids=[f"{b}-{k['num_classes']}" for b, k, _, _ in REFERENCE])
def test_reference_parameter_and_lif_counts(builder, kwargs, params, lifs):
    model = full_model(builder, kwargs["num_classes"])
    assert trainable_count(model) == params
    assert len(lif_layers(model)) == lifs
    # the non-trainable weights are exactly the tdBN moving statistics
    bn_channels = sum(layer.gamma.shape[0] for layer in model.layers
                      if isinstance(layer, kt.TemporalBatchNorm))
    assert model.count_params() == params + 2 * bn_channels
    # no conv biases; Linear layers have theirs
    biases = [v.path for v in model.trainable_weights if v.path.endswith("/bias")]
    assert biases and all(p.startswith(("classifier", "fc")) for p in biases)
    # TRT penalises every kernel and gamma (docs/method.md, Parameter counts)
    penalized = sum(int(np.prod(v.shape)) for v in model.penalized_variables())
    expected = {9_268_746: 9_265_984, 12_630_858: 12_625_280, 21_335_972: 21_327_360}
    if params in expected:
        assert penalized == expected[params]


def test_layer_names_say_where_they_sit():
    vgg = full_model("VGGSNN", 10)
    names = {layer.name for layer in vgg.layers}
    assert {"block1_conv", "block3_bn", "block3_lif", "block8_pool", "classifier"} <= names
    resnet = full_model("ResNet19", 10)
    names = {layer.name for layer in resnet.layers}
    assert {"stem_conv", "stem_lif", "stage2_block1_conv1", "stage2_block1_down_conv",
            "stage2_block1_conv1_pad", "stage3_block2_lif2", "fc_lif", "classifier"} <= names
    assert "stage1_block2_down_conv" not in names
    sew = full_model("SEWResNet34", 100)
    names = {layer.name for layer in sew.layers}
    assert {"stem_conv_pad", "stem_pool_pad", "stem_pool", "stage4_block3_add",
            "stage2_block1_down_lif", "stage1_block1_lif2"} <= names
    assert not any("Lambda" in type(layer).__name__ for m in (vgg, resnet, sew)
                   for layer in m.layers)


def test_reference_shapes_of_full_models():
    vgg = full_model("VGGSNN", 10)
    assert vgg.get_layer("block8_pool").output.shape == (None, 10, 3, 3, 512)
    assert vgg.output_shape == (None, 10, 10)
    resnet = full_model("ResNet19", 100)
    assert resnet.get_layer("stage1_block3_lif2").output.shape == (None, 6, 32, 32, 128)
    assert resnet.get_layer("stage3_block2_lif2").output.shape == (None, 6, 8, 8, 512)
    assert resnet.output_shape == (None, 6, 100)
    assert tiny_resnet19(timesteps=4).output_shape == (None, 4, 5)
    sew = full_model("SEWResNet34", 100)
    assert sew.get_layer("stem_lif").output.shape == (None, 4, 112, 112, 64)
    assert sew.get_layer("stem_pool").output.shape == (None, 4, 56, 56, 64)
    assert sew.get_layer("stage4_block3_add").output.shape == (None, 4, 7, 7, 512)
    assert sew.output_shape == (None, 4, 100)


@pytest.mark.parametrize("input_shape,final,run", [
    ((3, 32, 32, 2), (2, 2), False), ((2, 64, 64, 2), (4, 4), False),
    ((2, 50, 36, 2), (3, 2), True), ((1, 16, 16, 2), (1, 1), False),
])
def test_vggsnn_any_input_size(input_shape, final, run):
    model = kt.models.VGGSNN(num_classes=7, input_shape=input_shape,
                             widths=(2, 2, 2, 2, 2, 2, 2, 4), time_loop="unroll")
    assert model.get_layer("block8_pool").output.shape[2:4] == final
    assert model.get_layer("classifier").layer.kernel.shape == (final[0] * final[1] * 4, 7)
    assert model.output_shape == (None, input_shape[0], 7)
    if not (run or ALL_FORWARDS):
        return
    y = predict(model, random_input(model, batch=2))
    assert y.shape == (2, input_shape[0], 7) and np.isfinite(y).all()


@pytest.mark.parametrize("builder,input_shape,timesteps,final,run", [
    (tiny_resnet19, (32, 32, 3), 3, (8, 8), False),
    (tiny_resnet19, (15, 9, 3), 2, (4, 3), True),
    (tiny_resnet19, (2, 12, 12, 3), None, (3, 3), False),      # a frame sequence
    (tiny_sew_resnet34, (64, 64, 3), 2, (2, 2), False),
    (tiny_sew_resnet34, (33, 20, 3), 1, (2, 1), True),
])
def test_resnets_any_input_size(builder, input_shape, timesteps, final, run):
    model = builder(input_shape=input_shape, timesteps=timesteps)
    last = "stage3_block2_lif2" if builder is tiny_resnet19 else "stage4_block3_add"
    assert tuple(model.get_layer(last).output.shape[2:4]) == final
    t = input_shape[0] if len(input_shape) == 4 else timesteps
    assert model.output_shape == (None, t, 5)
    if not (run or ALL_FORWARDS):
        return
    y = predict(model, random_input(model, batch=2))
    assert y.shape == (2, t, 5) and np.isfinite(y).all()


def test_resnet_unknown_spatial_size():
    model = tiny_resnet19(input_shape=(None, None, 3))
    for size in (8, 11) if ALL_FORWARDS else (11,):
        y = to_numpy(model(np.ones((1, size, size, 3), "float32")))
        assert y.shape == (1, 2, 5) and np.isfinite(y).all()


def test_too_small_input_names_minimum():
    with pytest.raises(ValueError, match=r">= 16.*15x48"):
        kt.models.VGGSNN(input_shape=(10, 15, 48, 2))
    with pytest.raises(ValueError, match=r">= 4"):                # 2 pools
        kt.models.VGGSNN(input_shape=(10, 3, 3, 2), widths=(4, 4, 4, 4))
    with pytest.raises(ValueError, match=r"height and width must be known"):
        kt.models.VGGSNN(input_shape=(10, None, None, 2))
    with pytest.raises(ValueError, match=r">= 1"):
        kt.models.ResNet19(input_shape=(0, 32, 3))
    with pytest.raises(ValueError, match=r">= 1"):
        kt.models.SEWResNet34(input_shape=(224, 0, 3))
    with pytest.raises(ValueError, match="timesteps"):
        kt.models.ResNet19(timesteps=4, input_shape=(6, 32, 32, 3))
    with pytest.raises(ValueError, match="connect"):
        kt.models.SEWResNet34(connect="or")
    with pytest.raises(ValueError, match="input_shape"):
        kt.models.VGGSNN(input_shape=(48, 48, 2))


# 4x4 input 1..16, all-ones 3x3 kernel, stride 2, padding 1 on every side (PyTorch):
# each output sums the window rows/cols {-1,0,1} or {1,2,3} of the zero-padded image.
HAND_CONV = np.array([[1 + 2 + 5 + 6, 2 + 3 + 4 + 6 + 7 + 8],
                      [5 + 6 + 9 + 10 + 13 + 14, 6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16]])
HAND_MAXPOOL = np.array([[6, 8], [14, 16]])        # 3x3/2 max pool, padding 1


def test_stride2_symmetric_padding_hand_computed():
    image = np.arange(1, 17, dtype="float32").reshape(1, 1, 4, 4, 1)   # (B, T, H, W, C)
    inputs = keras.Input((1, 4, 4, 1))
    conv = _blocks.time_conv(inputs, 1, 3, strides=2, padding=1, name="conv")
    pool = _blocks.time_pool(inputs, "max", 3, 2, padding=1, name="pool")
    model = keras.Model(inputs, [conv, pool])
    model.get_layer("conv").layer.kernel.assign(np.ones((3, 3, 1, 1), "float32"))
    y_conv, y_pool = (to_numpy(t) for t in model(image))
    np.testing.assert_array_equal(y_conv[0, 0, :, :, 0], HAND_CONV)
    np.testing.assert_array_equal(y_pool[0, 0, :, :, 0], HAND_MAXPOOL)
    # Keras' asymmetric "same" would differ: its first window is rows/cols {0, 1, 2}
    assert HAND_CONV[0, 0] != 1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11

    # 7x7/2 padding 3 on a 5x5 image of ones: windows cover rows/cols {-3..3}, {-1..5},
    # {1..7}, i.e. 4, 5, 4 pixels of the image -> counts 16, 20, 16, 20, 25, 20, ...
    ones = np.ones((1, 1, 5, 5, 1), "float32")
    inputs = keras.Input((1, 5, 5, 1))
    stem = keras.Model(inputs, _blocks.time_conv(inputs, 1, 7, 2, 3, name="stem"))
    stem.get_layer("stem").layer.kernel.assign(np.ones((7, 7, 1, 1), "float32"))
    counts = np.array([4, 5, 4])
    np.testing.assert_array_equal(to_numpy(stem(ones))[0, 0, :, :, 0],
                                  np.outer(counts, counts))


def test_models_use_symmetric_padding_for_strided_layers():
    checked = 0
    for model in (full_model("ResNet19", 10), full_model("SEWResNet34", 100)):
        for layer in model.layers:
            inner = getattr(layer, "layer", None)
            size = getattr(inner, "kernel_size", getattr(inner, "pool_size", (1, 1)))[0]
            if getattr(inner, "strides", (1, 1)) != (2, 2) or size == 1:
                continue
            assert inner.padding == "valid", layer.name
            pad = model.get_layer(f"{layer.name}_pad").layer.padding
            assert pad == ((size // 2, size // 2), (size // 2, size // 2)), layer.name
            checked += 1
    assert checked == 2 + 5      # ResNet-19: 2 strided 3x3; SEW: stem, pool, 3 strided 3x3


def test_pytorch_style_initialisation():
    model = full_model("VGGSNN", 10)
    kernel = to_numpy(model.get_layer("block5_conv").layer.kernel)      # 3x3, 256 -> 512
    std = np.sqrt(2.0 / (512 * 9))
    assert abs(kernel.mean()) < 0.02 * std
    assert abs(kernel.std() / std - 1) < 0.01
    assert np.abs(kernel).max() > 4 * std                              # untruncated
    head = model.get_layer("classifier").layer
    bound = 1 / np.sqrt(4608)
    for w in (to_numpy(head.kernel), to_numpy(head.bias)):
        assert np.abs(w).max() <= bound
    assert to_numpy(head.kernel).std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    bn = model.get_layer("block5_bn")
    np.testing.assert_array_equal(to_numpy(bn.gamma), 1.0)
    assert bn.momentum == 0.1 and bn.epsilon == 1e-5


def test_neuron_arguments_pass_through():
    surrogate = kt.surrogates.Sigmoid(alpha=3.0)
    for name, build in TINY_BUILDERS.items():
        model = build(tau=1.5, v_threshold=0.5, v_reset=None, surrogate=surrogate,
                      detach_reset=True, time_loop="unroll")
        for layer in lif_layers(model):
            assert (layer.tau, layer.v_threshold, layer.v_reset) == (1.5, 0.5, None), name
            assert layer.surrogate == surrogate and layer.detach_reset
            assert layer.time_loop == "unroll"
    defaults = {"vggsnn": 2.0, "resnet19": 2.0, "sew_resnet34": 1.0}
    for name, build in TINY_BUILDERS.items():
        layer = lif_layers(build())[0]
        assert layer.tau == defaults[name]
        assert (layer.v_threshold, layer.v_reset, layer.detach_reset) == (1.0, 0.0, False)
        assert layer.surrogate == kt.surrogates.Triangle(1.0)


@pytest.mark.parametrize("connect", ["and", "iand"])
def test_sew_connect_functions(connect):
    model = tiny_sew_resnet34(connect=connect, stage_blocks=(1, 1, 1, 1))
    y = predict(model, random_input(model))
    assert y.shape == (2, 2, 5) and np.isfinite(y).all()
