"""Shared test setup. The suite runs once per Keras backend:

    KERAS_BACKEND=torch pytest tests; KERAS_BACKEND=tensorflow pytest tests; ...

Markers:
- `backend_independent`: the test exercises no Keras backend code (e.g. a tf.data or
  tonic pipeline on its own); it runs in the tensorflow process only, to keep CI short.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.support import BACKEND  # noqa: E402

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


@pytest.fixture
def penalty_added_by_the_caller():
    """Runs the test inside `kt.losses.weight_penalty_scope()`: the caller's promise that
    it adds the weight penalty itself, without which a TRTLoss refuses to compute its
    data term."""
    import keras_trt as kt

    with kt.losses.weight_penalty_scope():
        yield


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
