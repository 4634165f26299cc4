#!/usr/bin/env bash
# Runs the test suite once per Keras backend (the backend is fixed when keras is imported,
# so each needs its own pytest process). Fails if any backend fails.
#
# The backends run side by side, KERAS_TRT_TEST_JOBS at a time (default: 2, or 1 on a
# one-core machine): much of a test is single-threaded Python, so two processes finish
# sooner than one after the other. Each backend's output is printed whole when it ends.
# Usage: bash tools/test_all_backends.sh [pytest args...]
#        KERAS_TRT_TEST_JOBS=1 bash tools/test_all_backends.sh   # one backend at a time
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
jobs=${KERAS_TRT_TEST_JOBS:-$(( cores >= 2 ? 2 : 1 ))}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_backend() {  # backend -> writes $logs/<backend>.log and $logs/<backend>.rc
  local backend=$1 start rc
  shift
  start=$(date +%s)
  # Split the cores between the processes that run at once.
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / jobs > 0 ? cores / jobs : 1 ))} \
    KERAS_BACKEND=$backend "$PYTHON" -m pytest -q -p no:cacheprovider tests "$@" \
    >"$logs/$backend.log" 2>&1
  rc=$?
  echo "$backend: exit $rc in $(( $(date +%s) - start )) s" >"$logs/$backend.rc"
  return $rc
}

# The two slowest first, so that the shortest fills the gap at the end.
backends=(${KERAS_TRT_BACKENDS:-tensorflow jax torch})
for backend in "${backends[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_backend "$backend" "$@" &
done
wait

status=0
summary=""
for backend in "${backends[@]}"; do
  echo "=== KERAS_BACKEND=$backend ==="
  cat "$logs/$backend.log"
  line=$(cat "$logs/$backend.rc" 2>/dev/null || echo "$backend: did not finish")
  summary="$summary$line"$'\n'
  case $line in *"exit 0 "*) ;; *) status=1 ;; esac
done
printf '\n%s' "$summary"
exit $status
