#!/usr/bin/env bash
# The demo: a local control plane (kube-apiserver + etcd), the local Zoho CRM, Zoho
# Campaigns and Mailchimp servers (seeded), the crmsync operator, the CRDs and the
# examples; then it waits for the syncs to converge and shows `kubectl get crmsync -A`.
# Everything runs in the background with its state and logs in .demo/;
# `bash hack/demo.sh down` stops it all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
demo="$root/.demo"
ports=(--port-zoho-crm 18080 --port-zoho-campaigns 18081 --port-mailchimp 18082)

stop_pid() { # pidfile
  if [ -f "$1" ]; then
    kill "$(cat "$1")" 2>/dev/null || true
    rm -f "$1"
  fi
}

down() {
  stop_pid "$demo/operator.pid"
  stop_pid "$demo/sim.pid"
  if [ -x .venv/bin/crmsync ]; then
    .venv/bin/crmsync controlplane down --dir "$demo/controlplane"
  fi
}

if [ "${1:-}" = "down" ]; then
  down
  echo "demo stopped (state kept in .demo/; delete it to start from scratch)"
  exit 0
fi

bash hack/apt.sh
venv="$(bash hack/venv.sh)"
CRMSYNC_ENVTEST_BIN="$(bash hack/envtest/build.sh)"
export CRMSYNC_ENVTEST_BIN
kubectl_bin="$(command -v kubectl || echo "$CRMSYNC_ENVTEST_BIN/kubectl")"
k() { "$kubectl_bin" "$@"; }
down 2>/dev/null || true
mkdir -p "$demo"

echo "== control plane (fresh each time; the vendor data in .demo/sim is kept)"
rm -rf "$demo/controlplane"
"$venv/bin/crmsync" controlplane up --dir "$demo/controlplane" >/dev/null
export KUBECONFIG="$demo/controlplane/kubeconfig"

echo "== local vendor servers (Zoho CRM :18080, Zoho Campaigns :18081, Mailchimp :18082)"
if [ ! -f "$demo/sim/.seeded" ]; then
  "$venv/bin/crmsync" sim seed --data-dir "$demo/sim" --contacts 5000 --leads 1000 >/dev/null
  touch "$demo/sim/.seeded"
fi
nohup "$venv/bin/crmsync" sim serve --data-dir "$demo/sim" "${ports[@]}" >"$demo/sim.json" 2>"$demo/sim.log" &
echo $! >"$demo/sim.pid"
for _ in $(seq 50); do [ -s "$demo/sim.json" ] && break; sleep 0.2; done

echo "== CRDs, credentials, examples"
k apply -f crds/ >/dev/null
k wait --for=condition=Established crd --all --timeout=60s >/dev/null
k apply -f examples/00-namespace.yaml >/dev/null
"$venv/bin/python" - "$demo/sim.json" <<'EOF' | k apply -f - >/dev/null
import json, sys
info = json.load(open(sys.argv[1]))
crm, campaigns, mailchimp = info["zoho_crm"], info["zoho_campaigns"], info["mailchimp"]
secrets = {
    "zoho-crm-credentials": {"clientId": crm["client_id"], "clientSecret": crm["client_secret"], "refreshToken": crm["refresh_token"]},
    "zoho-campaigns-credentials": {"clientId": campaigns["client_id"], "clientSecret": campaigns["client_secret"], "refreshToken": campaigns["refresh_token"]},
    "mailchimp-credentials": {"apiKey": mailchimp["api_key"]},
    "mailbox-ana-credentials": {"username": "ana.garcia@example.com", "password": "not-a-real-password"},
}
docs = [
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "crmsync-demo"}, "stringData": data}
    for name, data in secrets.items()
]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
EOF
k apply -f examples/ >/dev/null

echo "== operator (log: .demo/operator.log)"
nohup "$venv/bin/crmsync" run --standalone --all-namespaces >"$demo/operator.log" 2>&1 &
echo $! >"$demo/operator.pid"

echo "== waiting for contacts-newsletter (CRM Contacts → Mailchimp) to converge"
k wait -n crmsync-demo --for=condition=Synced contactsync/contacts-newsletter --timeout=600s >/dev/null
echo
k get crmsync -A
cat <<EOT

Everything keeps running in the background. Try:
  export KUBECONFIG=$KUBECONFIG
  kubectl describe contactsync -n crmsync-demo contacts-newsletter
  kubectl annotate contactsync -n crmsync-demo contacts-newsletter crmsync.dev/sync-now="\$(date +%s)" --overwrite
  kubectl get events -n crmsync-demo
  kubectl explain contactsync.spec.trigger
The Zoho Campaigns sync writes one contact per API call at Zoho's documented pace
(500/min, 12,500/h), so its first run takes a few minutes; watch its counts grow with
  kubectl get contactsync -n crmsync-demo -w
Stop everything with: bash hack/demo.sh down
EOT
