"""The frame cache is never half-written: failed, interrupted or killed builds commit nothing."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_trt.data import cache

pytestmark = pytest.mark.backend_independent
CACHE_PY = os.path.abspath(cache.__file__)


def _good_builder(tmp):
    cache.save_npy(os.path.join(tmp, "x.npy"), np.arange(12, dtype=np.float32).reshape(4, 3))
    cache.save_npy(os.path.join(tmp, "y.npy"), np.arange(4, dtype=np.int32))


def _check_good(arrays):
    np.testing.assert_array_equal(arrays["x"], np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(arrays["y"], np.arange(4))


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_builder_raising_mid_write_commits_nothing(error, tmp_path):
    entry = cache.entry_dir("demo", {"k": 1}, tmp_path)

    def failing_builder(tmp):
        x = np.lib.format.open_memmap(os.path.join(tmp, "x.npy"), mode="w+", dtype=np.float32,
                                      shape=(4, 3))
        x[:2] = 1.0             # half of the rows written, then the producer dies
        x.flush()
        cache.save_npy(os.path.join(tmp, "y.npy"), np.arange(4, dtype=np.int32))
        raise error("interrupted")

    with pytest.raises(error, match="interrupted"):
        cache.build(entry, failing_builder)
    assert os.listdir(tmp_path / "demo") == []         # no entry, no .tmp folder
    assert cache.load(entry) is None
    _check_good(cache.build(entry, _good_builder))     # the next run builds it properly


def test_killed_build_leaves_nothing_that_loads(tmp_path):
    # A process killed (SIGKILL: no finally, no cleanup) in the middle of writing x.npy.
    # cache.py needs only numpy, so it is loaded from its file (no Keras import: fast).
    script = textwrap.dedent(f"""
        import importlib.util, os, signal
        import numpy as np
        spec = importlib.util.spec_from_file_location("cache", {CACHE_PY!r})
        cache = importlib.util.module_from_spec(spec); spec.loader.exec_module(cache)
        def builder(tmp):
            x = np.lib.format.open_memmap(os.path.join(tmp, "x.npy"), mode="w+",
                                          dtype=np.float32, shape=(4, 3))
            x[:2] = 7.0
            x.flush()
            cache.save_npy(os.path.join(tmp, "y.npy"), np.arange(4, dtype=np.int32))
            with open(os.path.join(tmp, "meta.json"), "w") as f:
                f.write("{{}}")   # even a meta.json inside the temporary folder is not trusted
            os.kill(os.getpid(), signal.SIGKILL)
        cache.build(cache.entry_dir("demo", {{"k": 1}}, {str(tmp_path)!r}), builder)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    left = os.listdir(tmp_path / "demo")
    assert len(left) == 1 and left[0].startswith(".tmp-")   # only the temporary folder
    entry = cache.entry_dir("demo", {"k": 1}, tmp_path)
    assert cache.load(entry) is None
    _check_good(cache.build(entry, _good_builder))


def test_a_broken_entry_folder_is_rebuilt_not_trusted(tmp_path):
    entry = cache.entry_dir("demo", {"k": 2}, tmp_path)
    os.makedirs(entry)
    # A folder at the entry's place that does not load: truncated x.npy, meta.json present.
    np.save(os.path.join(entry, "x.npy"), np.zeros((4, 3), np.float32))
    with open(os.path.join(entry, "x.npy"), "r+b") as f:
        f.truncate(100)
    np.save(os.path.join(entry, "y.npy"), np.zeros(4, np.int32))
    with open(os.path.join(entry, "meta.json"), "w") as f:
        f.write("{}")
    assert cache.load(entry) is None
    _check_good(cache.build(entry, _good_builder))
    assert sorted(os.listdir(tmp_path / "demo")) == [os.path.basename(entry)]
    assert sorted(os.listdir(entry)) == ["meta.json", "x.npy", "y.npy"]
