#!/usr/bin/env bash
# Downloads the vendor API specifications the contract tests read, as pinned in
# hack/specs.lock (a URL at a fixed commit and a sha256 per file), and checks each hash.
# Usage: hack/fetch-specs.sh [DIR]
#   DIR defaults to $CRMSYNC_SPECS_DIR, else ../shared/specs beside the repository — the
#   folder the tests look in, so no setting is needed afterwards. Files already present
#   with the right hash are kept; a present file with another hash is an error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-${CRMSYNC_SPECS_DIR:-$(dirname "$root")/shared/specs}}"
lock="$root/hack/specs.lock"

sha() { sha256sum "$1" | cut -d' ' -f1; }

fetched=0 kept=0
while read -r hash path url; do
  case "$hash" in ''|'#'*) continue ;; esac
  target="$dir/$path"
  if [ -f "$target" ]; then
    if [ "$(sha "$target")" != "$hash" ]; then
      echo "$target exists with another sha256 than hack/specs.lock pins; remove it to refetch" >&2
      exit 1
    fi
    kept=$((kept + 1))
    continue
  fi
  mkdir -p "$(dirname "$target")"
  tmp="$(mktemp "$target.XXXXXX")"
  if ! curl -fsSL --retry 3 -o "$tmp" "$url"; then
    rm -f "$tmp"
    echo "download failed: $url" >&2
    exit 1
  fi
  got="$(sha "$tmp")"
  if [ "$got" != "$hash" ]; then
    rm -f "$tmp"
    echo "sha256 mismatch for $path from $url: got $got, pinned $hash" >&2
    exit 1
  fi
  chmod 0444 "$tmp"
  mv "$tmp" "$target"
  fetched=$((fetched + 1))
done < "$lock"

echo "specs in $dir: $fetched fetched, $kept already there (sha256 checked)"
if [ "$dir" != "$(dirname "$root")/shared/specs" ]; then
  echo "run the tests with: export CRMSYNC_SPECS_DIR=$dir"
fi
