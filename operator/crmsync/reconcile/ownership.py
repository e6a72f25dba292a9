"""The I/O side of shared audiences (:mod:`crmsync.engine.ownership`): which other syncs
claim the members of a Zoho Campaigns list, and what a deleted sync leaves behind."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from crmsync.engine.ownership import owner_id
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.logs import Logger
from crmsync.providers.factory import open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.reconcile.indexstore import load_index
from crmsync.reconcile.resolve import NotReadyError, load_endpoint

_TURNS: dict[str, asyncio.Lock] = {}


def claims_turn(list_id: str) -> asyncio.Lock:
    """One run at a time per Zoho Campaigns list in this process (its claims are read
    and written as a whole)."""
    return _TURNS.setdefault(list_id, asyncio.Lock())


def sync_owner(body: Mapping[str, Any]) -> str:
    meta = body["metadata"]
    return owner_id(str(meta["namespace"]), str(meta["name"]))


async def list_owners(kube: KubeApi, body: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Email → the other syncs (anywhere in the cluster) whose record index on the same
    Zoho Campaigns list holds the member: their claims."""
    meta, spec = body["metadata"], body.get("spec") or {}
    target = spec.get("target") or {}
    list_id = str(target.get("listId") or "")
    me = (meta["namespace"], meta["name"])
    owners: dict[str, set[str]] = {}
    for other in await kube.list_custom_everywhere("contactsyncs"):
        other_meta = other.get("metadata") or {}
        key = (other_meta.get("namespace", ""), other_meta.get("name", ""))
        if key == me or other_meta.get("deletionTimestamp"):
            continue
        # A list key names one list of one account; syncs may reach that account through
        # different Connection objects, so the key alone is compared.
        if ((other.get("spec") or {}).get("target") or {}).get("listId") != list_id:
            continue
        # Unreadable shards read as empty: that sync rebuilds them on its next full run.
        index = await load_index(kube, *key)
        claim = owner_id(*key)
        for email in index.entries.values():
            owners.setdefault(email, set()).add(claim)
    return {email: frozenset(claims) for email, claims in owners.items()}


async def drop_claims(kube: KubeApi, body: Mapping[str, Any], logger: Logger) -> None:
    """On delete: the sync's claims go, so the syncs left may remove what only they want.
    The members stay: deleting a sync deletes nothing on either side. Its Mailchimp tag is
    deleted here; its Zoho Campaigns record index (every shard) goes with the sync (owner
    references), and :func:`list_owners` reads only the indexes of syncs that exist. Best
    effort: a claim left behind only keeps a member that nobody else removes."""
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace = meta["namespace"]
    target = spec.get("target") or {}
    try:
        list_id = str(target.get("listId") or "")
        ref = str((target.get("connectionRef") or {}).get("name") or "")
        if list_id and ref:
            conn = await kube.get_custom("connections", namespace, ref)
            resolved = await load_endpoint(kube, namespace, conn)
            async with open_target(resolved.endpoint, CallStats()) as client:
                await client.drop_owner(list_id, sync_owner(body))
    except (NotFoundError, NotReadyError, ProviderError, httpx.HTTPError, OSError) as exc:
        logger.warning("claims of the deleted sync not dropped: %s", exc)
