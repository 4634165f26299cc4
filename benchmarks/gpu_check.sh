#!/usr/bin/env bash
# The GPU check in one command, for a machine that has torch and JAX (with CUDA) but
# neither Keras nor TensorFlow: installs Keras and its pure wheels, then runs
# benchmarks/gpu_check.py (keras-trt torch and JAX vs the PyTorch baseline, float32 and
# mixed precision; docs/performance.md, GPU). About 8 minutes at most.
#
# Usage (from anywhere; keras-trt runs from this repository, it is not installed):
#   bash benchmarks/gpu_check.sh [--wheels DIR] [--venv DIR | --no-venv | --skip-install]
#                                [gpu_check.py options: --out DIR --device cpu ...]
#
#   --wheels DIR    install offline from DIR (benchmarks/download_gpu_check_wheels.sh
#                   builds it): pip install --no-index --find-links DIR keras
#                   (without it: keras==3.15.1 from the package index)
#   --venv DIR      the virtual environment to install into (default:
#                   ${TMPDIR:-/tmp}/keras-trt-gpu-check-venv), created with
#                   --system-site-packages so that the machine's CUDA torch and JAX are used
#   --no-venv       install into the environment of $PYTHON (default python3) itself
#   --skip-install  install nothing: run with $PYTHON as it is
# Results: gpu_check.md and gpu_check.json in --out (default: $OUT, else the current folder).
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit "${1:-0}"; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
wheels=""
venv="${TMPDIR:-/tmp}/keras-trt-gpu-check-venv"
install="venv"
budget_total=470          # seconds for everything, install included
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    --venv) venv="$2"; shift 2 ;;
    --no-venv) install="here"; shift ;;
    --skip-install) install="none"; shift ;;
    -h|--help) usage 0 ;;
    *) passthrough+=("$1"); shift ;;
  esac
done
if [ -n "$wheels" ] && [ ! -d "$wheels" ]; then
  echo "gpu_check.sh: --wheels $wheels is not a folder" >&2; exit 2
fi

if [ "$install" = "venv" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv (with the system's site packages)"
    "$python" -m venv --system-site-packages "$venv" || {
      echo "gpu_check.sh: could not create a venv; rerun with --no-venv" >&2; exit 1; }
    # --system-site-packages reaches the base interpreter's packages only: where $python
    # runs in a venv or conda env of its own (torch and JAX installed there), a .pth file
    # puts that environment's site-packages on the new venv's path too.
    "$python" -c 'import site; print("\n".join(site.getsitepackages()))' \
      > "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_gpu_check_parent.pth"
  fi
  python="$venv/bin/python"
fi
if [ "$install" != "none" ]; then
  # Only what is missing is installed: the machine's torch, JAX and numpy stay as they are.
  if [ -n "$wheels" ]; then
    echo "== installing keras from $wheels (offline)"
    "$python" -m pip install --no-index --find-links "$wheels" keras
  else
    echo "== installing keras from the package index"
    "$python" -m pip install "keras==3.15.1"
  fi
fi

"$python" - <<'EOF'
import importlib.util
for name in ("keras", "torch", "jax"):
    print(f"   {name}: {'found' if importlib.util.find_spec(name) else 'MISSING'}")
if importlib.util.find_spec("tensorflow"):
    print("   tensorflow is installed; the benchmark workers hide it all the same")
EOF

budget=$((budget_total - SECONDS))
[ "$budget" -gt 30 ] || budget=30
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=3 \
  exec "$python" "$root/benchmarks/gpu_check.py" --budget-s "$budget" \
  ${passthrough[@]+"${passthrough[@]}"}
