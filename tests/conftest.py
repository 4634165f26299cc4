"""Shared test setup. The suite runs once per Keras backend:

    KERAS_BACKEND=torch pytest tests; KERAS_BACKEND=tensorflow pytest tests; ...

Markers:
- `backend_independent`: the test exercises no Keras backend code (e.g. a tf.data or
  tonic pipeline on its own); it runs in the tensorflow process only, to keep CI short.
"""

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()
HOME_BACKEND = "tensorflow"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backend_independent: runs under the tensorflow backend process only")


def pytest_collection_modifyitems(config, items):
    if BACKEND == HOME_BACKEND or os.environ.get("KERAS_TRT_TEST_ALL_BACKENDS"):
        return
    skip = pytest.mark.skip(reason=f"backend-independent: run in the {HOME_BACKEND} process")
    for item in items:
        if "backend_independent" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# What TensorFlow's C++ runtime prints to stderr when it starts, whatever
# TF_CPP_MIN_LOG_LEVEL says (absl's early messages).
_FRAMEWORK_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|"
                            r"[IWE]\d{4} [\d:. ]+|To enable the following instructions)")


def stderr_lines(text):
    """The lines of a subprocess's stderr, without TensorFlow's start-up log lines."""
    return [line for line in text.strip().splitlines() if not _FRAMEWORK_LOG.match(line)]


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="session")
def session_data_cache(tmp_path_factory):
    """Framed DVS data and digits_dvs events cached in a session folder, not in ~/.cache
    (test folders that train on them use it, autouse, from their conftest)."""
    old = os.environ.get("KERAS_TRT_CACHE_DIR")
    os.environ["KERAS_TRT_CACHE_DIR"] = str(tmp_path_factory.mktemp("keras_trt_cache"))
    yield os.environ["KERAS_TRT_CACHE_DIR"]
    if old is None:
        os.environ.pop("KERAS_TRT_CACHE_DIR", None)
    else:
        os.environ["KERAS_TRT_CACHE_DIR"] = old
