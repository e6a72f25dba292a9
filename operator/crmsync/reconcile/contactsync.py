"""ContactSync: decide whether a run is due, run it, and record what it did.

One long-lived loop per ContactSync (a kopf daemon). It reacts to state, not only to
change events: every pass re-reads the object, asks :func:`crmsync.engine.triggers.decide`
what is due, and sleeps until then or until something wakes it (a spec change, the
sync-now annotation, a CRM notification).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from crmsync.api.v1alpha1.contactsync import (
    ContactSyncSpec,
    ContactSyncStatus,
)
from crmsync.api.v1alpha1.status import (
    Checkpoint,
    RunOutcome,
    RunSummary,
    RunTrigger,
    SkippedExport,
)
from crmsync.engine.settings import SyncSettings
from crmsync.engine.triggers import Decision, Observed, decide
from crmsync.k8s.api import KubeApi
from crmsync.k8s.conditions import set_condition
from crmsync.k8s.logs import Logger
from crmsync.providers.factory import open_crm, open_target
from crmsync.providers.http import AuthError, CallStats, ConfigError, ProviderError
from crmsync.reconcile.resolve import (
    NotReadyError,
    ResolvedConnection,
    check_fields,
    resolve_sync,
)
from crmsync.runtime.counting import RunTally, add_counts
from crmsync.runtime.sync import RunRequest, RunResult, SyncRun

SYNC_NOW_ANNOTATION = "crmsync.dev/sync-now"
READY = ("Ready", True, "Resolved", "connections, mapping and policy are usable")
HISTORY_LENGTH = 10
NOT_READY_RETRY = timedelta(seconds=20)
PROGRESS_EVERY_SECONDS = 2.0
QUIET_TRIGGERS = frozenset({RunTrigger.POLL, RunTrigger.NOTIFICATION})


@dataclass
class SyncSignals:
    """Per-object state shared by the daemon and the event handlers (kopf's memo)."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    notified: bool = False


def _parse_time(value: object) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _version(body: Mapping[str, Any]) -> int:
    """resourceVersion is opaque by contract but an etcd revision in practice; unknown = 0."""
    try:
        return int(body["metadata"].get("resourceVersion", 0))
    except ValueError:
        return 0


def skipped_csv(tally: RunTally) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "record_id", "kind", "reason", "detail"])
    for row in tally.skipped:
        writer.writerow([row.email, row.record_id, row.kind, row.reason, row.detail])
    return out.getvalue()


class ContactSyncReconciler:
    def __init__(
        self, kube: KubeApi, body: Mapping[str, Any], logger: Logger, signals: SyncSignals
    ) -> None:
        self.kube = kube
        self.live_body = body  # kopf keeps a daemon's body up to date, a little later
        self.logger = logger
        self.signals = signals
        self.written: dict[str, Any] | None = None
        """The object as our last status patch returned it: newer than the live body until
        the watch event arrives, so decisions never see their own run as not yet done."""

    # -- the loop ----------------------------------------------------------------------

    async def run_forever(self, stopped: Any) -> None:
        while not stopped:
            next_check = await self.step()
            delay = max(0.0, (next_check - datetime.now(UTC)).total_seconds())
            self.signals.wake.clear()
            try:
                await asyncio.wait_for(self.signals.wake.wait(), timeout=min(delay, 3600))
            except TimeoutError:
                pass

    def snapshot(self) -> dict[str, Any]:
        live = {
            "apiVersion": self.live_body["apiVersion"],
            "kind": self.live_body["kind"],
            "metadata": dict(self.live_body["metadata"]),
            "spec": dict(self.live_body.get("spec") or {}),
            "status": dict(self.live_body.get("status") or {}),
        }
        if self.written is not None and _version(self.written) > _version(live):
            return self.written
        return live

    async def patch_status(self, body: dict[str, Any], patch: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.written = await self.kube.patch_status(
            "contactsyncs", meta["namespace"], meta["name"], patch
        )

    async def step(self) -> datetime:
        body = self.snapshot()
        meta = body["metadata"]
        generation = int(meta.get("generation", 0))
        now = datetime.now(UTC)
        try:
            spec = ContactSyncSpec.model_validate(body["spec"])
        except ValidationError as exc:
            await self._conditions(
                body, ("Ready", False, "InvalidSpec", str(exc.errors()[0]["msg"]))
            )
            return now + timedelta(hours=1)
        status = ContactSyncStatus.model_validate(body["status"])
        annotations = meta.get("annotations") or {}
        seen = Observed(
            generation=generation,
            observed_generation=status.observed_generation,
            sync_now=str(annotations.get(SYNC_NOW_ANNOTATION, "")),
            last_handled_sync_now=status.last_handled_sync_now,
            last_run=status.last_run,
            last_full_sync=status.checkpoint.last_full_sync_time,
            last_scheduled_run=status.last_scheduled_time,
            created=_parse_time(meta.get("creationTimestamp")) or now,
            notified=self.signals.notified,
        )
        decision = decide(spec, seen, now)
        try:
            resolved = await resolve_sync(self.kube, body["metadata"]["namespace"], spec)
        except NotReadyError as exc:
            await self._conditions(body, ("Ready", False, exc.reason, exc.message))
            self.logger.warning("not ready: %s: %s", exc.reason, exc.message)
            return now + NOT_READY_RETRY
        if spec.suspend:
            await self._conditions(
                body,
                READY,
                (
                    "Suspended",
                    True,
                    "SuspendedBySpec",
                    "spec.suspend is true; changes are synced on resume",
                ),
            )
            return decision.next_check or now + timedelta(hours=1)
        if decision.trigger is None:
            await self._idle(body, decision)
            return decision.next_check or now + timedelta(hours=1)
        self.signals.notified = False
        try:
            await self.run(body, spec, decision, seen, resolved)
        except NotReadyError as exc:
            await self._conditions(body, ("Ready", False, exc.reason, exc.message))
            self.logger.warning("not ready: %s: %s", exc.reason, exc.message)
            return now + NOT_READY_RETRY
        return datetime.now(UTC)

    # -- one run -----------------------------------------------------------------------

    async def run(
        self,
        body: dict[str, Any],
        spec: ContactSyncSpec,
        decision: Decision,
        seen: Observed,
        resolved: tuple[ResolvedConnection, ResolvedConnection, SyncSettings],
    ) -> None:
        assert decision.trigger is not None
        crm_conn, target_conn, settings = resolved
        started = datetime.now(UTC)
        run_id = f"{started.strftime('%Y%m%d%H%M%S')}-{decision.trigger.lower()}"
        summary = RunSummary(id=run_id, trigger=decision.trigger, start_time=started)
        status = ContactSyncStatus.model_validate(body["status"])
        audience = spec.target.list_id or ""
        stats = CallStats()
        loud = decision.trigger not in QUIET_TRIGGERS
        if loud:
            await self._event(
                body,
                "Normal",
                "RunStarted",
                f"{decision.trigger} run started ({'full' if decision.full else 'incremental'})",
            )

        last_progress = 0.0

        async def progress(tally: RunTally, checkpoint: Checkpoint) -> None:
            nonlocal last_progress
            if time.monotonic() - last_progress < PROGRESS_EVERY_SECONDS:
                return
            last_progress = time.monotonic()
            running = summary.model_copy(
                update={
                    "counts": tally.as_counts(),
                    "api_calls": stats.api_calls,
                    "retries": stats.retries,
                }
            )
            # endTime: null removes the previous run's end from the merge-patched lastRun.
            await self.patch_status(body, {"lastRun": {**running.to_wire(), "endTime": None}})

        result: RunResult | None = None
        error: str = ""
        try:
            async with (
                open_crm(crm_conn.endpoint, stats) as crm,
                open_target(target_conn.endpoint, stats) as target,
            ):
                await check_fields(crm, target, settings, audience, create_missing=True)
                request = RunRequest(
                    settings, audience, status.checkpoint, decision.full, spec.batch_size
                )
                result = await SyncRun(crm, target, request, progress).execute()
        except NotReadyError:
            raise
        except (AuthError, ConfigError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except (ProviderError, httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        await self._record(
            body,
            decision=decision,
            seen=seen,
            summary=summary,
            stats=stats,
            result=result,
            error=error,
        )

    async def _record(
        self,
        body: dict[str, Any],
        *,
        decision: Decision,
        seen: Observed,
        summary: RunSummary,
        stats: CallStats,
        result: RunResult | None,
        error: str,
    ) -> None:
        meta = body["metadata"]
        generation = int(meta.get("generation", 0))
        status = ContactSyncStatus.model_validate(body["status"])
        ended = datetime.now(UTC)
        patch: dict[str, Any] = {"observedGeneration": generation}
        if result is None:
            summary = summary.model_copy(
                update={
                    "end_time": ended,
                    "outcome": RunOutcome.FAILED,
                    "message": error[:4000],
                    "api_calls": stats.api_calls,
                    "retries": stats.retries,
                }
            )
            conditions = set_condition(
                status.model_dump(by_alias=True, mode="json")["conditions"],
                *READY,
                generation,
            )
            conditions = set_condition(
                conditions, "Synced", False, "RunFailed", error[:1000], generation
            )
            await self._event(body, "Warning", "RunFailed", error)
        else:
            counts = result.tally.as_counts()
            outcome = RunOutcome.PARTIAL if counts.failed else RunOutcome.SUCCEEDED
            summary = summary.model_copy(
                update={
                    "end_time": ended,
                    "outcome": outcome,
                    "counts": counts,
                    "api_calls": stats.api_calls,
                    "retries": stats.retries,
                }
            )
            patch["counts"] = add_counts(status.counts, counts).to_wire()
            patch["checkpoint"] = result.checkpoint.to_wire()
            patch["members"] = max(0, result.members)
            reason = "RecordsRejected" if counts.failed else "Succeeded"
            message = (
                f"{decision.trigger}: {counts.added} added, {counts.updated} updated, {counts.unsubscribed} unsubscribed, "
                f"{counts.deleted} removed, {counts.skipped_duplicate + counts.skipped_ignored} skipped, {counts.failed} failed"
            )
            conditions = set_condition(
                status.model_dump(by_alias=True, mode="json")["conditions"],
                *READY,
                generation,
            )
            conditions = set_condition(conditions, "Synced", True, reason, message, generation)
            if result.tally.skipped_total:
                export = f"{meta['name']}-skipped"
                await self.kube.apply_configmap(
                    meta["namespace"],
                    export,
                    {"skipped.csv": skipped_csv(result.tally), "run": summary.id},
                    body,
                )
                patch["skippedExport"] = SkippedExport(
                    config_map=export, records=len(result.tally.skipped)
                ).to_wire()
            changed = (
                counts.added + counts.updated + counts.unsubscribed + counts.deleted + counts.failed
            )
            if decision.trigger not in QUIET_TRIGGERS or changed:
                await self._event(
                    body,
                    "Warning" if counts.failed else "Normal",
                    "RunSucceeded" if not counts.failed else "RecordsRejected",
                    message,
                )
        conditions = set_condition(
            conditions, "Suspended", False, "Active", "the sync runs", generation
        )
        patch["conditions"] = conditions
        patch["lastRun"] = summary.to_wire()
        patch["history"] = [summary.to_wire()] + [
            h.to_wire() for h in status.history[: HISTORY_LENGTH - 1]
        ]
        if decision.trigger == RunTrigger.MANUAL:
            patch["lastHandledSyncNow"] = seen.sync_now
        if decision.trigger == RunTrigger.SCHEDULE:
            patch["lastScheduledTime"] = summary.start_time.isoformat()
        await self.patch_status(body, patch)

    # -- status helpers ----------------------------------------------------------------

    async def _conditions(
        self, body: dict[str, Any], *updates: tuple[str, bool | None, str, str]
    ) -> None:
        meta = body["metadata"]
        generation = int(meta.get("generation", 0))
        current = (body.get("status") or {}).get("conditions") or []
        conditions = current
        for type_, value, reason, message in updates:
            conditions = set_condition(conditions, type_, value, reason, message, generation)
        if conditions != current:
            await self.patch_status(body, {"conditions": conditions})

    async def _idle(self, body: dict[str, Any], decision: Decision) -> None:
        status = body.get("status") or {}
        updates: list[tuple[str, bool | None, str, str]] = [READY]
        suspended = [
            c
            for c in status.get("conditions") or []
            if c.get("type") == "Suspended" and c.get("status") == "True"
        ]
        if suspended:
            updates.append(("Suspended", False, "Resumed", "the sync runs again"))
        if updates:
            await self._conditions(body, *updates)
        if decision.next_check is not None:
            wanted = decision.next_check.isoformat()
            if _parse_time(status.get("nextRunTime")) != decision.next_check:
                await self.patch_status(body, {"nextRunTime": wanted})

    async def _event(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            await self.kube.post_event(body, type_=type_, reason=reason, message=message)
        except httpx.HTTPError as exc:  # events are best effort
            self.logger.debug("event not posted: %s", exc)
