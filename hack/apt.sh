#!/usr/bin/env bash
# Debian packages the tests and the demo use; installs only what is missing.
set -euo pipefail
packages=(sqlite3 dovecot-imapd prometheus lua5.4 lua-dkjson)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
