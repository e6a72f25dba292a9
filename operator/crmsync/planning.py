"""``crmsync plan -f FILE``: what a ContactSync would change, against the live systems,
changing nothing (B2). ``crmsync export-skipped NAME``: the skipped records as CSV (B8)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import kopf
import yaml

from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.contactsync import ContactSync, ContactSyncStatus
from crmsync.engine.plan import Action, ActionKind
from crmsync.k8s.api import KubeApi
from crmsync.providers.factory import open_crm, open_target
from crmsync.providers.http import CallStats
from crmsync.reconcile.indexstore import load_index
from crmsync.reconcile.ownership import list_owners
from crmsync.reconcile.resolve import NotReadyError, check_fields, resolve_sync
from crmsync.runtime.sync import RunRequest, RunResult, SyncRun

ORDER = [ActionKind.ADD, ActionKind.UPDATE, ActionKind.UNSUBSCRIBE, ActionKind.REMOVE,
         ActionKind.CRM_OPT_OUT, ActionKind.SKIP_DUPLICATE, ActionKind.SKIP_IGNORED,
         ActionKind.UNCHANGED]  # fmt: skip


def _kube() -> KubeApi:
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
    if info is None:
        raise SystemExit("no kubeconfig: set KUBECONFIG")
    return KubeApi(info)


def load_contactsync(path: Path, namespace: str | None) -> ContactSync:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "ContactSync"]
    if len(docs) != 1:
        raise SystemExit(f"{path}: expected exactly one ContactSync, found {len(docs)}")
    sync = ContactSync.model_validate(docs[0])
    sync.metadata.setdefault("namespace", namespace or "default")
    if namespace:
        sync.metadata["namespace"] = namespace
    return sync


async def dry_run(kube: KubeApi, sync: ContactSync) -> tuple[RunResult, CallStats]:
    """A full comparison of the declared sync with what the target holds; no writes."""
    namespace = sync.metadata["namespace"]
    crm_conn, target_conn, settings = await resolve_sync(
        kube, namespace, sync.spec, sync.metadata["name"]
    )
    audience = sync.spec.target.list_id or ""
    stats = CallStats()
    checkpoint = ContactSyncStatus().checkpoint
    try:
        live = await kube.get_custom("contactsyncs", namespace, sync.metadata["name"])
        checkpoint = ContactSyncStatus.model_validate(live.get("status") or {}).checkpoint
    except LookupError:
        pass  # a sync not applied yet: plan its initial load
    index = None
    if target_conn.endpoint.provider == Provider.ZOHO_CAMPAIGNS:
        # Read only: a dry run confirms no writes, so it never changes the index.
        index = await load_index(kube, namespace, sync.metadata["name"])
    async with (
        open_crm(crm_conn.endpoint, stats) as crm,
        open_target(target_conn.endpoint, stats) as target,
    ):
        await check_fields(crm, target, settings, audience, create_missing=False)
        request = RunRequest(
            settings,
            audience,
            checkpoint,
            full=True,
            batch_size=sync.spec.batch_size,
            dry_run=True,
            record_index=index,
            other_owners=await list_owners(kube, sync.model_dump(by_alias=True))
            if index is not None
            else {},
        )
        return await SyncRun(crm, target, request).execute(), stats


def _describe(action: Action) -> str:
    changes = ", ".join(f"{c.field}: {c.old!r} → {c.new!r}" for c in action.changes)
    record = f" (record {action.record_id})" if action.record_id else ""
    return f"  {action.kind.value:<15} {action.email or '-':<40} {action.reason.value}{record}{'  ' + changes if changes else ''}"


def print_plan(
    result: RunResult, stats: CallStats, out: TextIO, *, limit: int, as_json: bool
) -> None:
    if as_json:
        json.dump(
            {
                "summary": dict(Counter(a.kind.value for a in result.planned)),
                "actions": [
                    {
                        "action": a.kind.value,
                        "email": a.email,
                        "reason": a.reason.value,
                        "recordId": a.record_id,
                        "changes": [
                            {"field": c.field, "old": c.old, "new": c.new} for c in a.changes
                        ],
                    }
                    for a in result.planned
                ],
            },
            out,
            ensure_ascii=False,
            indent=2,
        )
        out.write("\n")
        return
    by_kind: dict[ActionKind, list[Action]] = {k: [] for k in ORDER}
    for action in result.planned:
        by_kind[action.kind].append(action)
    totals = ", ".join(f"{len(v)} {k.value}" for k, v in by_kind.items() if v)
    out.write(f"Plan: {totals or 'nothing to do'} ({stats.api_calls} read calls, no writes)\n")
    for kind in ORDER:
        actions = by_kind[kind]
        if not actions or kind == ActionKind.UNCHANGED:
            continue
        reasons = Counter(a.reason.value for a in actions)
        out.write(
            f"\n{kind.value} ({len(actions)}; {', '.join(f'{r} {n}' for r, n in reasons.most_common())}):\n"
        )
        for action in actions[:limit]:
            out.write(_describe(action) + "\n")
        if len(actions) > limit:
            out.write(f"  … {len(actions) - limit} more (use --limit or -o json)\n")


def main_plan(path: Path, namespace: str | None, limit: int, output: str) -> int:
    async def run() -> int:
        kube = _kube()
        try:
            result, stats = await dry_run(kube, load_contactsync(path, namespace))
        except NotReadyError as exc:
            print(f"cannot plan: {exc.reason}: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await kube.aclose()
        print_plan(result, stats, sys.stdout, limit=limit, as_json=output == "json")
        return 0

    return asyncio.run(run())


def main_export_skipped(name: str, namespace: str, out_path: str | None) -> int:
    async def read() -> str | None:
        kube = _kube()
        try:
            body: dict[str, Any] = await kube.get_custom("contactsyncs", namespace, name)
            export = ((body.get("status") or {}).get("skippedExport") or {}).get("configMap")
            if not export:
                return None
            return (await kube.get_configmap(namespace, export)).get("skipped.csv", "")
        finally:
            await kube.aclose()

    csv_text = asyncio.run(read())
    if csv_text is None:
        print(f"ContactSync {namespace}/{name} has skipped nothing yet", file=sys.stderr)
        return 1
    if out_path:
        Path(out_path).write_text(csv_text)
    else:
        sys.stdout.write(csv_text)
    return 0
