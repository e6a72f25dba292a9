#!/usr/bin/env bash
# The test command: installs what the tests need (venv, control-plane binaries),
# then runs the linters, the CRD freshness check and the whole pytest suite.
# Usage: hack/test.sh [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "system packages"
bash hack/apt.sh
step "python venv"
venv="$(bash hack/venv.sh)"
step "control plane binaries (cached after the first build)"
start=$(date +%s)
CRMSYNC_ENVTEST_BIN="$(bash hack/envtest/build.sh)"
export CRMSYNC_ENVTEST_BIN
echo "$CRMSYNC_ENVTEST_BIN ($(( $(date +%s) - start ))s)"

step "lint"
"$venv/bin/ruff" check
"$venv/bin/mypy"
step "crds are generated from the models"
"$venv/bin/crmsync" crds --check

step "pytest"
set +e
"$venv/bin/pytest" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
