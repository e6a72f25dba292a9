"""A daemon's view of its object: kopf's live body, or our own newer status patch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from crmsync.k8s.api import KubeApi


def resource_version(body: Mapping[str, Any]) -> int:
    """resourceVersion is opaque by contract but an etcd revision in practice; unknown = 0."""
    try:
        return int(body["metadata"].get("resourceVersion", 0))
    except ValueError:
        return 0


class LiveObject:
    """Mixed into a reconciler: kopf keeps ``live_body`` up to date a little later than our
    own status patches land, so decisions use whichever of the two is newer and never see
    their own run as not yet done."""

    plural: ClassVar[str]
    kube: KubeApi
    live_body: Mapping[str, Any]
    written: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        live = {
            "apiVersion": self.live_body["apiVersion"],
            "kind": self.live_body["kind"],
            "metadata": dict(self.live_body["metadata"]),
            "spec": dict(self.live_body.get("spec") or {}),
            "status": dict(self.live_body.get("status") or {}),
        }
        if self.written is not None and resource_version(self.written) > resource_version(live):
            return self.written
        return live

    async def patch_status(self, body: dict[str, Any], patch: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.written = await self.kube.patch_status(
            self.plural, meta["namespace"], meta["name"], patch
        )
