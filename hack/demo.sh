#!/usr/bin/env bash
# The demo: a local control plane (kube-apiserver + etcd), the local Zoho CRM, Zoho
# Campaigns and Mailchimp servers (seeded), a local IMAP server (Dovecot) holding Ana's
# mailbox, the crmsync operator, the CRDs and the examples; then it waits until every
# kind has done its job (Connections verified, syncs converged, mail captured, campaign
# drafted) and shows `kubectl get crmsync -A`.
# Everything runs in the background with its state and logs in .demo/;
# `bash hack/demo.sh down` stops it all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
demo="$root/.demo"
ports=(--port-zoho-crm 18080 --port-zoho-campaigns 18081 --port-mailchimp 18082)
imap_port=18143 # examples/10-connections.yaml names these ports
mailbox_user=ana.garcia@example.com mailbox_password=demo-password

stop_pid() { # pidfile; waits (up to 10 s) for the process to end
  if [ -f "$1" ]; then
    local pid
    pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$1"
  fi
}

down() {
  stop_pid "$demo/operator.pid"
  stop_pid "$demo/imap.pid"
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

echo "== local IMAP server (Dovecot :$imap_port; a fresh mailbox each time) with mail for Ana"
rm -rf "$demo/imap"
nohup "$venv/bin/crmsync" sim imap --data-dir "$demo/imap" --port "$imap_port" \
  --user "$mailbox_user:$mailbox_password" >"$demo/imap.json" 2>"$demo/imap.log" &
echo $! >"$demo/imap.pid"
for _ in $(seq 100); do [ -s "$demo/imap.json" ] && break; sleep 0.2; done
[ -s "$demo/imap.json" ] || { echo "Dovecot did not start:" >&2; cat "$demo/imap.log" >&2; exit 1; }
# Ana becomes a user of the local CRM (the MailboxSync's owner); mail from three CRM
# contacts, her replies, an offer to a CRM lead and a newsletter land in her mailbox.
"$venv/bin/crmsync" sim demo-mail --sim-info "$demo/sim.json" --imap-port "$imap_port" \
  --user "$mailbox_user" --password "$mailbox_password" >"$demo/mail.json"

echo "== CRDs, credentials, examples"
k apply -f crds/ >/dev/null
k wait --for=condition=Established crd --all --timeout=60s >/dev/null
k apply -f examples/00-namespace.yaml >/dev/null
"$venv/bin/crmsync" sim demo-secrets --sim-info "$demo/sim.json" --namespace crmsync-demo \
  --mailbox-user "$mailbox_user" --mailbox-password "$mailbox_password" | k apply -f - >/dev/null
k apply -f examples/ >/dev/null

echo "== operator (log: .demo/operator.log)"
nohup "$venv/bin/crmsync" run --standalone --all-namespaces >"$demo/operator.log" 2>&1 &
echo $! >"$demo/operator.pid"

echo "== waiting for every kind to do its job"
ns=(-n crmsync-demo)
k wait "${ns[@]}" --for=condition=Ready connection --all --timeout=120s >/dev/null
echo "   Connections verified; mailbox capture (ana-mailbox) and the campaign draft (spring-webinar)"
k wait "${ns[@]}" --for=condition=Ready mailboxsync/ana-mailbox --timeout=120s >/dev/null # after its first scan
k wait "${ns[@]}" --for=jsonpath='{.status.state}'=Draft emailcampaign/spring-webinar --timeout=600s >/dev/null
echo "   the syncs: Contacts → Mailchimp, Contacts ↔ Mailchimp, Leads → Zoho Campaigns"
echo "   (Zoho Campaigns takes one contact per API call at Zoho's pace, 500 a minute: the"
echo "   first run of leads-newsletter takes a few minutes)"
k wait "${ns[@]}" --for=condition=Synced contactsync --all --timeout=900s >/dev/null
echo
k get crmsync -A
cat <<EOT

Everything keeps running in the background. Try:
  export KUBECONFIG=$KUBECONFIG
  kubectl describe contactsync -n crmsync-demo contacts-newsletter
  kubectl describe mailboxsync -n crmsync-demo ana-mailbox
  kubectl get emailcampaign -n crmsync-demo spring-webinar -o yaml
  kubectl annotate contactsync -n crmsync-demo contacts-newsletter crmsync.dev/sync-now="\$(date +%s)" --overwrite
  kubectl get events -n crmsync-demo
  kubectl explain contactsync.spec.trigger
Ana's mailbox is on the local Dovecot (127.0.0.1:$imap_port, $mailbox_user /
$mailbox_password): mail you append there is on the CRM records within seconds (IMAP IDLE).
Watch the syncs' counts with
  kubectl get contactsync -n crmsync-demo -w
Stop everything with: bash hack/demo.sh down
EOT
