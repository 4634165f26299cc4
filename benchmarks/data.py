"""Input-pipeline throughput: samples per second of each keras-trt loader that runs here.

    python benchmarks/data.py [--quick]
    python benchmarks/data.py --framing 1000 [--events 50000] [--workers 2] [--format bin]

digits_dvs is measured three ways: the first call (event generation + framing, both
cached afterwards), the first epoch reading a fresh cache, and a later epoch. The other
pipelines run on small synthetic datasets written in their genuine formats (the same
writers as the tests), so their numbers are per-sample costs of decoding, framing and
augmentation, not of a real disk. Prints a Markdown table.

``--framing N`` instead compares the ways of framing N recordings the first time (the
slow, once-per-dataset step of the DVS loaders): one thread, the loaders' thread pool,
and two process pools ("spawn", which re-runs an unguarded main script in every worker,
and joblib's loky, which does not), each with ``--workers`` workers. The recordings are
written in their genuine format (``--format bin``: N-Caltech101's 40-bit ATIS events on
its 240x180 sensor; ``aedat4``: CIFAR10-DVS on 128x128) with ``--events`` random events
each, and read once before timing so every variant reads them from the page cache.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# the writers of the genuine file formats that the tests use too
from keras_trt.testing.datasets import (  # noqa: E402
    make_events, write_aedat4, write_atis_bin, write_cifar_archive)


def epoch(ds):
    n, t0 = 0, time.perf_counter()
    for _, y in ds:
        n += int(y.shape[0])
    return n, time.perf_counter() - t0


def row(rows, name, n, seconds, note=""):
    rows.append((name, n, seconds, n / seconds if seconds else float("inf"), note))


def main(quick=False):
    import keras_trt as kt

    rows = []
    tmp = tempfile.mkdtemp(prefix="kt-bench-")
    cache = os.path.join(tmp, "cache")

    # digits_dvs: generation + framing, then cached epochs.
    t0 = time.perf_counter()
    ds = kt.data.digits_dvs("train", cache_dir=cache, batch_size=64, verbose=0)
    t_build = time.perf_counter() - t0
    row(rows, "digits_dvs train: generate events + frame (once)", 1433, t_build, "cached after")
    row(rows, "digits_dvs train: epoch 1 (from cache)", *epoch(ds))
    row(rows, "digits_dvs train: epoch 2", *epoch(ds))
    ds = kt.data.digits_dvs("train", cache_dir=cache, batch_size=64, augment=True)
    row(rows, "digits_dvs train + flip/roll augmentation", *epoch(ds))

    rng = np.random.default_rng(0)
    n_rec = 10 if quick else 40
    n_ev = 20_000   # a CIFAR10-DVS recording has ~100k-200k events; scale accordingly
    root = os.path.join(tmp, "dvs")
    for cls in ("airplane", "cat"):
        d = os.path.join(root, "CIFAR10DVS", cls)
        os.makedirs(d)
        for i in range(n_rec):
            write_aedat4(os.path.join(d, f"{i}.aedat4"), make_events(rng, n_ev, 128, 128))
    import warnings
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    ds = kt.data.dvs_cifar10("train", data_dir=root, cache_dir=cache, num_workers=1,
                             verbose=0)
    n = len(np.concatenate([y for _, y in ds]))
    row(rows, f"dvs_cifar10 (.aedat4, {n_ev} events): read + frame + 48x48", n,
        time.perf_counter() - t0, "1 process")
    row(rows, "dvs_cifar10 train epoch from cache + augmentation", *epoch(ds))

    root = os.path.join(tmp, "ncal")
    for cls in ("a", "b"):
        d = os.path.join(root, "Caltech101", cls)
        os.makedirs(d)
        for i in range(n_rec):
            write_atis_bin(os.path.join(d, f"image_{i:04d}.bin"),
                           make_events(rng, n_ev, 240, 180))
    t0 = time.perf_counter()
    ds = kt.data.ncaltech101("train", data_dir=root, cache_dir=cache, num_workers=1,
                             verbose=0)
    n = len(np.concatenate([y for _, y in ds]))
    row(rows, f"ncaltech101 (.bin, {n_ev} events): read + frame + 48x48", n,
        time.perf_counter() - t0, "1 process")
    row(rows, "ncaltech101 train epoch from cache", *epoch(ds))

    # CIFAR-10 through tfds (a small archive prepared offline, repeated).
    import tensorflow_datasets as tfds
    tfds.display_progress_bar(False)
    from tensorflow_datasets.core.download import checksums
    from tensorflow_datasets.image_classification import cifar

    n_img = 512 if quick else 2048
    manual = os.path.join(tmp, "tfds", "downloads", "manual")
    os.makedirs(manual)
    archive = os.path.join(manual, "cifar-10-binary.tar.gz")
    write_cifar_archive(archive, "cifar10",
                        rng.integers(0, 256, (n_img + 16, 32, 32, 3), dtype=np.uint8),
                        rng.integers(0, 10, n_img + 16))
    info = checksums.compute_url_info(archive)
    cifar.Cifar10.url_infos = {"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz":
                               checksums.UrlInfo(info.size, info.checksum, "cifar-10-binary.tar.gz")}
    ds = kt.data.cifar10("train", data_dir=os.path.join(tmp, "tfds"), batch_size=64)
    row(rows, "cifar10 train epoch 1 (decode + crop/flip/cutout)", *epoch(ds))
    row(rows, "cifar10 train epoch 2 (in-memory cache)", *epoch(ds))

    # ImageNet-100: a few JPEGs of ImageNet's typical size.
    from PIL import Image
    for split in ("train", "val"):
        d = os.path.join(tmp, "imagenet", split, "n01558993")
        os.makedirs(d)
        for k in range(16 if quick else 64):
            Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(
                os.path.join(d, f"{k}.JPEG"), quality=90)
    for split in ("train", "test"):
        ds = kt.data.imagenet100(split, data_dir=os.path.join(tmp, "imagenet"), batch_size=16)
        row(rows, f"imagenet100 {split} (decode + {'RandomResizedCrop' if split == 'train' else 'resize/crop'})",
            *epoch(ds))

    print(f"\n{os.cpu_count()} CPU cores\n")
    print("| pipeline | samples | seconds | samples/s | note |")
    print("|---|---|---|---|---|")
    for name, n, s, rate, note in rows:
        print(f"| {name} | {n} | {s:.2f} | {rate:,.0f} | {note} |")


def write_recordings(folder, n, n_events, fmt, seed=0):
    """`n` recordings in their genuine on-disk format; returns their paths."""

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    width, height = (240, 180) if fmt == "bin" else (128, 128)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"{i:05d}.{fmt}")
        if not os.path.exists(path):
            ev = make_events(rng, n_events, width, height, duration_us=300_000)
            (write_atis_bin if fmt == "bin" else write_aedat4)(path, ev)
        paths.append(path)
    return paths


def _process_pool_frames(paths, reader, out, workers, start, frame_kwargs):
    """Frame `paths` in a process pool: "spawn" (concurrent.futures) or joblib's "loky"."""
    import functools

    from keras_trt.data.events import frame_file

    job = functools.partial(frame_file, reader, **frame_kwargs)
    if start == "loky":
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=workers, backend="loky", return_as="generator")(
            delayed(job)(p) for p in paths)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start))
        results = pool.map(job, paths, chunksize=8)
    for i, frames in enumerate(results):
        out[i] = frames
    if start != "loky":
        pool.shutdown()


def parallel_headroom(workers, jobs=8):
    """Speed-up of a GIL-free numpy job on `workers` threads over one: how many cores were
    really free during the measurement (about 1.0 on a machine saturated by other work)."""
    from concurrent.futures import ThreadPoolExecutor

    def job(_):
        a = np.random.default_rng(0).random(2_000_000)
        for _ in range(10):
            a = np.sqrt(a * 1.0001)

    t0 = time.perf_counter()
    for i in range(jobs):
        job(i)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(job, range(jobs)))
    return one / (time.perf_counter() - t0)


def framing(n, n_events, workers, fmt, data_dir=None):
    """Seconds to frame `n` recordings: serial, threads, spawn and loky process pools."""
    import platform

    from keras_trt.data import events

    folder = data_dir or os.path.join(tempfile.gettempdir(), f"kt-framing-{fmt}-{n_events}")
    t0 = time.perf_counter()
    paths = write_recordings(folder, n, n_events, fmt)
    print(f"{n} .{fmt} recordings of {n_events} events in {folder} "
          f"({time.perf_counter() - t0:.0f} s to write)", flush=True)
    for p in paths:  # into the page cache, so no variant pays for the first disk read
        with open(p, "rb") as f:
            f.read()
    reader = "atis_bin" if fmt == "bin" else "aedat4"
    kwargs = dict(sensor_size=(240, 180, 2), extend_last=True) if fmt == "bin" else dict(
        sensor_size=(128, 128, 2), normalize="max")
    kwargs.update(timesteps=10, size=(48, 48))
    # tonic (and torch under it) imported here, not inside the first variant's time.
    events.frame_files(paths[:1], reader, np.zeros((1, 10, 48, 48, 2), np.float32), **kwargs)
    variants = [("serial (1 thread)", lambda out: events.frame_files(
                    paths, reader, out, num_workers=1, **kwargs)),
                (f"threads ({workers}), the loaders' default", lambda out: events.frame_files(
                    paths, reader, out, num_workers=workers, **kwargs)),
                (f"process pool, spawn ({workers})", lambda out: _process_pool_frames(
                    paths, reader, out, workers, "spawn", kwargs)),
                (f"process pool, joblib loky ({workers})", lambda out: _process_pool_frames(
                    paths, reader, out, workers, "loky", kwargs))]
    rows, reference = [], None
    headroom = [parallel_headroom(workers)]
    for name, run in variants:
        out = np.zeros((n, 10, 48, 48, 2), np.float32)
        t0 = time.perf_counter()
        run(out)
        seconds = time.perf_counter() - t0
        if reference is None:
            reference = out
        assert np.array_equal(out, reference), f"{name} framed differently"
        rows.append((name, seconds))
        print(f"  {name}: {seconds:.1f} s", flush=True)
    headroom.append(parallel_headroom(workers))
    print(f"\n{os.cpu_count()} CPU cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}; a GIL-free numpy control ran "
          f"{headroom[0]:.2f}x / {headroom[1]:.2f}x faster on {workers} threads than on one "
          f"(before / after; {workers:.1f}x means {workers} free cores), load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print(f"| framing {n} .{fmt} recordings ({n_events} events) | seconds | recordings/s | "
          "vs serial |")
    print("|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {n / seconds:.0f} | {rows[0][1] / seconds:.2f}x |")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="smaller synthetic datasets")
    p.add_argument("--framing", type=int, metavar="N",
                   help="compare serial / threads / process pools framing N recordings")
    p.add_argument("--events", type=int, default=50_000, help="events per recording")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--format", choices=("bin", "aedat4"), default="bin")
    p.add_argument("--data-dir", help="where to write (and reuse) the recordings")
    a = p.parse_args()
    if a.framing:
        framing(a.framing, a.events, a.workers, a.format, a.data_dir)
    else:
        main(a.quick)
