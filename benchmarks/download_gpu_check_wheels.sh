#!/usr/bin/env bash
# Downloads Keras and the wheels it needs into a folder, for `benchmarks/gpu_check.sh
# --wheels DIR` on a machine without network access that already has torch and JAX
# (docs/performance.md, GPU). Run it on a machine with network access, then copy the folder
# (and the repository) over.
#
# Usage:
#   bash benchmarks/download_gpu_check_wheels.sh DIR [--python-version 3.12]... \
#        [--platform manylinux_2_28_x86_64]... [--keras 3.15.1]
#
# Without --python-version it fetches wheels for CPython 3.11 to 3.14 (Keras 3.15 needs
# >= 3.11), so the folder fits whichever Python the GPU machine runs; without --platform,
# for Linux x86-64 (glibc).
# Keras' dependencies are all fetched (numpy too, although the target's own numpy is kept:
# pip installs only what is missing). Nothing of keras-trt itself is downloaded: gpu_check.sh
# runs it from the repository.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit "${1:-0}"; }

dir=""
versions=()
platforms=()
keras_version="3.15.1"    # the release CI tests (constraints.txt)
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) versions+=("$2"); shift 2 ;;
    --platform) platforms+=("$2"); shift 2 ;;
    --keras) keras_version="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "download_gpu_check_wheels.sh: unknown option $1" >&2; usage 2 ;;
    *) [ -z "$dir" ] || { echo "download_gpu_check_wheels.sh: one DIR only" >&2; exit 2; }
       dir="$1"; shift ;;
  esac
done
[ -n "$dir" ] || { echo "download_gpu_check_wheels.sh: DIR is required" >&2; usage 2; }
[ ${#versions[@]} -gt 0 ] || versions=(3.11 3.12 3.13 3.14)
[ ${#platforms[@]} -gt 0 ] || platforms=(manylinux_2_28_x86_64 manylinux_2_17_x86_64
                                          manylinux2014_x86_64)
python="${PYTHON:-python3}"
mkdir -p "$dir"
platform_args=()
for p in "${platforms[@]}"; do platform_args+=(--platform "$p"); done
for v in "${versions[@]}"; do
  echo "== wheels for CPython $v"
  # --only-binary: a target other than this interpreter can take wheels only; every
  # package here publishes them (pure-Python ones as py3-none-any).
  "$python" -m pip download --dest "$dir" --only-binary=:all: --python-version "$v" \
    --implementation cp "${platform_args[@]}" "keras==$keras_version"
done
echo "== $(ls "$dir" | wc -l) files in $dir ($(du -sh "$dir" | cut -f1))"
