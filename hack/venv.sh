#!/usr/bin/env bash
# Creates (or reuses) .venv with crmsync (the operator, with its test and lint tools) and
# crmsync-testbed (testbed/: the local vendor servers and control plane) installed.
# Reinstalls only when pyproject.toml or testbed/pyproject.toml changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
key="$(cat "$root/pyproject.toml" "$root/testbed/pyproject.toml" | sha256sum | cut -c1-16)"
stamp="$venv/.installed-$key"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e "$root[test,lint]" -e "$root/testbed"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
echo "$venv"
