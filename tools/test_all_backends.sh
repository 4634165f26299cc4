#!/usr/bin/env bash
# Runs the test suite once per Keras backend (the backend is fixed when keras is imported,
# so each needs its own pytest process). Fails if any backend fails.
# Usage: bash tools/test_all_backends.sh [pytest args...]
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
status=0
summary=""
for backend in ${KERAS_TRT_BACKENDS:-torch tensorflow jax}; do
  echo "=== KERAS_BACKEND=$backend ==="
  start=$(date +%s)
  KERAS_BACKEND=$backend "$PYTHON" -m pytest -q -p no:cacheprovider tests "$@"
  rc=$?
  summary="$summary$backend: exit $rc in $(( $(date +%s) - start )) s"$'\n'
  [ $rc -ne 0 ] && status=1
done
printf '\n%s' "$summary"
exit $status
