"""Issue 6, point 3: the kustomize base in manifests/.

* ``kubectl apply -k manifests/ --dry-run=server`` against the real local control plane;
  ``manifests/monitoring/`` (ServiceMonitor, PrometheusRule, dashboard ConfigMap) likewise,
  after minimal stand-ins for the Prometheus Operator's two CRDs are installed.
* The ClusterRole grants exactly what the code calls: the rules are derived from
  ``crmsync/k8s/api.py`` (and its callers) plus kopf's handlers, and compared.
* The operator runs with the manifests' ServiceAccount token (TokenRequest API) on a
  control plane of its own with RBAC on: a Connection becomes Ready and a ContactSync run
  succeeds, writing its skipped-record export, while verbs the role lacks stay forbidden.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from crmsync_testbed.controlplane import ControlPlane
from crmsync_testbed.controlplane.binaries import find_binaries
from crmsync_testbed.controlplane.process import free_port
from tests.conftest import REPO
from tests.e2e.conftest import condition, wait_for
from tests.e2e.syncs import create_people, email_of, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader
from tests.kube import Kube
from tests.simfixture import SimServers

pytestmark = pytest.mark.e2e

MANIFESTS = REPO / "manifests"
OPERATOR = REPO / "operator" / "crmsync"
NAMESPACE = "crmsync-system"
ACCOUNT = "crmsync-operator"
Grant = tuple[str, str, str]
"""(apiGroup, resource, verb)."""

KOPF_FRAMEWORK: set[Grant] = {
    # cluster-wide resource discovery and namespace observation
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
    # kopf posts Events about handler failures
    ("", "events", "create"),
    # kopf peering (not --standalone): it watches the peering objects and patches its
    # keep-alive into their status; cluster-wide or per namespace (KubeApi creates them)
    *{
        ("kopf.dev", plural, verb)
        for plural in ("clusterkopfpeerings", "kopfpeerings")
        for verb in ("list", "watch", "patch")
    },
}
KOPF_PER_KIND = ("list", "watch", "patch")
"""Watched kinds: kopf lists/watches them and patches annotations and finalizers."""
VERBS = {"POST": "create", "PATCH": "patch", "DELETE": "delete", "PUT": "update"}
MONITORING_CRDS = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, plural: servicemonitors, singular: servicemonitor, listKind: ServiceMonitorList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: prometheusrules.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PrometheusRule, plural: prometheusrules, singular: prometheusrule, listKind: PrometheusRuleList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
"""Minimal stand-ins (schema-less) for the Prometheus Operator's CRDs."""


# --- what the code calls ---------------------------------------------------------------


def _methods(source: str) -> dict[str, str]:
    """KubeApi method name → its body."""
    parts = re.split(r"\n    (?:async )?def (\w+)\(", source)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _callers_plurals(method: str) -> set[str]:
    """The custom-resource plurals the operator passes to a KubeApi method."""
    found: set[str] = set()
    for path in OPERATOR.rglob("*.py"):
        if path.name == "api.py" and path.parent.name == "k8s":
            continue
        text = path.read_text()
        found.update(re.findall(rf"\.{method}\(\s*\"(\w+)\"", text))
        # ... or a module constant: PLURAL = "mailboxsyncs"
        for constant in re.findall(rf"\.{method}\(\s*([A-Z_]+)\s*,", text):
            value = re.search(rf"^{constant} = \"(\w+)\"", text, re.M)
            assert value, f"{path}: {method}({constant}, …) not resolved"
            found.add(value.group(1))
        # ... or a LiveObject's class attribute: self.kube.patch_status(self.plural, …)
        if re.search(rf"\.{method}\(\s*self\.plural\b", text):
            found.update(_live_object_plurals())
    return found


def _live_object_plurals() -> set[str]:
    """``plural = "contactsyncs"`` (or ``= PLURAL``) of each LiveObject subclass."""
    found: set[str] = set()
    for path in OPERATOR.rglob("*.py"):
        text = path.read_text()
        for value in re.findall(r"^    plural = (\"\w+\"|[A-Z_]+)$", text, re.M):
            if value.startswith('"'):
                found.add(value.strip('"'))
                continue
            constant = re.search(rf"^{value} = \"(\w+)\"", text, re.M)
            assert constant, f"{path}: plural = {value} not resolved"
            found.add(constant.group(1))
    return found


def grants_from_code() -> set[Grant]:
    grants = set(KOPF_FRAMEWORK)
    # kopf: every kind a handler is registered for.
    for path in (OPERATOR / "handlers").glob("*.py"):
        for plural in re.findall(
            r"@kopf\.(?:on\.\w+|timer|daemon|index)\(\s*GROUP,\s*VERSION,\s*\"(\w+)\"",
            path.read_text(),
        ):
            grants.update(("crmsync.dev", plural, verb) for verb in KOPF_PER_KIND)
    # KubeApi: each request of each method.
    calls = re.compile(
        r"(?:_request\(\s*\"(?P<m1>[A-Z]+)\"|_client\.(?P<m2>get|post|patch|put|delete)\()"
        r"\s*,?\s*(?P<path>f?\"[^\"]*\"|self\.(?:custom|cluster)_path\([^)]*\)[^,)]*)"
    )
    for method, body in _methods((OPERATOR / "k8s" / "api.py").read_text()).items():
        for match in calls.finditer(body):
            http = (match["m1"] or match["m2"]).upper()
            path = match["path"]
            if "self.custom_path" in path or "self.cluster_path" in path:
                sub = "/status" if path.endswith('/status"') else ""
                named = "self.custom_path" in path
                verb = ("get" if named else "list") if http == "GET" else VERBS[http]
                for plural in _callers_plurals(method):
                    grants.add(("crmsync.dev", plural + sub, verb))
                continue
            segments = path.strip('f"').split("/")
            # /api/v1/... (core group) or /apis/<group>/<version>/...
            assert segments[1] in ("api", "apis"), path
            group, rest = (
                ("", segments[3:]) if segments[1] == "api" else (segments[2], segments[4:])
            )
            resource_at = 2 if rest[0] == "namespaces" else 0
            resource = rest[resource_at]
            named = len(rest) > resource_at + 1
            verb = ("get" if named else "list") if http == "GET" else VERBS[http]
            grants.add((group, resource, verb))
            if "apply-patch" in body:  # server-side apply creates what does not exist yet
                grants.add((group, resource, "create"))
    return grants


def grants_from_role() -> set[Grant]:
    docs = list(yaml.safe_load_all((MANIFESTS / "rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_cluster_role_grants_exactly_what_the_code_calls() -> None:
    code, role = grants_from_code(), grants_from_role()
    # Sanity: the scan found the calls it must find.
    assert ("", "secrets", "get") in code
    assert ("crmsync.dev", "contactsyncs/status", "patch") in code
    assert ("crmsync.dev", "connections", "watch") in code
    assert ("kopf.dev", "clusterkopfpeerings", "create") in code
    assert code - role == set(), f"the code calls what the role does not grant: {code - role}"
    assert role - code == set(), f"the role grants what no code calls: {role - code}"


def test_manifest_crds_are_generated_from_the_models() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crmsync", "crds", "--check", "--out", str(MANIFESTS / "crds")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    for crd in (MANIFESTS / "crds").glob("*.yaml"):
        assert f"crds/{crd.name}" in listed


def test_deployment_is_hardened() -> None:
    docs = [yaml.safe_load((MANIFESTS / "deployment.yaml").read_text())]
    spec = docs[0]["spec"]
    # Two replicas under kopf peering (tests/e2e/test_ha.py); never two versions at once.
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(container["resources"])
    assert "--standalone" not in container["args"]
    health = next(a for a in container["args"] if a.startswith("--liveness="))
    assert container["livenessProbe"]["httpGet"]["path"] == "/" + health.split("/", 3)[3]
    assert container["readinessProbe"]["httpGet"]["path"] == "/" + health.split("/", 3)[3]


# --- a control plane of its own ------------------------------------------------------------


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    """Not the session's: its cluster-wide operator must not handle this test's objects."""
    binaries = find_binaries()
    control = ControlPlane(tmp_path_factory.mktemp("rbac-plane"))
    control.start(binaries)
    try:
        yield Kube(control, binaries)
    finally:
        control.stop()


@pytest.fixture(scope="module")
def installed(plane: Kube) -> Kube:
    """``kubectl apply -k manifests/`` (server-side dry run first, then for real)."""
    # A server-side dry run cannot create the namespace its other objects go into.
    plane.kubectl("apply", "-f", str(MANIFESTS / "namespace.yaml"))
    dry = plane.kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server")
    assert "serverside-run" in dry.stdout or "server dry run" in dry.stdout, dry.stdout
    plane.kubectl("apply", "-k", str(MANIFESTS))
    plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return plane


def test_kustomize_base_and_monitoring_apply_server_side(installed: Kube) -> None:
    objects = installed.get_json(
        "clusterrole,clusterrolebinding", "-l", "app.kubernetes.io/part-of=crmsync"
    )
    assert {o["metadata"]["name"] for o in objects["items"]} == {ACCOUNT}
    installed.kubectl("apply", "-f", "-", stdin=MONITORING_CRDS)
    installed.kubectl(
        "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com", "--timeout=60s",
    )  # fmt: skip
    result = installed.kubectl(
        "apply", "-k", str(MANIFESTS / "monitoring"), "--dry-run=server", "-o", "json"
    )
    kinds = {item["kind"] for item in json.loads(result.stdout)["items"]}
    assert kinds == {"ServiceMonitor", "PrometheusRule", "ConfigMap"}


def _token_kubeconfig(kube: Kube, directory: Path) -> Path:
    token = kube.kubectl("create", "token", ACCOUNT, "-n", NAMESPACE, "--duration=1h").stdout
    admin = yaml.safe_load(kube.plane.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": ACCOUNT, "user": {"token": token.strip()}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": ACCOUNT}}],
        "current-context": "sa",
    }
    path = directory / "kubeconfig-sa"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _can_i(kube: Kube, kubeconfig: Path, *args: str) -> bool:
    result = kube.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", *args, check=False)
    return result.stdout.strip() == "yes"


def test_operator_runs_with_the_service_account_token(
    installed: Kube, e2e_sim: SimServers, tmp_path: Path, own_processes: None
) -> None:
    kube = installed
    kubeconfig = _token_kubeconfig(kube, tmp_path)
    # The token is the ServiceAccount's, and the role's limits hold.
    assert _can_i(kube, kubeconfig, "patch", "contactsyncs.crmsync.dev/status", "-A")
    assert _can_i(kube, kubeconfig, "get", "secrets", "-A")
    for forbidden in (
        ("list", "secrets", "-A"),
        ("update", "contactsyncs.crmsync.dev", "-A"),
        ("delete", "contactsyncs.crmsync.dev", "-A"),
        ("create", "connections.crmsync.dev", "-A"),
        ("delete", "configmaps", "-A"),
        ("create", "pods", "-A"),
    ):
        assert not _can_i(kube, kubeconfig, *forbidden), forbidden

    crm_info, mc_info = e2e_sim.info["zoho_crm"], e2e_sim.info["mailchimp"]
    crm, mailchimp = CrmReader(e2e_sim), MailchimpReader(e2e_sim)
    marker = unique("rbac")
    list_id = mailchimp.new_audience(marker)
    create_people(
        crm, "Contacts", marker, 4, lambda i: {"Email": email_of(marker, 0)} if i == 3 else {}
    )
    kube.kubectl("create", "namespace", "team")
    for name, data in {
        "zoho-crm": {
            k: crm_info[v]
            for k, v in (
                ("clientId", "client_id"),
                ("clientSecret", "client_secret"),
                ("refreshToken", "refresh_token"),
            )
        },
        "mailchimp": {"apiKey": mc_info["api_key"]},
    }.items():
        kube.kubectl(
            "create", "secret", "generic", name, "-n", "team",
            *[f"--from-literal={k}={v}" for k, v in data.items()],
        )  # fmt: skip
    kube.kubectl("apply", "-n", "team", "-f", "-", stdin=f"""
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: crm}}
spec: {{provider: zoho-crm, credentialsSecretRef: {{name: zoho-crm}}, apiBaseUrl: "{crm_info["base_url"]}", accountsUrl: "{crm_info["base_url"]}"}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: mailchimp}}
spec: {{provider: mailchimp, credentialsSecretRef: {{name: mailchimp}}, apiBaseUrl: "{mc_info["base_url"]}"}}
---
apiVersion: crmsync.dev/v1alpha1
kind: ContactSync
metadata: {{name: rbac}}
spec:
  crm: {{connectionRef: {{name: crm}}, module: Contacts, criteria: {json.dumps(marked(marker))}}}
  target: {{connectionRef: {{name: mailchimp}}, listId: "{list_id}"}}
  trigger: {{mode: Manual}}
""")  # fmt: skip

    health = free_port()
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        # The Deployment's arguments (no --standalone), with ports free on this machine.
        process = subprocess.Popen(
            [
                sys.executable, "-m", "crmsync", "run", "--all-namespaces",
                f"--liveness=http://127.0.0.1:{health}/healthz", "--metrics-port=0",
                "--webhook-port=0",
            ],
            env={**kube.env, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        for name in ("crm", "mailchimp"):
            wait_for(
                lambda name=name: condition(
                    kube.get_json("connection", name, "-n", "team"), "Ready"
                ) == "True",
                timeout=60,
                what=f"Connection {name} Ready",
            )  # fmt: skip

        def ran() -> dict[str, Any] | None:
            body = kube.get_json("contactsync", "rbac", "-n", "team")
            last = (body.get("status") or {}).get("lastRun") or {}
            return body if last.get("endTime") else None

        body = wait_for(ran, timeout=120, what="the ContactSync's run")
        assert condition(body, "Synced") == "True", body["status"]
        counts = body["status"]["counts"]
        assert counts["added"] == 3, counts
        assert counts["skippedDuplicate"] == 1, counts
        export = body["status"]["skippedExport"]["configMap"]
        assert kube.get_json("configmap", export, "-n", "team")["data"]["skipped.csv"]
        assert httpx.get(f"http://127.0.0.1:{health}/healthz", timeout=5).status_code == 200
        events = kube.get_json("events", "-n", "team")["items"]
        assert any(e["reason"] == "RunSucceeded" for e in events), [e["reason"] for e in events]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output = log.read_text(errors="replace")
    # A refusal by the API server; not a timestamp's milliseconds (",403]") or an id.
    refused = re.search(r"Forbidden|(?<![,.\w-])403(?![\w\]])", output)
    assert refused is None, output[max(0, refused.start() - 2000) : refused.end() + 2000]
