"""keras_trt.atomic_io: atomic JSON writes and the one folder sync used by the run state
(callbacks/exact_resume.py) and the dataset cache (data/cache.py)."""

import json
import os

from keras_trt import atomic_io
from keras_trt.callbacks import exact_resume
from keras_trt.data import cache


def test_write_json_atomic_leaves_no_temporary(tmp_path):
    path = atomic_io.write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert json.load(open(path)) == {"a": 1}
    assert os.listdir(tmp_path) == ["r.json"]


def test_fsync_dir_syncs_the_folder_and_tolerates_a_missing_one(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.fstat(fd).st_ino))
    atomic_io.fsync_dir(tmp_path)
    assert synced == [os.stat(tmp_path).st_ino]
    atomic_io.fsync_dir(tmp_path / "missing")   # no error: nothing to sync
    assert len(synced) == 1


def test_one_fsync_dir_for_the_run_state_and_the_cache():
    assert exact_resume.fsync_dir is atomic_io.fsync_dir
    assert cache.fsync_dir is atomic_io.fsync_dir
