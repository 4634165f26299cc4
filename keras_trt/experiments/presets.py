"""The paper's experiments as data: one `Preset` per row of its tables (and the quick start).

A preset names the dataset (a `keras_trt.data` loader), the network, the timesteps, the
training budget and every method's hyperparameters (paper Table S2; docs/method.md,
Hyperparameters, is tested equal to these values). This module is the only place those
numbers live: the command line (`python -m keras_trt.experiments <preset>`), the
`recipes/` scripts and the docs read them from here.

```python
from keras_trt import experiments

preset = experiments.get_preset("dvs_cifar10_vggsnn")
print(preset.hyperparameters["lam"], preset.timesteps, preset.epochs)   # 5e-05 10 300
model = preset.build_model(timesteps=4, widths=(4, 8), frame_size=16)   # a smaller VGGSNN
print(model.name)   # vggsnn
```
"""

import dataclasses
import types
from typing import Callable, Optional

__all__ = ["Preset", "PresetOption", "PRESETS", "get_preset"]


@dataclasses.dataclass(frozen=True)
class PresetOption:
    """A setting of one preset beyond the shared ones (a `--<name>` flag on the command
    line): its default, its type (`int`, `str`, ...) or `choices`, and its help."""

    default: object
    help: str
    type: Callable = str
    choices: Optional[tuple] = None


@dataclasses.dataclass(frozen=True)
class Preset:
    """One experiment: data, model, timesteps, budget and hyperparameters.

    Attributes:
        name: the preset's name (a command of `python -m keras_trt.experiments`).
        dataset: the `keras_trt.data` loader.
        num_classes: classes of the dataset.
        description: one line.
        network: the network, in words.
        model_builder: `fn(preset, **settings) -> SpikingModel` (use `build_model`).
        hyperparameters: every method's, flat (`eta`, `lam`, `decay`, `epsilon` of TRT,
            `tet_lam`, `tet_phi` of TET; keras_trt.experiments.methods).
        tau: the LIF time constant (1.0: IF neurons).
        epochs, batch_size, lr, seed: the training budget (Adam, cosine annealing).
        timesteps: T (None: fixed by the data), `timestep_choices` the paper's T values.
        loader_settings: `fn(settings, split) -> dict` of the loader's own arguments.
        options: settings of this preset beyond the shared ones, `{name: PresetOption}`.
        needs_data_dir: the dataset must be downloaded first (docs/datasets.md).
        paper: `{method: best test accuracy in %}` that the paper reports.
        input: the network's input, in words; augmentation: the training augmentation.
    """

    name: str
    dataset: str
    num_classes: int
    description: str
    network: str
    model_builder: Callable
    hyperparameters: dict
    tau: float = 2.0
    epochs: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 42
    timesteps: Optional[int] = None
    timestep_choices: Optional[tuple] = None
    loader_settings: Callable = lambda settings, split: {}
    options: dict = dataclasses.field(default_factory=dict)
    needs_data_dir: bool = True
    paper: dict = dataclasses.field(default_factory=dict)
    input: str = ""
    augmentation: str = ""

    def settings(self, **overrides):
        """The preset's model and data settings (timesteps, tau, widths, its options), with
        `overrides`, as attributes."""
        values = {"timesteps": self.timesteps, "tau": self.tau, "widths": None,
                  **{k: o.default for k, o in self.options.items()}}
        values.update(overrides)
        return types.SimpleNamespace(**values)

    def build_model(self, **settings):
        """A new (uncompiled) model of this preset; `settings` override `timesteps`, `tau`,
        `widths` (smaller networks) and the preset's options. Unknown names are ignored,
        so a whole command line's settings can be passed."""
        return self.model_builder(self, self.settings(**settings))

    def loader_args(self, split, data_dir=None, batch_size=None, seed=None,
                    validation_fraction=0.0, validation_seed=0, train_samples=None,
                    **settings):
        """The keyword arguments of `keras_trt.data.<dataset>` for `split`."""
        kwargs = {"split": split, "data_dir": data_dir,
                  "batch_size": self.batch_size if batch_size is None else batch_size,
                  "seed": self.seed if seed is None else seed}
        if split != "test":
            kwargs.update(validation_fraction=validation_fraction or 0.0,
                          validation_seed=validation_seed, train_samples=train_samples)
        kwargs.update(self.loader_settings(self.settings(**settings), split))
        return kwargs

    def load(self, split, shuffle=None, augment=None, **arguments):
        """The tf.data pipeline of `split` ("train", "validation" or "test"):
        `keras_trt.data.<dataset>(**loader_args(split, **arguments))` with `shuffle` and
        `augment` when given, keeping the arguments the loader takes. A dataset that is
        not there raises ExperimentError."""
        import inspect

        import keras_trt as kt
        from keras_trt.experiments.errors import ExperimentError

        loader = getattr(kt.data, self.dataset)
        kwargs = self.loader_args(split, **arguments)
        kwargs.update({k: v for k, v in (("shuffle", shuffle), ("augment", augment))
                       if v is not None})
        params = inspect.signature(loader).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in params}
        try:
            return loader(**kwargs)
        except (FileNotFoundError, ValueError) as e:
            message = str(e)
            if not message.lower().startswith(self.dataset.lower()):
                message = f"{self.dataset}: {message}"
            raise ExperimentError(message) from None


def _extra(settings):
    return {"widths": tuple(settings.widths)} if settings.widths else {}


def _resnet19(preset, s):
    import keras_trt as kt
    return kt.models.ResNet19(num_classes=preset.num_classes, timesteps=s.timesteps,
                              input_shape=(32, 32, 3), tau=s.tau, **_extra(s))


def _sew_resnet34(preset, s):
    import keras_trt as kt
    return kt.models.SEWResNet34(num_classes=preset.num_classes, timesteps=s.timesteps,
                                 input_shape=(s.image_size, s.image_size, 3), tau=s.tau,
                                 **_extra(s))


def _vggsnn(preset, s):
    import keras_trt as kt
    return kt.models.VGGSNN(num_classes=preset.num_classes,
                            input_shape=(s.timesteps, s.frame_size, s.frame_size, 2),
                            tau=s.tau, **_extra(s))


QUICK_WIDTHS = (8, 16, 16, 32)


def _small_vggsnn(preset, s):
    import keras_trt as kt
    return kt.models.VGGSNN(num_classes=10, input_shape=(s.timesteps, 32, 32, 2), tau=s.tau,
                            widths=tuple(s.widths or QUICK_WIDTHS), name="small_vggsnn")


def _dvs_loader(settings, split):
    return {"timesteps": settings.timesteps, "size": settings.frame_size,
            "frames": settings.frames}


def _imagenet_loader(settings, split):
    return {"image_size": settings.image_size,
            "resize_size": max(1, round(settings.image_size * 256 / 224))}


_FRAME_SIZE = PresetOption(48, "frames are resized to this side (the paper: 48)", int)
_FRAMES = PresetOption("counts", "per-polarity counts, or the reference code's binary "
                       "single-channel 8-bit frames (docs/datasets.md)",
                       choices=("counts", "reference"))
# TRT's per-dataset values (paper Table S2) and TET's official ones (CIFAR: 0, DVS: 1e-3).
_CIFAR = {"eta": 0.05, "lam": 1e-5, "decay": 0.25, "epsilon": 1e-5, "tet_lam": 0.0,
          "tet_phi": 1.0}
_DVS = {"eta": 0.001, "lam": 5e-5, "decay": 0.5, "epsilon": 1e-5, "tet_lam": 1e-3,
        "tet_phi": 1.0}


def _cifar(name, classes):
    return Preset(
        name=f"{name}_resnet19", dataset=name, num_classes=classes,
        description=f"CIFAR-{classes} with ResNet-19 (paper Table 1/2; hyperparameters: "
                    "paper Table S2, docs/method.md#hyperparameters).",
        network="ResNet-19", model_builder=_resnet19, hyperparameters=dict(_CIFAR),
        timesteps=6, timestep_choices=(6, 4, 2), input="32x32x3, repeated",
        augmentation="crop, flip, cutout")


PRESETS = {p.name: p for p in (
    _cifar("cifar10", 10),
    _cifar("cifar100", 100),
    Preset(
        name="imagenet100_sew_resnet34", dataset="imagenet100", num_classes=100,
        description="ImageNet-100 with SEW-ResNet-34 (paper Table 1; hyperparameters: "
                    "paper Table S2, docs/method.md#hyperparameters).",
        network="SEW-ResNet-34", model_builder=_sew_resnet34,
        hyperparameters={**_DVS}, tau=1.0, timesteps=4, loader_settings=_imagenet_loader,
        options={"image_size": PresetOption(
            224, "training/test crop side (the test resize keeps 256/224)", int)},
        input="224x224x3, repeated", augmentation="random resized crop, flip"),
    Preset(
        name="dvs_cifar10_vggsnn", dataset="dvs_cifar10", num_classes=10,
        description="DVS-CIFAR10 (CIFAR10-DVS) with VGGSNN (paper Tables 1/2: TRT 83.20, "
                    "SDT 78.50).",
        network="VGGSNN", model_builder=_vggsnn, hyperparameters=dict(_DVS), timesteps=10,
        loader_settings=_dvs_loader, options={"frame_size": _FRAME_SIZE, "frames": _FRAMES},
        paper={"trt": 83.20, "sdt": 78.50}, input="10 frames 48x48x2",
        augmentation="flip, roll"),
    Preset(
        name="ncaltech101_vggsnn", dataset="ncaltech101", num_classes=101,
        description="N-Caltech101 with VGGSNN (paper Table 1; hyperparameters: paper "
                    "Table S2, docs/method.md#hyperparameters).",
        network="VGGSNN", model_builder=_vggsnn, hyperparameters={**_DVS, "eta": 0.05},
        timesteps=10, loader_settings=_dvs_loader,
        options={"frame_size": _FRAME_SIZE, "frames": _FRAMES},
        input="10 frames 48x48x2", augmentation="none"),
    Preset(
        # Not an experiment of the paper: embedded data (no download), a small network,
        # DVS-CIFAR10's TRT values and TET's official DVS lambda.
        name="quickstart", dataset="digits_dvs", num_classes=10,
        description="Quick start: SDT, TET and TRT on the embedded event-camera digits, "
                    "in a few minutes on a CPU.",
        network=f"VGGSNN(widths={QUICK_WIDTHS})", model_builder=_small_vggsnn,
        hyperparameters=dict(_DVS), epochs=5, batch_size=32, timesteps=10,
        loader_settings=lambda settings, split: {"timesteps": settings.timesteps},
        needs_data_dir=False, input="10 frames 32x32x2", augmentation="none"),
)}


def get_preset(name):
    """The preset called `name` (a key of `PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose from {', '.join(PRESETS)}.")
    return PRESETS[name]
