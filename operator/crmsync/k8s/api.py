"""A minimal async Kubernetes API client built from kopf's ConnectionInfo."""

from __future__ import annotations

import base64
import ssl
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import kopf

from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.k8s.pool import REQUEST_TIMEOUT, pooled_transport
from crmsync.k8s.readcache import ReadCache
from crmsync.k8s.secrets import SecretCache

FIELD_MANAGER = "crmsync-operator"


class NotFoundError(LookupError):
    pass


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def _ssl_context(info: kopf.ConnectionInfo, scratch: Path) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context()
    if info.ca_path:
        context.load_verify_locations(cafile=str(info.ca_path))
    elif info.ca_data:
        ca = _as_bytes(info.ca_data)
        context.load_verify_locations(
            cadata=(ca if b"BEGIN" in ca else base64.b64decode(ca)).decode()
        )
    cert, key = info.certificate_path, info.private_key_path
    if info.certificate_data and info.private_key_data:
        cert, key = scratch / "client.crt", scratch / "client.key"
        for path, data in ((cert, info.certificate_data), (key, info.private_key_data)):
            raw = _as_bytes(data)
            path.write_bytes(raw if b"BEGIN" in raw else base64.b64decode(raw))
            path.chmod(0o600)
    if cert and key:
        context.load_cert_chain(str(cert), str(key))
    return context


class KubeApi:
    """The calls the operator makes besides kopf's own (RBAC in manifests/ lists them)."""

    def __init__(self, info: kopf.ConnectionInfo) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="crmsync-kube-")
        headers = {"User-Agent": "crmsync-operator"}
        if info.token:
            headers["Authorization"] = f"Bearer {info.token}"
        self._client = httpx.AsyncClient(
            base_url=info.server.rstrip("/"),
            transport=pooled_transport(_ssl_context(info, Path(self._scratch.name))),
            headers=headers,
            timeout=REQUEST_TIMEOUT,
        )
        self.secrets = SecretCache(self.read_secret)
        """Secrets as the reconcilers use them (read_secret: straight from the API server)."""
        self.connections: ReadCache[dict[str, Any]] = ReadCache(self._get_connection)
        """Connections as runs read them (a notification starts many runs at once)."""

    async def aclose(self) -> None:
        await self._client.aclose()
        self._scratch.cleanup()

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._client.request(method, path, **kwargs)
        if response.status_code == 404:
            raise NotFoundError(path)
        response.raise_for_status()
        return dict(response.json())

    @staticmethod
    def custom_path(plural: str, namespace: str, name: str = "") -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"
        return f"{base}/{name}" if name else base

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return await self._request("GET", self.custom_path(plural, namespace, name))

    async def _get_connection(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.get_custom("connections", namespace, name)

    async def list_custom(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace (one page: the kinds are small)."""
        body = await self._request("GET", self.custom_path(plural, namespace))
        return [dict(item) for item in body.get("items") or []]

    @staticmethod
    def cluster_path(plural: str) -> str:
        return f"/apis/{GROUP}/{VERSION}/{plural}"

    async def list_custom_everywhere(self, plural: str) -> list[dict[str, Any]]:
        """Every object of a kind in every namespace."""
        body = await self._request("GET", self.cluster_path(plural))
        return [dict(item) for item in body.get("items") or []]

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the whole object as stored."""
        return await self._request(
            "PATCH",
            f"{self.custom_path(plural, namespace, name)}/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def read_secret(self, namespace: str, name: str) -> tuple[dict[str, str], str]:
        """The Secret's decoded data and its resourceVersion (to notice rotation)."""
        body = await self._request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        data = {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}
        data.update(body.get("stringData") or {})
        return data, str(body["metadata"]["resourceVersion"])

    async def apply_configmap(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, Any]
    ) -> None:
        """Server-side apply, owned by the sync (so it goes when the sync goes)."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "crmsync"},
                "ownerReferences": [
                    {
                        "apiVersion": owner["apiVersion"],
                        "kind": owner["kind"],
                        "name": owner["metadata"]["name"],
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
            "data": data,
        }
        await self._request(
            "PATCH",
            f"/api/v1/namespaces/{namespace}/configmaps/{name}",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            json=body,
            headers={"Content-Type": "application/apply-patch+yaml"},
        )

    async def create_secret(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, Any]
    ) -> bool:
        """Create an operator-owned Secret; False when it already exists (never overwritten)."""
        meta = owner["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "crmsync"},
                "ownerReferences": [
                    {
                        "apiVersion": owner["apiVersion"],
                        "kind": owner["kind"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                    }
                ],
            },
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        response = await self._client.post(
            f"/api/v1/namespaces/{namespace}/secrets",
            params={"fieldManager": FIELD_MANAGER},
            json=body,
        )
        if response.status_code == 409:
            return False
        response.raise_for_status()
        return True

    async def delete_secret(self, namespace: str, name: str) -> None:
        self.secrets.forget(namespace, name)
        try:
            await self._request("DELETE", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except NotFoundError:
            pass

    async def get_configmap(self, namespace: str, name: str) -> dict[str, str]:
        body = await self._request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        return dict(body.get("data") or {})

    async def post_event(
        self, obj: dict[str, Any], *, type_: str, reason: str, message: str
    ) -> None:
        meta = obj["metadata"]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": FIELD_MANAGER,
        }
        await self._request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", json=body)

    async def ensure_peering(self, name: str, namespace: str = "") -> bool:
        """Create kopf's peering object unless it exists: a KopfPeering in ``namespace``, or a
        ClusterKopfPeering. True when it was created (a manifest cannot ship it: the CRD must
        be established before ``kubectl apply`` knows the kind)."""
        meta = {"name": name}
        if namespace:
            response = await self._client.post(
                f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings",
                json={"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": meta},
            )
        else:
            response = await self._client.post(
                "/apis/kopf.dev/v1/clusterkopfpeerings",
                json={"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": meta},
            )
        if response.status_code == 409:
            return False
        response.raise_for_status()
        return True
