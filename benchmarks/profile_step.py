"""Where a keras-trt torch training step spends its time: `torch.profiler` around
`train_on_batch` of VGGSNN with TRTLoss (the setup of `benchmarks/train_step.py`), ops
grouped into convolutions, the LIF, tdBN, dtype casts, the optimizer and the rest.

Usage:

    KERAS_BACKEND=torch python benchmarks/profile_step.py --batch 4 --steps 3
    KERAS_BACKEND=torch python benchmarks/profile_step.py --mixed-precision mixed_bfloat16

Self CPU time per group (ms per step) and the top ops of "other"; the groups are read
from op names (`aten::mkldnn_convolution`, `_MultistepLIF`, `aten::batch_norm`, ...), so
an op counted in one group is not counted again in another.
"""

import argparse
import collections
import sys

import setup_common as setup   # this script's folder is first on sys.path

# A self-time entry belongs to the first group one of its enclosing events names: the
# forward calls are labelled below (record_function), the backward ones by their
# autograd nodes ("ConvolutionBackward0", "_MultistepLIFBackward", ...).
GROUPS = (
    ("convolution", ("kt:conv", "convolutionbackward")),
    ("LIF", ("kt:lif", "multisteplifbackward")),
    ("tdBN", ("kt:tdbn", "batchnormbackward")),
    ("pooling", ("kt:pool", "pool2dbackward")),
    ("TRT loss and penalty", ("kt:loss", "trtpenaltybackward")),
    ("optimizer", ("kt:optimizer",)),
    ("casts", ("tocopybackward", "aten::_to_copy", "aten::to")),
)


def _group(event):
    while event is not None:
        lowered = event.name.lower()
        for group, keys in GROUPS:
            if any(key in lowered for key in keys):
                return group
        event = event.cpu_parent
    return "other"


def _label(cls, method, label):
    """Wraps cls.method in torch.profiler.record_function(label)."""
    import functools

    import torch
    original = getattr(cls, method)

    @functools.wraps(original)  # Keras reads call()'s signature
    def wrapped(*args, **kwargs):
        with torch.profiler.record_function(label):
            return original(*args, **kwargs)

    setattr(cls, method, wrapped)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps")
    parser.add_argument("--mixed-precision", default="float32",
                        choices=("float32", "mixed_float16", "mixed_bfloat16"))
    parser.add_argument("--remat", action="store_true")
    parser.add_argument("--top", type=int, default=12, help="ops of 'other' to list")
    args = parser.parse_args(argv)

    import keras
    import torch

    if keras.backend.backend() != "torch":
        sys.exit("profile_step.py profiles the torch backend: set KERAS_BACKEND=torch")
    import keras_trt as kt

    _label(kt.spatial.FastConv2D, "convolution_op", "kt:conv")
    _label(kt.LIF, "call", "kt:lif")
    _label(kt.TemporalBatchNorm, "call", "kt:tdbn")
    _label(kt.spatial.FastAveragePooling2D, "call", "kt:pool")
    _label(kt.losses.TRTLoss, "__call__", "kt:loss")
    _label(kt.SpikingModel, "weight_penalty", "kt:loss")
    _label(keras.optimizers.Adam, "apply", "kt:optimizer")
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.mixed_precision)
    model = setup.compile_trt(setup.vggsnn(args.timesteps, args.size, remat=args.remat))
    x, y = setup.random_batch(model.input_shape[1:], args.batch)
    for _ in range(2):
        model.train_on_batch(x, y)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            model.train_on_batch(x, y)
    totals = collections.Counter()
    others = collections.Counter()
    for event in prof.events():
        ms = event.self_cpu_time_total / 1000 / args.steps
        group = _group(event)
        totals[group] += ms
        if group == "other":
            others[event.name] += ms
    step = sum(totals.values())
    print(f"VGGSNN {args.size}x{args.size} T={args.timesteps} batch {args.batch} "
          f"{args.mixed_precision}{' remat' if args.remat else ''}: "
          f"{step:.0f} ms self CPU time per step")
    print("| group | ms/step | share |")
    print("|---|---|---|")
    for group, ms in totals.most_common():
        print(f"| {group} | {ms:.0f} | {ms / step:.1%} |")
    print(f"\ntop ops of 'other':")
    for name, ms in others.most_common(args.top):
        print(f"  {name:50s} {ms:8.1f} ms")


if __name__ == "__main__":
    main()
