"""Fixtures of the recipe tests: the recipe scripts loaded as modules, tiny datasets in
their genuine on-disk formats (keras_trt.testing.datasets' writers), one data cache per
session."""

import importlib.util

import numpy as np
import pytest

from keras_trt.testing.datasets import (make_events, write_aedat4, write_atis_bin,
                                         write_cifar_archive)
from tests.recipes.run_folder import RECIPES


@pytest.fixture(scope="session")
def recipe_module():
    """A recipe script as a module, by name: recipe_module("cifar10_resnet19").main([...])."""
    loaded = {}

    def load(name):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(f"recipe_{name}",
                                                          RECIPES / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    return load


@pytest.fixture(scope="session", autouse=True)
def _cache(session_data_cache):
    """Framed DVS data and digits_dvs events are cached in a session folder."""


@pytest.fixture(scope="session")
def dvs_cifar10_root(tmp_path_factory):
    """<root>/CIFAR10DVS/<class>/<i>.aedat4: 2 classes x 5 recordings (4 train, 1 test)."""
    root = tmp_path_factory.mktemp("recipe_dvs_cifar10")
    rng = np.random.default_rng(0)
    for cls in ("airplane", "cat"):
        d = root / "CIFAR10DVS" / cls
        d.mkdir(parents=True)
        for i in range(5):
            write_aedat4(d / f"{i}.aedat4", make_events(rng, 400, 128, 128))
    return root


@pytest.fixture(scope="session")
def ncaltech101_root(tmp_path_factory):
    """<root>/NCALTECH101/Caltech101/<class>/image_XXXX.bin: 2 classes x 11 recordings
    (ceil(0.9 * 11) = 10 train, 1 test each)."""
    root = tmp_path_factory.mktemp("recipe_ncaltech101")
    rng = np.random.default_rng(1)
    for cls in ("BACKGROUND_Google", "accordion"):
        d = root / "NCALTECH101" / "Caltech101" / cls
        d.mkdir(parents=True)
        for i in range(1, 12):
            write_atis_bin(d / f"image_{i:04d}.bin",
                                   make_events(rng, 300, 240, 180))
    return root


@pytest.fixture(scope="session")
def imagenet_root(tmp_path_factory):
    """<root>/{train,val}/<wnid>/*.JPEG for 2 of the 100 listed wnids."""
    from PIL import Image

    root = tmp_path_factory.mktemp("recipe_imagenet")
    rng = np.random.default_rng(3)
    for split, per_class in (("train", 3), ("val", 2)):
        for wnid in ("n01558993", "n02009229"):
            d = root / split / wnid
            d.mkdir(parents=True)
            for k in range(per_class):
                arr = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{wnid}_{k}.JPEG", quality=90)
    return root


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    """A tensorflow-datasets folder with tiny CIFAR-10/100 (48 train + 16 test images),
    prepared offline by tfds' genuine builders from CIFAR binary-format archives."""
    from tensorflow_datasets.core.download import checksums
    from tensorflow_datasets.image_classification import cifar

    from keras_trt.data.cifar import tfds_builder

    root = tmp_path_factory.mktemp("recipe_tfds")
    manual = root / "downloads" / "manual"
    manual.mkdir(parents=True)
    rng = np.random.default_rng(2)
    with pytest.MonkeyPatch.context() as mp:
        for name, classes, cls in (("cifar10", 10, cifar.Cifar10),
                                   ("cifar100", 100, cifar.Cifar100)):
            fname = f"{name.replace('cifar', 'cifar-')}-binary.tar.gz"
            write_cifar_archive(manual / fname, name,
                                   rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8),
                                   rng.integers(0, classes, 64))
            info = checksums.compute_url_info(manual / fname)
            info = checksums.UrlInfo(size=info.size, checksum=info.checksum, filename=fname)
            # The real checksums would reject the tiny archives; all else is genuine tfds.
            mp.setattr(cls, "url_infos", {f"https://www.cs.toronto.edu/~kriz/{fname}": info})
            tfds_builder(name, data_dir=str(root))
    return root
