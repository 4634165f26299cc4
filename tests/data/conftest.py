"""Fixtures that write small datasets in their genuine on-disk formats (no network), with
keras_trt.testing.datasets' writers."""

import numpy as np
import pytest

from keras_trt.testing.datasets import (make_events, write_aedat4, write_atis_bin,
                                         write_cifar_archive)

@pytest.fixture(scope="session")
def dvs_cifar10_dir(tmp_path_factory):
    """<root>/CIFAR10DVS/{airplane,cat}/<i>.aedat4, 10 recordings each (unpadded numbers,
    as the real files), with their events: {(class, i): events}."""
    root = tmp_path_factory.mktemp("dvs_cifar10")
    rng = np.random.default_rng(0)
    events = {}
    for cls in ("airplane", "cat"):
        d = root / "CIFAR10DVS" / cls
        d.mkdir(parents=True)
        for i in range(10):
            ev = make_events(rng, 300 + 37 * i, 128, 128)
            write_aedat4(d / f"{i}.aedat4", ev)
            events[(cls, i)] = ev
    return root, events


@pytest.fixture(scope="session")
def ncaltech101_dir(tmp_path_factory):
    """<root>/NCALTECH101/Caltech101/{BACKGROUND_Google: 3, accordion: 11} .bin files."""
    root = tmp_path_factory.mktemp("ncaltech101")
    rng = np.random.default_rng(1)
    events = {}
    for cls, n in (("BACKGROUND_Google", 3), ("accordion", 11)):
        d = root / "NCALTECH101" / "Caltech101" / cls
        d.mkdir(parents=True)
        for i in range(1, n + 1):
            ev = make_events(rng, 203 + 11 * i, 240, 180)
            ev["x"] = np.maximum(ev["x"], 10)   # so a shift to 0 (tonic's) would show
            write_atis_bin(d / f"image_{i:04d}.bin", ev)
            events[(cls, i)] = ev
    return root, events


@pytest.fixture(scope="session")
def cifar_data(tmp_path_factory):
    """A tfds data_dir whose downloads/manual holds tiny CIFAR-10/100 archives (48 train +
    16 test images), and the images/labels written: {name: (images, labels)}."""
    root = tmp_path_factory.mktemp("tfds")
    manual = root / "downloads" / "manual"
    manual.mkdir(parents=True)
    rng = np.random.default_rng(2)
    content = {}
    for name, classes in (("cifar10", 10), ("cifar100", 100)):
        images = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
        images[:8] = 200  # constant images make crop padding and cutout holes visible
        labels = rng.integers(0, classes, 64)
        archive = manual / f"{name.replace('cifar', 'cifar-')}-binary.tar.gz"
        write_cifar_archive(archive, name, images, labels)
        content[name] = (images, labels)
    return root, content


@pytest.fixture
def register_fake_cifar_checksums(monkeypatch, cifar_data):
    """Register the fake archives' checksums in tfds' real Cifar10/Cifar100 builders (the
    real checksums would reject them); everything else is the genuine tfds code path."""
    from tensorflow_datasets.core.download import checksums
    from tensorflow_datasets.image_classification import cifar

    root, _ = cifar_data
    for cls, fname in ((cifar.Cifar10, "cifar-10-binary.tar.gz"),
                       (cifar.Cifar100, "cifar-100-binary.tar.gz")):
        path = root / "downloads" / "manual" / fname
        info = checksums.compute_url_info(path)
        info = checksums.UrlInfo(size=info.size, checksum=info.checksum, filename=fname)
        url = f"https://www.cs.toronto.edu/~kriz/{fname}"
        monkeypatch.setattr(cls, "url_infos", {url: info})
    return root


@pytest.fixture(scope="session")
def imagenet_dir(tmp_path_factory):
    """<root>/{train,val}/<wnid>/*.JPEG for 3 listed wnids and 1 unlisted folder."""
    from PIL import Image

    root = tmp_path_factory.mktemp("imagenet")
    wnids = ["n01558993", "n02009229", "n04592741", "n99999999"]  # last one is not listed
    sizes = [(300, 400), (500, 375), (256, 256)]
    rng = np.random.default_rng(3)
    for split, per_class in (("train", 3), ("val", 2)):
        for w in wnids:
            d = root / split / w
            d.mkdir(parents=True)
            for k in range(per_class):
                h, wd = sizes[k % len(sizes)]
                arr = rng.integers(0, 256, (h, wd, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{w}_{k}.JPEG", quality=90)
    return root, wnids[:3]


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory):
    """One cache folder for every digits_dvs test of the session (built on first use)."""
    return str(tmp_path_factory.mktemp("digits_cache"))

