"""A pure-PyTorch mirror of the TRT reference code, the baseline of `train_step.py`.

Written the way the reference (github.com/ZBX05/Temporal-Regularization-Training) and
TET compute a training step, on purpose without optimisations:

- `LIFNode`: a Python loop over T, `u = u / tau + x_t`, the spike from a
  `torch.autograd.Function` with the triangle surrogate, the hard reset
  `u = (1 - s) * u + v_reset * s` with the spike NOT detached (docs/method.md, LIF neuron).
- `SeqToANNContainer`: (B, T, C, H, W) folded to (B*T, C, H, W) around Conv2d +
  BatchNorm2d (tdBN, eps 1e-5, momentum 0.1) and pooling; channels first as PyTorch.
- `trt_loss`: per timestep CE + MSE to the one-hot label, plus the weight penalty computed
  by looping over `named_parameters()` once per timestep, skipping names with "bias",
  exactly as the reference: `for t in range(T): for name, p in named_parameters: ...`.
- Static images are repeated T times before the first conv ("expend_time").

```python
import torch
from benchmarks.torch_reference import build, trt_loss

model, T = build("resnet19", num_classes=10, timesteps=4, width_divisor=4)
x, y = torch.randn(2, 3, 32, 32), torch.randint(0, 10, (2,))
loss = trt_loss(model, model(x), y, T, eta=0.05, lam=1e-5, decay=0.25, eps=1e-5)
loss.backward()
```
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ActFun", "LIFNode", "SeqToANNContainer", "VGGSNN", "ResNet19", "build",
           "trt_loss", "tet_loss"]


class ActFun(torch.autograd.Function):
    """Heaviside forward, triangle surrogate backward: (1/g)^2 * max(0, g - |u|)."""

    @staticmethod
    def forward(ctx, inputs, gamma):
        ctx.save_for_backward(inputs)
        ctx.gamma = gamma
        return inputs.gt(0).float()

    @staticmethod
    def backward(ctx, grad_output):
        (inputs,) = ctx.saved_tensors
        gamma = ctx.gamma
        grad_input = grad_output.clone()
        tmp = (1 / gamma) * (1 / gamma) * ((gamma - inputs.abs()).clamp(min=0))
        return grad_input * tmp, None


class LIFNode(nn.Module):
    def __init__(self, tau=2.0, v_threshold=1.0, v_reset=0.0, gamma=1.0):
        super().__init__()
        self.tau, self.thresh, self.v_reset, self.gamma = tau, v_threshold, v_reset, gamma

    def forward(self, x):
        mem = 0
        spike_pot = []
        for t in range(x.shape[1]):
            mem = mem / self.tau + x[:, t, ...]
            spike = ActFun.apply(mem - self.thresh, self.gamma)
            mem = (1 - spike) * mem + self.v_reset * spike
            spike_pot.append(spike)
        return torch.stack(spike_pot, dim=1)


class SeqToANNContainer(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)

    def forward(self, x):
        y = self.module(x.flatten(0, 1).contiguous())
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


def conv_bn(c_in, c_out, kernel=3, stride=1, padding=1):
    return SeqToANNContainer(
        nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
        nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1))


def _init(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return model


class VGGSNN(nn.Module):
    """CONVNP-64_CONVAP-128_..._CONVAP-512_L-C on (B, T, 2, 48, 48)."""

    def __init__(self, num_classes=10, in_channels=2, size=48, widths=None, tau=2.0):
        super().__init__()
        widths = widths or (64, 128, 256, 256, 512, 512, 512, 512)
        layers, c = [], in_channels
        for i, w in enumerate(widths, start=1):
            layers += [conv_bn(c, w), LIFNode(tau)]
            if i % 2 == 0:
                layers.append(SeqToANNContainer(nn.AvgPool2d(2, 2)))
                size //= 2
            c = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * size * size, num_classes)
        _init(self)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(x, 2))


class BasicBlock(nn.Module):
    """TET/TRT's ResNet-19 block: the shortcut joins the membrane input of the 2nd LIF."""

    def __init__(self, c_in, c_out, stride, tau):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, 3, stride, 1)
        self.lif1 = LIFNode(tau)
        self.conv2 = conv_bn(c_out, c_out, 3, 1, 1)
        self.downsample = (conv_bn(c_in, c_out, 1, stride, 0)
                           if stride != 1 or c_in != c_out else None)
        self.lif2 = LIFNode(tau)

    def forward(self, x):
        out = self.conv2(self.lif1(self.conv1(x)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.lif2(out + identity)


class ResNet19(nn.Module):
    def __init__(self, num_classes=10, timesteps=6, widths=None, hidden=256, tau=2.0):
        super().__init__()
        widths = widths or (64, 128, 256, 512)
        self.T = timesteps
        self.stem = nn.Sequential(conv_bn(3, widths[0]), LIFNode(tau))
        blocks, c = [], widths[0]
        for (n, stride), w in zip(((3, 1), (3, 2), (2, 2)), widths[1:]):
            for b in range(n):
                blocks.append(BasicBlock(c, w, stride if b == 0 else 1, tau))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.pool = SeqToANNContainer(nn.AdaptiveAvgPool2d((1, 1)))
        self.fc1 = nn.Linear(c, hidden)
        self.lif_fc = LIFNode(tau)
        self.fc2 = nn.Linear(hidden, num_classes)
        _init(self)

    def forward(self, x):
        x = x.unsqueeze(1).repeat(1, self.T, 1, 1, 1)        # expend_time
        x = self.pool(self.blocks(self.stem(x)))
        x = self.lif_fc(self.fc1(torch.flatten(x, 2)))
        return self.fc2(x)


def build(model, num_classes=10, timesteps=None, size=None, width_divisor=1):
    """Returns (module, T) for "vggsnn" (T 10, 48x48 events) or "resnet19" (T 4, 32x32)."""
    if model == "vggsnn":
        widths = tuple(w // width_divisor for w in (64, 128, 256, 256, 512, 512, 512, 512))
        return VGGSNN(num_classes, 2, size or 48, widths), timesteps or 10
    if model == "resnet19":
        widths = tuple(w // width_divisor for w in (64, 128, 256, 512))
        T = timesteps or 4
        return ResNet19(num_classes, T, widths, 256 // width_divisor), T
    raise ValueError(f"unknown model {model!r}")


def trt_loss(model, outputs, labels, T, eta=0.05, lam=1e-5, decay=0.25, eps=1e-5):
    """The reference TRT loss: the penalty loops over parameters once per timestep."""
    loss = 0
    outputs = outputs.float()
    one_hot = F.one_hot(labels, outputs.shape[-1]).float()
    for t in range(T):
        out_t = outputs[:, t, ...]
        reg = 0
        for name, p in model.named_parameters():
            if "bias" not in name:
                reg += torch.sum(lam * p ** 2 / (1 + (math.exp(decay * t) - 1)
                                                 * (p.abs() + eps)))
        loss += ((1 - eta) * F.cross_entropy(out_t, labels)
                 + eta * F.mse_loss(out_t, one_hot) + reg)
    return loss / T


def tet_loss(outputs, labels, lam=1e-3, means=1.0):
    outputs = outputs.float()
    T = outputs.shape[1]
    loss = sum(F.cross_entropy(outputs[:, t, ...], labels) for t in range(T)) / T
    if lam != 0:
        loss = (1 - lam) * loss + lam * F.mse_loss(outputs, torch.full_like(outputs, means))
    return loss
