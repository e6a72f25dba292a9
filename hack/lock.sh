#!/usr/bin/env bash
# Regenerates requirements.lock: the operator's runtime dependencies ([project]
# dependencies in pyproject.toml, transitively), each pinned to one version with the
# sha256 of every file PyPI has for it; and requirements-build.lock, the build backend
# ([build-system] requires) the image builds the operator's wheel with. The image installs exactly these
# (`pip install --require-hashes --no-deps -r requirements.lock`, see Dockerfile), so two
# builds from one commit install the same versions. Run it after changing the operator's
# dependencies (tests/unit/test_image.py fails until the lock pins every one of them).
# Resolves with Python 3.11, the image's Python, in a throwaway venv with pip-tools.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "the image runs Python 3.11; set PYTHON"'
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet "pip-tools>=7.4,<8"
cd "$root"
PIP_FIND_LINKS= CUSTOM_COMPILE_COMMAND="bash hack/lock.sh" "$tmp/venv/bin/pip-compile" --quiet \
  --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe \
  --output-file requirements.lock pyproject.toml
"$python" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' >"$tmp/build.in"
(cd "$tmp" && PIP_FIND_LINKS= CUSTOM_COMPILE_COMMAND="bash hack/lock.sh" "$tmp/venv/bin/pip-compile" \
  --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
  --allow-unsafe --output-file "$root/requirements-build.lock" build.in)
echo "wrote $root/requirements.lock and $root/requirements-build.lock"
