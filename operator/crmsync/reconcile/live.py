"""A daemon's view of its object: kopf's live body, or our own newer status patch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from crmsync.k8s.api import KubeApi
from crmsync.k8s.conditions import set_abnormal, set_condition
from crmsync.k8s.logs import Logger


def without_managed_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The object as decisions read it: managedFields (often the largest part of a
    patched object, and never read) left out of the copy a daemon keeps."""
    meta = body.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return body
    return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


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
        """The newer of kopf's body and our last patch's answer; that answer is dropped
        once kopf has caught up (a thousand idle daemons need not keep a second copy)."""
        live = {
            "apiVersion": self.live_body["apiVersion"],
            "kind": self.live_body["kind"],
            "metadata": dict(self.live_body["metadata"]),
            "spec": dict(self.live_body.get("spec") or {}),
            "status": dict(self.live_body.get("status") or {}),
        }
        if self.written is not None and resource_version(self.written) > resource_version(live):
            return self.written
        self.written = None
        return live

    async def patch_status(self, body: dict[str, Any], patch: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.written = without_managed_fields(
            await self.kube.patch_status(self.plural, meta["namespace"], meta["name"], patch)
        )

    async def _conditions(
        self, body: dict[str, Any], *updates: tuple[str, bool | None, str, str]
    ) -> None:
        """Set conditions (for the object's generation); patched only when they changed.

        Whoever sets a condition has read the spec: the patch carries observedGeneration.
        """
        generation = int(body["metadata"].get("generation", 0))
        conditions = (body.get("status") or {}).get("conditions") or []
        for type_, value, reason, message in updates:
            conditions = set_condition(conditions, type_, value, reason, message, generation)
        await self._observed(body, conditions)

    async def _abnormal(
        self, body: dict[str, Any], type_: str, active: bool, reason: str = "", message: str = ""
    ) -> None:
        """Set (``active``) or remove a ``Reconciling`` or ``Stalled`` condition."""
        generation = int(body["metadata"].get("generation", 0))
        current = (body.get("status") or {}).get("conditions") or []
        await self._observed(
            body, set_abnormal(current, type_, active, reason, message[:1000], generation)
        )

    async def _observed(self, body: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        status = body.get("status") or {}
        generation = int(body["metadata"].get("generation", 0))
        patch: dict[str, Any] = {}
        if conditions != (status.get("conditions") or []):
            patch["conditions"] = conditions
        if status.get("observedGeneration") != generation:
            patch["observedGeneration"] = generation
        if patch:
            await self.patch_status(body, patch)

    async def _event(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            await self.kube.post_event(body, type_=type_, reason=reason, message=message)
        except httpx.HTTPError as exc:  # events are best effort
            self.logger.debug("event not posted: %s", exc)
