#!/usr/bin/env bash
# The demo: a local control plane (kube-apiserver + etcd), the crmsync CRDs and the
# examples applied, then `kubectl get crmsync -A`. State lives in .demo/;
# `hack/demo.sh down` stops everything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
demo="$root/.demo"

if [ "${1:-}" = "down" ]; then
  [ -x .venv/bin/crmsync ] && .venv/bin/crmsync controlplane down --dir "$demo/controlplane"
  echo "demo stopped"
  exit 0
fi

bash hack/apt.sh
venv="$(bash hack/venv.sh)"
CRMSYNC_ENVTEST_BIN="$(bash hack/envtest/build.sh)"
export CRMSYNC_ENVTEST_BIN
kubectl_bin="$(command -v kubectl || echo "$CRMSYNC_ENVTEST_BIN/kubectl")"

"$venv/bin/crmsync" controlplane down --dir "$demo/controlplane" 2>/dev/null || true
"$venv/bin/crmsync" controlplane up --dir "$demo/controlplane" >/dev/null
export KUBECONFIG="$demo/controlplane/kubeconfig"
k() { "$kubectl_bin" "$@"; }

k apply -f crds/
k wait --for=condition=Established crd --all --timeout=60s >/dev/null
k apply -f examples/
echo
k get crmsync -A
cat <<EOT

The control plane keeps running. Try:
  export KUBECONFIG=$KUBECONFIG
  kubectl explain contactsync.spec
  kubectl describe contactsync -n crmsync-demo leads-newsletter
Stop it with: bash hack/demo.sh down
EOT
