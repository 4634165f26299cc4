"""Loader arguments shared with layers and models (timesteps=), progress lines, documented sizes."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import keras_trt as kt
from keras_trt.data.events import EVENT_DTYPE, frame_events
from keras_trt.data.progress import Progress

pytestmark = pytest.mark.backend_independent
ROOT = Path(__file__).resolve().parents[2]


def _first(ds):
    x, y = next(iter(ds))
    return x.numpy(), y.numpy()


def test_timesteps_is_the_name_and_T_is_a_deprecated_alias(dvs_cifar10_dir, tmp_path):
    root, _ = dvs_cifar10_dir
    kw = dict(data_dir=root, batch_size=2, size=8, shuffle=False, augment=False,
              cache_dir=tmp_path, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)          # 2 of the 10 classes present
        warnings.simplefilter("error", DeprecationWarning)    # timesteps= warns about nothing
        x, y = _first(kt.data.dvs_cifar10("test", timesteps=3, **kw))
    assert x.shape == (2, 3, 8, 8, 2)
    with pytest.warns(DeprecationWarning, match=r"T= is deprecated.*timesteps=3") as record, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        old = _first(kt.data.dvs_cifar10("test", T=3, **kw))
    # The warning points at the caller's line, not at keras_trt's internals.
    assert any(w.filename == __file__ for w in record if w.category is DeprecationWarning)
    np.testing.assert_array_equal(old[0], x)
    with pytest.raises(TypeError, match="both timesteps=4 and its deprecated alias T=3"), \
            pytest.warns(DeprecationWarning):
        kt.data.ncaltech101("train", data_dir=root, timesteps=4, T=3)
    with pytest.raises(ValueError, match="timesteps must be a positive integer"):
        kt.data.ncaltech101("train", data_dir=root, timesteps=0)
    with pytest.raises(ValueError, match="num_workers must be a positive integer"):
        kt.data.dvs_cifar10("test", num_workers=0, **kw)      # checked even with a cache


def test_frame_events_takes_timesteps_too():
    ev = np.zeros(6, EVENT_DTYPE)
    ev["t"], ev["x"], ev["p"] = np.arange(6), np.arange(6) % 3, 1
    f = frame_events(ev, sensor_size=(3, 1, 2), timesteps=3, size=None)
    np.testing.assert_array_equal(f[..., 1].sum(axis=(1, 2)), [2, 2, 2])
    with pytest.warns(DeprecationWarning, match="timesteps=2"):
        g = frame_events(ev, sensor_size=(3, 1, 2), T=2, size=None)
    np.testing.assert_array_equal(g[..., 1].sum(axis=(1, 2)), [3, 3])


def test_digits_dvs_timesteps_and_its_documented_split(digits_cache):
    from keras_trt.data import digits
    from sklearn.datasets import load_digits

    # Independent count: per class floor(0.8 n) train.
    labels = load_digits().target
    n_train = sum(int(0.8 * (labels == c).sum()) for c in range(10))
    assert (n_train, len(labels) - n_train) == (1433, 364)
    for doc in (digits.__doc__, digits.digits_dvs.__doc__):
        assert "1,433" in doc and "364" in doc and "1,438" not in doc and "359" not in doc
    x, _ = _first(kt.data.digits_dvs("test", timesteps=2, size=8, batch_size=4,
                                     cache_dir=digits_cache, verbose=0))
    assert x.shape == (4, 2, 8, 8, 2)


def test_building_the_cache_prints_progress_unless_verbose_0(dvs_cifar10_dir, tmp_path, capfd):
    root, _ = dvs_cifar10_dir
    kw = dict(data_dir=root, batch_size=4, size=8, timesteps=2, cache_dir=tmp_path)
    with pytest.warns(UserWarning):
        kt.data.dvs_cifar10("test", verbose=0, **kw)
    assert capfd.readouterr().err == ""
    with pytest.warns(UserWarning):
        kt.data.dvs_cifar10("train", **kw)                   # verbose=1 is the default
    err = capfd.readouterr().err.splitlines()
    assert err[0] == "dvs_cifar10 train: framing: 18 recordings (once; later runs read the cache)"
    assert err[-1].startswith("dvs_cifar10 train: framing: 18/18 recordings done in ")
    with pytest.warns(UserWarning):
        kt.data.dvs_cifar10("train", **kw)                   # from the cache: nothing to say
    assert capfd.readouterr().err == ""


def test_progress_lines_are_periodic(capsys):
    progress = Progress(4, "job", interval=0.0, unit="files", stream=None)
    for i in range(1, 5):
        progress.update(i)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "job: 4 files (once; later runs read the cache)"
    assert lines[1].startswith("job: 1/4 files (25%), ") and lines[1].endswith(" left")
    assert lines[3].startswith("job: 3/4 files (75%), ")
    assert lines[4].startswith("job: 4/4 files done in ") and len(lines) == 5
    quiet = Progress(4, "job", verbose=0, interval=0.0)
    quiet.update(4)
    slow = Progress(4, "job", interval=3600.0)
    slow.update(1)
    slow.update(2)                                           # not due: no line
    slow.update(4)
    assert len(capsys.readouterr().err.splitlines()) == 2    # start and end only


def test_a_missing_tensorflow_names_the_extras_to_install():
    # A fresh interpreter in which `import tensorflow` fails, as on a torch-only install.
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "import keras_trt as kt\n"
            "try:\n"
            "    kt.data.digits_dvs\n"
            "except ImportError as error:\n"
            "    print(error)\n")
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "keras-trt[tensorflow]" in out.stdout and "keras-trt[tensorflow-cpu]" in out.stdout
