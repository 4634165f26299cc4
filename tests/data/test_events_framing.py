"""Parallel framing of many recordings: correct, fail-fast, and usable from any kind of script.

A "spawn"/"forkserver" process pool re-runs the main script in every worker, so a plain
script without an ``if __name__ == "__main__":`` guard used to die (BrokenProcessPool)
once a split had 64 or more recordings. These tests run the public loader on 66
genuine-format recordings (the train split of 72) from an unguarded script, from
``python -c`` and from an unguarded runner that ``exec``s the code the way a notebook
kernel runs a cell.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from keras_trt.data import events as events_mod
from keras_trt.testing.datasets import make_events, write_atis_bin

pytestmark = pytest.mark.backend_independent
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PER_CLASS = 36            # 2 classes: 72 recordings; ceil(0.9 * 36) = 33 train per class


@pytest.fixture(scope="module")
def many_recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(7)
    paths, events = [], []
    for cls in ("a", "b"):
        d = root / "Caltech101" / cls
        d.mkdir(parents=True)
        for i in range(1, PER_CLASS + 1):
            ev = make_events(rng, 60 + i, 240, 180)
            write_atis_bin(d / f"image_{i:04d}.bin", ev)
            paths.append(str(d / f"image_{i:04d}.bin"))
            events.append(ev)
    return root, paths, events


def _hand_frames(ev, T, size):
    """Per-polarity counts by event number (remainder in the last frame), each channel
    resized with Pillow's bilinear filter: (T, size, size, 2)."""
    n = len(ev) // T
    counts = np.zeros((T, 180, 240, 2), np.float32)
    for i in range(T):
        for e in (ev[i * n:(i + 1) * n] if i < T - 1 else ev[i * n:]):
            counts[i, e["y"], e["x"], e["p"]] += 1
    out = np.zeros((T, size, size, 2), np.float32)
    for t in range(T):
        for c in range(2):
            out[t, :, :, c] = np.asarray(Image.fromarray(counts[t, :, :, c], "F").resize(
                (size, size), Image.BILINEAR))
    return out


def test_threads_frame_every_recording_in_order(many_recordings):
    _, paths, events = many_recordings
    out = np.zeros((len(paths), 3, 12, 12, 2), np.float32)
    events_mod.frame_files(paths, "atis_bin", out, num_workers=3, sensor_size=(240, 180, 2),
                           timesteps=3, size=(12, 12), extend_last=True)
    for i in (0, 1, 35, 40, 71):
        np.testing.assert_allclose(out[i], _hand_frames(events[i], 3, 12), rtol=1e-5, atol=1e-5)
    serial = np.zeros_like(out)
    events_mod.frame_files(paths, "atis_bin", serial, num_workers=1, sensor_size=(240, 180, 2),
                           timesteps=3, size=(12, 12), extend_last=True)
    np.testing.assert_array_equal(out, serial)


def test_a_corrupt_file_among_many_stops_the_threads_and_is_named(many_recordings, tmp_path,
                                                                  monkeypatch):
    _, paths, _ = many_recordings
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 7)
    framed = []
    real = events_mod.frame_events

    def counting(*args, **kwargs):
        framed.append(1)
        return real(*args, **kwargs)

    out = np.zeros((len(paths) + 1, 1, 4, 4, 2), np.float32)
    jobs = paths[:3] + [str(bad)] + paths[3:]
    monkeypatch.setattr(events_mod, "frame_events", counting)
    with pytest.raises(ValueError, match="bad.bin"):
        events_mod.frame_files(jobs, "atis_bin", out, num_workers=2, sensor_size=(240, 180, 2),
                               timesteps=1, size=4)
    # The look-ahead is 4 jobs per thread: the rest of the 73 were never started.
    assert len(framed) <= 3 + 4 * 2 + 1


LOADER_CODE = """
import warnings
warnings.simplefilter("ignore")          # the 101-classes warning of this small folder
import numpy as np
import keras_trt as kt
ds = kt.data.ncaltech101("train", data_dir={data!r}, cache_dir={cache!r}, batch_size=16,
                         size=8, shuffle=False, num_workers=2)
x = np.concatenate([xb.numpy() for xb, _ in ds])
np.save({out!r}, x)
print("FRAMES", x.shape)
"""


def _command(how, code, folder):
    if how == "script":
        (folder / "train.py").write_text(code)
        return [sys.executable, str(folder / "train.py")]
    if how == "python -c":
        return [sys.executable, "-c", code]
    # An unguarded runner that executes a "cell" the way a notebook kernel does.
    (folder / "runner.py").write_text(textwrap.dedent(f"""
        code = {code!r}
        exec(compile(code, "<cell 1>", "exec"), {{"__name__": "__main__"}})
    """))
    return [sys.executable, str(folder / "runner.py")]


def test_unguarded_scripts_load_many_recordings(many_recordings, tmp_path):
    root, paths, events = many_recordings
    env = {**os.environ, "PYTHONPATH": ROOT, "KERAS_BACKEND": "tensorflow",
           "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
    procs = {}
    # The three start together: most of each run is importing TensorFlow and tonic.
    for how in ("script", "python -c", "exec"):
        folder = tmp_path / how.replace(" ", "")
        folder.mkdir()
        code = LOADER_CODE.format(data=str(root), cache=str(folder / "cache"),
                                  out=str(folder / "x.npy"))
        procs[how] = (folder, subprocess.Popen(_command(how, code, folder), cwd=folder, env=env,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True))
    results = {}
    try:
        for how, (folder, proc) in procs.items():
            out, err = proc.communicate(timeout=300)
            results[how] = (folder, proc.returncode, out, err)
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    train = list(range(33)) + list(range(36, 69))    # the first 33 of each class, in order
    for how, (folder, rc, out, err) in results.items():
        assert rc == 0, f"{how}: exit {rc}\n{err[-3000:]}"
        assert "FRAMES (66, 10, 8, 8, 2)" in out, how
        assert out.count("FRAMES") == 1, how         # the code ran once, not once per worker
        x = np.load(folder / "x.npy")
        for row in (0, 32, 33, 65):
            np.testing.assert_allclose(x[row], _hand_frames(events[train[row]], 10, 8),
                                       rtol=1e-5, atol=1e-5, err_msg=how)
