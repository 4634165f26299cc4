"""Data-parallel scaling of a small VGGSNN: one device vs two, per backend, with
`kt.distribute.auto(sync_batch_norm=True)`.

TensorFlow and JAX run in one subprocess each with two virtual CPU devices (TensorFlow:
two logical CPU devices; JAX: `--xla_force_host_platform_device_count=2`); torch runs two
gloo processes under torchrun when `keras_trt.backend.distribute.torch` is installed. Each
trains the same global batches from the same initial weights once on one device and once
on two, and prints the median step time of both and the largest weight difference after
the last step (sync tdBN and the once-per-step TRT penalty make the two runs the same
computation).

    python benchmarks/scaling.py                       # tensorflow, jax, torch
    python benchmarks/scaling.py --backends jax --steps 10 --batch 32

Virtual CPU devices share the machine's cores, so two of them are not faster than one:
the step times show the cost of the engine's synchronisation, not a GPU speed-up.
"""

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys

import setup_common as setup   # this script's folder is first on sys.path
import timing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
BACKENDS = ("tensorflow", "jax", "torch")


def _setup_devices(backend):
    if backend == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def _train(args, distributed):
    """Median step time (ms) and final weights of `args.steps` steps (+1 warm-up)."""
    import keras
    import numpy as np

    import keras_trt as kt

    times = []
    context = kt.distribute.auto(sync_batch_norm=True) if distributed else (
        contextlib.nullcontext())
    with context:
        keras.utils.set_random_seed(0)
        model = setup.vggsnn(args.timesteps, 32, widths=(8, 16, 16, 32))
        setup.compile_trt(model, optimizer=keras.optimizers.SGD(0.1), lam=1e-3,
                          jit=keras.backend.backend() == "jax")
        x, y = setup.random_batch(model.input_shape[1:], args.batch * (args.steps + 1))
        batch = args.batch
        if distributed and keras.backend.backend() == "torch":
            x, y = kt.distribute.shard_dataset((x, y))
            batch //= kt.distribute.num_replicas()
        # fit drives the steps (the engines distribute fit's loop): timed per batch
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0,
                  callbacks=[timing.step_times_callback(times)])
        replicas = kt.distribute.num_replicas()
        weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]
    return {"ms_per_step": timing.summary(times[1:])["median_ms"],
            "replicas": replicas}, weights


def worker(args):
    import keras
    import numpy as np

    backend = keras.backend.backend()
    one, w1 = _train(args, distributed=False)
    two, w2 = _train(args, distributed=True)
    import keras_trt as kt
    if not kt.distribute.is_chief():
        return
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2))
    timing.emit({"backend": backend, "one_device_ms": one["ms_per_step"],
          "two_devices_ms": two["ms_per_step"], "replicas": two["replicas"],
          "max_weight_diff": diff})


def run_backend(backend, args):
    common = ["--worker", "--batch", str(args.batch), "--steps", str(args.steps),
              "--timesteps", str(args.timesteps)]
    script = os.path.abspath(__file__)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if backend == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    if backend == "torch":
        if importlib.util.find_spec("keras_trt.backend.distribute.torch") is None:
            return {"backend": "torch", "skipped": "keras_trt.backend.distribute.torch is not "
                    "installed: no torch data-parallel engine to measure"}
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                   script, *common]
    else:
        command = [sys.executable, script, *common]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    return {"backend": backend, **timing.parse_result(out.stdout, out.stderr, out.returncode)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--batch", type=int, default=16, help="global batch")
    p.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up)")
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        import keras
        _setup_devices(keras.backend.backend())
        worker(args)
        return
    print(f"{timing.machine_description()}; small VGGSNN (widths 8,16,16,32), 32x32x2 input, "
          f"T={args.timesteps}, global batch {args.batch}, {args.steps} timed steps")
    print(f"{'backend':<11}{'1 device ms':>13}{'2 devices ms':>14}{'ratio':>7}"
          f"{'max |w1 - w2|':>15}")
    for backend in args.backends.split(","):
        r = run_backend(backend, args)
        if "skipped" in r or "error" in r:
            print(f"{backend:<11}{r.get('skipped') or 'error: ' + r['error']}")
            continue
        print(f"{backend:<11}{r['one_device_ms']:>13.1f}{r['two_devices_ms']:>14.1f}"
              f"{r['two_devices_ms'] / r['one_device_ms']:>7.2f}{r['max_weight_diff']:>15.2e}")


if __name__ == "__main__":
    main()
