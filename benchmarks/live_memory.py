"""Peak of the live tensors of one VGGSNN training step on the torch backend (CPU).

`benchmarks/train_step.py` reports the process's peak resident memory, which includes
what the C heap keeps after tensors are freed; this counts the bytes of the tensors
themselves: torch.profiler's allocation events of one `train_on_batch` (after two
warm-up steps), summed in time order, the peak and the op running at the peak.

Usage: python benchmarks/live_memory.py T REMAT [WIDTH_DIVISOR]
    python benchmarks/live_memory.py 16 2      # VGGSNN(remat=True, remat_time_chunk=2) at T=16, batch 4, 48x48
    python benchmarks/live_memory.py 4 on      # VGGSNN(remat=True); "off": no remat
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import torch  # noqa: E402

import setup_common as setup  # noqa: E402  (this script's folder is on sys.path)


def main(argv):
    T, remat_arg = int(argv[0]), argv[1]
    divisor = int(argv[2]) if len(argv) > 2 else 1
    remat = {"off": {"remat": False}, "on": {"remat": True}}.get(remat_arg)
    if remat is None:
        remat = {"remat": True, "remat_time_chunk": int(remat_arg)}
    model = setup.compile_trt(setup.vggsnn(T, 48, divisor, **remat))
    x, y = setup.random_batch(model.input_shape[1:], 4)
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        model.train_on_batch(x, y)
    allocations, ops = [], []
    for e in prof.profiler.kineto_results.events():
        if e.name() == "[memory]":
            if e.device_type() == torch.autograd.DeviceType.CPU:
                allocations.append((e.start_ns(), e.nbytes()))
        elif e.duration_ns() > 0:
            ops.append((e.start_ns(), e.start_ns() + e.duration_ns(), e.name()))
    allocations.sort()
    live = peak = 0
    at = allocations[0][0]
    for t, n in allocations:
        live += n
        if live > peak:
            peak, at = live, t
    start, end = allocations[0][0], allocations[-1][0]
    inside = sorted((o for o in ops if o[0] <= at <= o[1]), key=lambda o: o[1] - o[0])
    print(f"T={T} remat={remat_arg}: peak of the tensors allocated in the step "
          f"{peak / 2**20:.0f} MiB at {(at - start) / max(end - start, 1):.0%} of the step, "
          f"in {[o[2] for o in inside[:3]]}")


if __name__ == "__main__":
    main(sys.argv[1:])
