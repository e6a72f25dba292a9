#!/usr/bin/env bash
# Builds kube-apiserver and etcd (and kubectl when none is on PATH) into a cache
# folder keyed by the module's contents; a second run with the same key is a no-op.
# Prints the folder holding the binaries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${CRMSYNC_CACHE:-$HOME/.cache/crmsync}"
key="$(cat "$here/go.mod" "$here/go.sum" "$here/etcd/main.go" "$here/build.sh" | sha256sum | cut -c1-16)"
out="$cache_root/envtest/$key"
version="$(awk '/k8s.io\/kubernetes v/ {print $2}' "$here/go.mod")"
minor="$(echo "$version" | cut -d. -f2)"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done

build() { # name package
  [ -x "$out/$1" ] && return 0
  echo "building $1 ($version) into $out ..." >&2
  (cd "$here" && go build -trimpath -buildvcs=false -pgo=off -ldflags "$ldflags" -o "$out/$1.tmp" "$2")
  mv "$out/$1.tmp" "$out/$1"
}

mkdir -p "$out"
build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
if ! command -v kubectl >/dev/null 2>&1; then
  build kubectl k8s.io/kubernetes/cmd/kubectl
fi
echo "$out"
