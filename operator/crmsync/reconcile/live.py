"""A daemon's view of its object: kopf's live body, or our own newer status patch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from crmsync.k8s.api import KubeApi
from crmsync.k8s.conditions import set_condition
from crmsync.k8s.logs import Logger


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
    logger: Logger
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

    async def _conditions(
        self, body: dict[str, Any], *updates: tuple[str, bool | None, str, str]
    ) -> None:
        """Set conditions (for the object's generation); patched only when they changed."""
        generation = int(body["metadata"].get("generation", 0))
        current = (body.get("status") or {}).get("conditions") or []
        conditions = current
        for type_, value, reason, message in updates:
            conditions = set_condition(conditions, type_, value, reason, message, generation)
        if conditions != current:
            await self.patch_status(body, {"conditions": conditions})

    async def _event(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            await self.kube.post_event(body, type_=type_, reason=reason, message=message)
        except httpx.HTTPError as exc:  # events are best effort
            self.logger.debug("event not posted: %s", exc)
