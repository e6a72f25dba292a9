"""ContactSync: decide whether a run is due, run it, and record what it did.

One long-lived loop per ContactSync (a kopf daemon). It reacts to state, not only to
change events: every pass re-reads the object, asks :func:`crmsync.engine.triggers.decide`
what is due, and sleeps until then or until something wakes it (a spec change, the
sync-now annotation, a CRM notification).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from crmsync import metrics
from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.contactsync import (
    ContactSyncSpec,
    ContactSyncStatus,
)
from crmsync.api.v1alpha1.status import (
    AudienceView,
    Checkpoint,
    RunOutcome,
    RunSummary,
    RunTrigger,
    SkippedExport,
    SyncCounts,
)
from crmsync.engine.backoff import LONGEST_RETRY
from crmsync.engine.quiet import SyncState, aligned_poll, ineligible
from crmsync.engine.schedule import parse_duration
from crmsync.engine.settings import SyncSettings
from crmsync.engine.specerror import SpecError
from crmsync.engine.triggers import Decision, Observed, channel_renewal, decide
from crmsync.k8s.api import KubeApi
from crmsync.k8s.conditions import RECONCILING, condition_status, set_abnormal, set_condition
from crmsync.k8s.logs import Logger
from crmsync.k8s.secrets import FOR_RUN_SECONDS, MAX_AGE_SECONDS
from crmsync.providers.base import AudienceTarget, CrmSource
from crmsync.providers.factory import open_crm, open_target
from crmsync.providers.http import AuthError, CallStats, ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.activity import campaign_activity
from crmsync.reconcile.audiencehook import current_hook, reconcile_audience_hook
from crmsync.reconcile.carts import abandoned_carts
from crmsync.reconcile.channels import join_channel
from crmsync.reconcile.fullruns import run_turn
from crmsync.reconcile.handoff import take_over
from crmsync.reconcile.indexstore import load_index, save_index
from crmsync.reconcile.live import LiveObject, resource_version
from crmsync.reconcile.notifications import sync_channel
from crmsync.reconcile.ownership import claims_turn, list_owners
from crmsync.reconcile.quietpoll import poll_verdict, probe_needs
from crmsync.reconcile.resolve import (
    NotReadyError,
    ResolvedConnection,
    check_fields,
    forget_credentials,
    resolve_sync,
)
from crmsync.reconcile.retry import (
    back_off,
    clear_retry,
    current_retry,
    retry_at,
    validation_message,
)
from crmsync.reconcile.routing import HeldRecords, children_of_edited_parents, read_and_route
from crmsync.reconcile.screening import Screen
from crmsync.reconcile.usage import LEDGER
from crmsync.reconcile.waiting import stop_waiting, wait_for_connections
from crmsync.runtime.counting import RunTally, add_counts
from crmsync.runtime.indexcodec import configmap_name
from crmsync.runtime.indexlayout import RecordIndexFullError
from crmsync.runtime.recordindex import RecordIndex
from crmsync.runtime.reverse import campaign_counts, campaign_notifications, execute_flow
from crmsync.runtime.sync import ProgressCallback, RunRequest, RunResult
from crmsync.sharding import Sharding, in_shard, shard_of
from crmsync.webhook import NotificationServer

SYNC_NOW_ANNOTATION = "crmsync.dev/sync-now"
READY = ("Ready", True, "Resolved", "connections, mapping and policy are usable")
HISTORY_LENGTH = 10
NOT_READY_RETRY = timedelta(seconds=20)
PROGRESS_EVERY_SECONDS = 2.0
FIELD_CHECK_SECONDS = 600.0
PARALLEL_BATCHES = 10
"""Vendor batches a run writes at once: the target Connection's in-flight budget, up to
Mailchimp's 10 simultaneous connections (a batch in flight holds ≈ 1 MiB of answer)."""
QUIET_TRIGGERS = frozenset({RunTrigger.POLL, RunTrigger.NOTIFICATION})
Resolved = tuple[ResolvedConnection, ResolvedConnection, SyncSettings]
"""What a run needs from the cluster (:func:`crmsync.reconcile.resolve.resolve_sync`)."""


@dataclass
class SyncSignals:
    """Per-object state shared by the daemon and the event handlers (kopf's memo)."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    notified: bool = False
    dependency_changed: bool = False
    """A Connection became Ready while this sync backed off: try again at once."""
    campaign_side: bool = False
    held: HeldRecords = field(default_factory=HeldRecords)
    """The records this sync holds members for (notification routing)."""
    screen: Screen | None = None
    """What a CRM delivery needs to decide for this sync without waking it (the last
    resolution; dropped on a spec change)."""

    def wake_up(self) -> None:
        self.wake.set()


def _parse_time(value: object) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _record_metrics(meta: Mapping[str, Any], summary: RunSummary, result: RunResult | None) -> None:
    ended = summary.end_time or datetime.now(UTC)
    tally = result.tally if result is not None else None
    metrics.record_run(
        meta["namespace"],
        meta["name"],
        trigger=str(summary.trigger),
        outcome=str(summary.outcome),
        duration=(ended - summary.start_time).total_seconds(),
        ended=ended.timestamp(),
        counts={k: getattr(tally, k) for k in metrics.RECORD_OUTCOMES} if tally else None,
        skipped_by_reason=dict(tally.by_reason) if tally else None,
        members=result.members if result is not None else None,
        checkpoint=result.checkpoint.to_wire() if result is not None else None,
    )


def synced_generation(status: ContactSyncStatus) -> int:
    """The generation of the last run; before syncedGeneration existed, observedGeneration
    was written by runs only and meant the same."""
    if status.synced_generation is not None:
        return status.synced_generation
    return status.observed_generation if status.last_run is not None else 0


def _run_message(decision: Decision, counts: SyncCounts, result: RunResult) -> str:
    message = (
        f"{decision.trigger}: {counts.added} added, {counts.updated} updated, {counts.unsubscribed} unsubscribed, "
        f"{counts.deleted} removed, {counts.skipped_duplicate + counts.skipped_ignored} skipped, {counts.failed} failed"
    )
    if result.reverse is not None or counts.crm_opted_out:
        message += (
            f"; CRM: {counts.crm_created} created, {counts.crm_updated} updated, "
            f"{counts.crm_opted_out} opted out"
        )
    return message


def _next_run_shown(
    spec: ContactSyncSpec,
    seen: Observed,
    decision: Decision,
    summary: RunSummary,
    result: RunResult,
    generation: int,
) -> dict[str, Any]:
    """``status.nextRunTime`` as the pass after this run will show it, written with the
    run's own status patch rather than in one more (issue 14: a thousand syncs). Nothing
    when that pass runs again at once: it writes its own."""
    after = replace(
        seen,
        synced_generation=generation,
        last_run=summary,
        last_handled_sync_now=(
            seen.sync_now if decision.trigger == RunTrigger.MANUAL else seen.last_handled_sync_now
        ),
        last_full_sync=result.checkpoint.last_full_sync_time or seen.last_full_sync,
        last_scheduled_run=(
            summary.start_time
            if decision.trigger == RunTrigger.SCHEDULE
            else seen.last_scheduled_run
        ),
        notified=False,
        resume_pending=result.checkpoint.resume is not None,
        retry_at=None,
    )
    assert summary.end_time is not None
    try:
        following = decide(spec, after, summary.end_time)
    except SpecError:
        return {}
    if following.trigger is not None:
        return {}
    return {"nextRunTime": following.next_run.isoformat() if following.next_run else None}


def _wire_or_none(checkpoint: Checkpoint) -> dict[str, Any] | None:
    """The resume point as a merge patch: null removes it."""
    return checkpoint.resume.to_wire() if checkpoint.resume is not None else None


def skipped_csv(tally: RunTally) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "record_id", "kind", "reason", "detail"])
    for row in tally.skipped:
        writer.writerow([row.email, row.record_id, row.kind, row.reason, row.detail])
    return out.getvalue()


def _budgeted_stats(
    namespace: str,
    spec: ContactSyncSpec,
    crm_conn: ResolvedConnection,
    target_conn: ResolvedConnection,
) -> CallStats:
    """The run's call counter, feeding the daily usage ledger; NotReadyError when the CRM
    Connection has spent its daily budget (Z15)."""
    crm_key = (namespace, spec.crm.connection_ref.name)
    budget = crm_conn.connection.spec.rate_limit.daily_credit_budget
    if budget and LEDGER.today(crm_key).requests >= budget:
        raise NotReadyError(
            "DailyBudgetExhausted",
            f"CRM Connection {crm_key[1]!r} has used its daily budget of {budget} requests (Z15)",
        )
    usage = LEDGER.observer(
        {
            crm_conn.endpoint.provider: crm_key,
            target_conn.endpoint.provider: (namespace, spec.target.connection_ref.name),
        },
        metrics.API_OBSERVER,
    )
    return CallStats(observer=usage)


def _failed_run(
    summary: RunSummary,
    status: ContactSyncStatus,
    stats: CallStats,
    error: str,
    saved: SyncCounts | None,
    generation: int,
) -> tuple[RunSummary, list[dict[str, Any]]]:
    """A run that failed: its summary (with the counts it had saved alongside its
    checkpoint: they stand) and the conditions saying so."""
    summary = summary.model_copy(
        update={
            "end_time": datetime.now(UTC),
            "outcome": RunOutcome.FAILED,
            "message": error[:4000],
            "api_calls": stats.api_calls,
            "retries": stats.retries,
            "counts": saved or SyncCounts(),
        }
    )
    conditions = set_condition(
        status.model_dump(by_alias=True, mode="json")["conditions"], *READY, generation
    )
    conditions = set_condition(conditions, "Synced", False, "RunFailed", error[:1000], generation)
    return summary, conditions


def _run_error(kube: KubeApi, exc: Exception, *connections: ResolvedConnection) -> str:
    """What failed the run; refused credentials are read from their Secrets next time."""
    if isinstance(exc, AuthError):
        forget_credentials(kube, *connections)
    return f"{type(exc).__name__}: {exc}"


class ContactSyncReconciler(LiveObject):
    plural = "contactsyncs"

    def __init__(
        self,
        kube: KubeApi,
        body: Mapping[str, Any],
        logger: Logger,
        signals: SyncSignals,
        webhook: NotificationServer | None = None,
    ) -> None:
        self.kube = kube
        self.webhook = webhook
        self.first_pass = True
        """A run still marked Running on the first pass was cut off by a crash or restart."""
        self.live_body = body
        self.logger = logger
        self.signals = signals
        self.written = None
        self.fields_checked: tuple[tuple[Any, ...], float] | None = None
        """What the last field check covered and when: runs within FIELD_CHECK_SECONDS
        of it, with the same spec and mapping, read no field metadata."""
        self.fields_check_failed = False
        """The last field check failed: the next one reads afresh, not what other syncs
        of the Connections read (:mod:`crmsync.providers.shared`)."""
        self.parent_changed: set[str] = set()
        """Records whose Account was edited, for the next run to read by id (Z3)."""
        self.edited_parents: dict[str, set[str]] = {}
        """Parent edits notified but not yet resolved to their records (a failed read)."""
        self.quiet_polled: datetime | None = None
        """The last poll that found nothing changed (no run, no status write): the next
        poll counts from it (:mod:`crmsync.engine.quiet`)."""
        self.parsed: tuple[int, ContactSyncSpec, ContactSyncStatus] | None = None
        """Spec and status as last validated, with the resourceVersion they came from."""
        self.watermark: datetime | None = None
        """The start of this sync's last run that completed in this process: everything
        changed before it was read by that run (:func:`crmsync.engine.quiet.is_quiet`)."""

    # -- the loop ----------------------------------------------------------------------

    async def run_forever(self, stopped: Any) -> None:
        try:
            while not stopped:
                # Cleared before the pass reads anything: a wake-up (a notification) that
                # comes while the pass runs is kept and starts the next pass at once.
                self.signals.wake.clear()
                try:
                    next_check = await self.step()
                except Exception as exc:  # a bug must neither end the loop nor spin it
                    next_check = await self._unexpected(exc)
                delay = max(0.0, (next_check - datetime.now(UTC)).total_seconds())
                try:
                    await asyncio.wait_for(self.signals.wake.wait(), timeout=min(delay, 3600))
                except TimeoutError:
                    pass
        finally:
            meta = self.live_body["metadata"]
            stop_waiting(meta["namespace"], self.plural, meta["name"])

    async def step(self) -> datetime:
        body = self.snapshot()
        meta = body["metadata"]
        generation = int(meta.get("generation", 0))
        now = datetime.now(UTC)
        try:
            spec, status = self._parsed(body)
        except ValidationError as exc:
            return await back_off(self, body, "InvalidSpec", validation_message(exc))
        if self.first_pass:
            body, status = await self._first_pass()
        annotations = meta.get("annotations") or {}
        seen = Observed(
            generation=generation,
            synced_generation=synced_generation(status),
            sync_now=str(annotations.get(SYNC_NOW_ANNOTATION, "")),
            last_handled_sync_now=status.last_handled_sync_now,
            last_run=status.last_run,
            last_full_sync=status.checkpoint.last_full_sync_time,
            last_scheduled_run=status.last_scheduled_time,
            created=_parse_time(meta.get("creationTimestamp")) or now,
            notified=self.signals.notified,
            resume_pending=status.checkpoint.resume is not None,
            retry_at=None if self._dependency_changed() else retry_at(body),
            quiet_poll=self.quiet_polled,
        )
        if status.synced_generation is None:  # kept before observedGeneration moves on
            await self.patch_status(body, {"syncedGeneration": seen.synced_generation})
        try:
            decision = decide(spec, seen, now)
        except SpecError as exc:
            return await back_off(self, body, exc.reason, exc.message)
        if await self._not_concerned(decision, generation):
            return now
        # A poll first asks whether anything changed: credentials a little old do for that.
        polling = decision.trigger == RunTrigger.POLL
        for_run = decision.trigger is not None and not polling
        try:
            resolved = await resolve_sync(
                self.kube,
                body["metadata"]["namespace"],
                spec,
                body["metadata"]["name"],
                FOR_RUN_SECONDS if for_run else MAX_AGE_SECONDS,
            )
        except NotReadyError as exc:
            return await self._wait_for_connections(body, exc)
        # Notification routing reuses it: here, and at the webhook (crmsync.reconcile.screening).
        self.signals.screen = Screen(generation, time.monotonic(), resolved[0], resolved[2])
        renew_at = await self._notifications(body, spec, resolved[0], resolved[2])
        await self._audience_hook(body, spec, resolved[1])
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
            await self._abnormal(self.snapshot(), RECONCILING, False)
            return decision.next_check or now + timedelta(hours=1)
        if decision.trigger is None:
            await self._idle(body, decision)
            return min(
                decision.next_check or now + timedelta(hours=1),
                renew_at or now + timedelta(hours=1),
            )
        if not in_shard(shard_of(self.snapshot())):
            # Moved to another shard meanwhile: kopf stops this daemon; that shard runs it.
            return now + timedelta(hours=1)
        needed = await self._run_needed(body, spec, decision, seen, resolved, renew_at)
        if isinstance(needed, datetime):
            return needed  # not this sync's change, or a quiet poll: no run
        resolved = needed
        self.signals.notified = False
        self.signals.campaign_side = False
        # Resolved: Ready now, not only once the run (perhaps hours long) has ended.
        # With observedGeneration in the same patch: a spec not synced yet never reads Current.
        first = (RECONCILING, True, f"{decision.trigger}Run", f"a {decision.trigger} run syncs generation {generation}")  # fmt: skip
        # Not while backing off: a pass woken early that fails again leaves the failure shown.
        ready = [READY] if seen.retry_at is None else []
        await self._conditions(body, *ready, *([first] if seen.synced_generation != generation else []))  # fmt: skip
        # Full runs take turns (crmsync.reconcile.fullruns); one asked for by a person does not.
        async with run_turn(decision.full and decision.trigger != RunTrigger.MANUAL):
            body = self.snapshot()
            try:
                failure = await self.run(body, spec, decision, seen, resolved)
            except NotReadyError as exc:
                return await self._wait_for_connections(body, exc)
        if failure:
            # Synced=False and the RunFailed Event are the run's own; the wait is ours.
            wait_for_connections(meta["namespace"], self.plural, meta["name"], self.signals)
            return await back_off(
                self, self.snapshot(), "RunFailed", failure, condition=None, event=False
            )
        await self._after_run(spec, decision.trigger, resolved)
        return datetime.now(UTC)

    def _parsed(self, body: dict[str, Any]) -> tuple[ContactSyncSpec, ContactSyncStatus]:
        """Spec and status as models, validated once per resourceVersion: a delivery wakes
        every sync of the module, and most find nothing to do (issue 14)."""
        version = resource_version(body)
        if self.parsed is not None and version and self.parsed[0] == version:
            return self.parsed[1].model_copy(), self.parsed[2].model_copy()
        spec = ContactSyncSpec.model_validate(body["spec"])
        status = ContactSyncStatus.model_validate(body["status"])
        self.parsed = (version, spec, status)
        return spec.model_copy(), status.model_copy()

    async def _after_run(
        self,
        spec: ContactSyncSpec,
        trigger: RunTrigger,
        resolved: tuple[ResolvedConnection, ResolvedConnection, SyncSettings],
    ) -> None:
        """After a completed run only; their own failures never fail the run."""
        meta = self.live_body["metadata"]
        stop_waiting(meta["namespace"], self.plural, meta["name"])
        await clear_retry(self, self.snapshot())
        await self._passes(spec, trigger, resolved)

    async def _passes(self, spec: ContactSyncSpec, trigger: RunTrigger, resolved: Resolved) -> None:
        """The campaign-activity and abandoned-cart passes, when due: after a completed run,
        and after a quiet poll (their intervals are their own; the last run completed)."""
        meta = self.live_body["metadata"]
        # A campaign sent to the audience (its webhook says so) brings the next pass forward.
        sent = self.webhook is not None and bool(
            self.webhook.take_audience_events(meta["namespace"], meta["name"]).get("campaign")
        )
        await campaign_activity(
            self,
            self._event,
            spec,
            trigger,
            resolved,
            campaign_sent=sent,
            record_index=self._load_index,
        )
        await abandoned_carts(self, self._event, spec, trigger, resolved)

    async def _run_needed(
        self, body: dict[str, Any], spec: ContactSyncSpec, decision: Decision, seen: Observed,
        resolved: Resolved, renew_at: datetime | None,
    ) -> datetime | Resolved:  # fmt: skip
        """When to look again if the due run is not needed after all (a notification about
        none of this sync's records, a quiet poll), else what the run needs."""
        if await self._not_concerned(decision, seen.generation):
            return datetime.now(UTC)
        if decision.trigger == RunTrigger.POLL:
            return await self._poll(body, spec, seen, resolved, renew_at)
        return resolved

    async def _poll(
        self, body: dict[str, Any], spec: ContactSyncSpec, seen: Observed, resolved: Resolved,
        renew_at: datetime | None,
    ) -> datetime | Resolved:  # fmt: skip
        """A due poll: when to look again if it was quiet (nothing written), else what the
        run needs, resolved again with the credentials as they are now."""
        now = datetime.now(UTC)
        meta = body["metadata"]
        if await self._quiet(body, spec, resolved):
            self.quiet_polled = aligned_poll(now, parse_duration(spec.trigger.poll_interval))
            await self._passes(spec, RunTrigger.POLL, resolved)
            again = decide(spec, replace(seen, quiet_poll=self.quiet_polled), now)
            later = now + timedelta(hours=1)
            return min(again.next_check or later, renew_at or later)
        try:
            return await resolve_sync(
                self.kube, meta["namespace"], spec, meta["name"], FOR_RUN_SECONDS
            )
        except NotReadyError as exc:
            return await self._wait_for_connections(body, exc)

    async def _quiet(self, body: dict[str, Any], spec: ContactSyncSpec, resolved: Resolved) -> bool:
        """Whether a due poll finds nothing for this sync in the Connections' shared probes
        (:mod:`crmsync.engine.quiet`); anything else runs as before."""
        crm_conn, target_conn, settings = resolved
        status = ContactSyncStatus.model_validate(body["status"])
        conditions = (body.get("status") or {}).get("conditions")
        state = SyncState(
            checkpoint=status.checkpoint,
            mapping_hash=settings.mapping_hash,
            retrying=current_retry(body) is not None,
            ready_and_synced=all(
                condition_status(conditions, kind) == "True" for kind in ("Ready", "Synced")
            ),
            parents_edited=bool(self.parent_changed or self.edited_parents),
            campaign_pending=self.signals.campaign_side,
        )
        needs = probe_needs(settings, target_conn.endpoint.provider)
        try:
            _budgeted_stats(body["metadata"]["namespace"], spec, crm_conn, target_conn)
        except NotReadyError:
            needs = None  # the run says so, as before
        if needs is None or ineligible(state):
            metrics.QUIET_POLLS.labels("ineligible").inc()
            return False
        verdict = await poll_verdict(
            needs,
            crm_conn.endpoint,
            target_conn.endpoint,
            spec.target.list_id or "",
            status.checkpoint,
            self.watermark,
        )
        if verdict.quiet:
            return True
        held = self.signals.held.ids
        if verdict.changed is None or verdict.read_at is None or held is None:
            metrics.QUIET_POLLS.labels("changed").inc()
            return False
        # Only CRM records changed: routed like a notification naming them.
        try:
            async with open_crm(crm_conn.endpoint, CallStats()) as crm:
                connection = crm_conn.endpoint.connection
                concerned = await read_and_route(crm, connection, settings, held, verdict.changed)
        except (ProviderError, httpx.HTTPError, OSError):
            concerned = True  # unknown: run as before
        metrics.QUIET_POLLS.labels("changed" if concerned else "routed").inc()
        if not concerned:
            # Every change before the probes read is known not to concern this sync.
            self.watermark = max(self.watermark or verdict.read_at, verdict.read_at)
        return not concerned

    async def _first_pass(self) -> tuple[dict[str, Any], ContactSyncStatus]:
        """A run still marked Running was cut off (crash, restart, a move between shards)."""
        self.first_pass = False
        # Moved here from another shard: its run in progress ends first (issue 15.2).
        await take_over(self, self.logger)
        body = self.snapshot()
        status = ContactSyncStatus.model_validate(body["status"])
        if status.last_run is not None and status.last_run.end_time is None:
            await self._close_interrupted(body, status)
            body = self.snapshot()
            status = ContactSyncStatus.model_validate(body["status"])
        return body, status

    def _dependency_changed(self) -> bool:
        changed, self.signals.dependency_changed = self.signals.dependency_changed, False
        return changed

    async def _wait_for_connections(self, body: dict[str, Any], exc: NotReadyError) -> datetime:
        """Not ready: back off, and be woken early when a Connection becomes Ready."""
        meta = body["metadata"]
        wait_for_connections(meta["namespace"], self.plural, meta["name"], self.signals)
        return await back_off(self, body, exc.reason, exc.message)

    async def _unexpected(self, exc: Exception) -> datetime:
        """Reported like any failure (Ready=False, one Event, backoff), with the traceback
        logged once per reason rather than once per pass."""
        body = self.snapshot()
        reason = "ReconcileError"
        retry = current_retry(body)
        if retry is None or retry.reason != reason:
            self.logger.exception("sync pass failed")
        try:
            return await back_off(self, body, reason, f"{type(exc).__name__}: {exc}")
        except Exception:
            self.logger.warning("sync pass failed and its status was not written: %s", exc)
            return datetime.now(UTC) + LONGEST_RETRY

    # -- one run -----------------------------------------------------------------------

    async def run(
        self,
        body: dict[str, Any],
        spec: ContactSyncSpec,
        decision: Decision,
        seen: Observed,
        resolved: tuple[ResolvedConnection, ResolvedConnection, SyncSettings],
    ) -> str:
        """Carry out one run; the error when it failed as a whole, else ""."""
        assert decision.trigger is not None
        crm_conn, target_conn, settings = resolved
        started = datetime.now(UTC)
        # To the millisecond: two runs in one second (a spec change, then a sync-now) still
        # have their own ids, and a later run's id sorts after an earlier one's.
        stamp = f"{started.strftime('%Y%m%d%H%M%S')}{started.microsecond // 1000:03d}"
        run_id = f"{stamp}-{decision.trigger.lower()}"
        summary = RunSummary(
            id=run_id, trigger=decision.trigger, start_time=started, shard=Sharding.shard
        )
        audience = spec.target.list_id or ""
        stats = _budgeted_stats(body["metadata"]["namespace"], spec, crm_conn, target_conn)
        if decision.trigger not in QUIET_TRIGGERS:
            await self._event(
                body,
                "Normal",
                "RunStarted",
                f"{decision.trigger} run started ({'full' if decision.full else 'incremental'})",
            )

        # Marked Running before anything is written, so a shard taking the sync over
        # waits for this run to end (crmsync/reconcile/handoff.py).
        await self.patch_status(body, {"lastRun": {**summary.to_wire(), "endTime": None}})
        last_progress = 0.0
        index = (
            await self._load_index(body)
            if target_conn.endpoint.provider == Provider.ZOHO_CAMPAIGNS
            else None
        )

        saved = SyncCounts()

        async def progress(tally: RunTally, checkpoint: Checkpoint) -> None:
            """Counts and checkpoint as one patch (B5); writes about to be sent are saved
            first, whatever the pace (:mod:`crmsync.runtime.pending`)."""
            nonlocal last_progress, saved
            urgent = bool(checkpoint.pending_writes)
            if not urgent and time.monotonic() - last_progress < PROGRESS_EVERY_SECONDS:
                return
            last_progress = time.monotonic()
            await self._save_index(body, index)
            running = summary.model_copy(
                update={
                    "counts": tally.as_counts(),
                    "api_calls": stats.api_calls,
                    "retries": stats.retries,
                }
            )
            # endTime: null removes the previous run's end from the merge-patched lastRun.
            # The checkpoint goes with the counts: a crash resumes from here (B5).
            await self.patch_status(
                body,
                {
                    "lastRun": {**running.to_wire(), "endTime": None},
                    "checkpoint": {**checkpoint.to_wire(), "resume": _wire_or_none(checkpoint)},
                },
            )
            saved = running.counts

        result: RunResult | None = None
        view: AudienceView | None = None
        error: str = ""
        # Syncs on one Zoho Campaigns list take turns: each reads the others' claims (their
        # record indexes) and saves its own before the next one reads them.
        async with claims_turn(audience) if index is not None else contextlib.nullcontext():
            try:
                async with (
                    open_crm(crm_conn.endpoint, stats) as crm,
                    open_target(target_conn.endpoint, stats) as target,
                ):
                    await self._check_fields(crm, target, settings, audience, body)
                    request = await self._request(
                        crm, body, spec, decision, resolved, run_id, index
                    )
                    result = await self._execute(crm, target, request, progress)
                    written = time.monotonic()
                    self.parent_changed -= set(request.parent_changed_ids)
                    if decision.full and isinstance(target, Mailchimp):
                        view = await self._audience_view(target, audience, written)
            except NotReadyError:
                raise
            except (ProviderError, httpx.HTTPError, OSError) as exc:
                error = _run_error(self.kube, exc, crm_conn, target_conn)
            finally:
                await self._save_index(body, index)
        await self._record(
            body,
            spec=spec,
            decision=decision,
            seen=seen,
            summary=summary,
            stats=stats,
            result=result,
            error=error,
            saved=saved,
            view=view,
        )
        if result is not None:
            self.watermark = started
        return error if result is None else ""

    async def _request(
        self,
        crm: CrmSource,
        body: dict[str, Any],
        spec: ContactSyncSpec,
        decision: Decision,
        resolved: tuple[ResolvedConnection, ResolvedConnection, SyncSettings],
        run_id: str,
        index: RecordIndex | None,
    ) -> RunRequest:
        """What the run is asked to do. Records of edited Accounts stay queued until a run
        that read them succeeds."""
        _, target_conn, settings = resolved
        status = ContactSyncStatus.model_validate(body["status"])
        await self._parent_edits(crm, settings.module)
        resume = status.checkpoint.resume
        return RunRequest(
            settings,
            spec.target.list_id or "",
            status.checkpoint,
            decision.full,
            spec.batch_size,
            run_id=run_id,
            resume_from=(
                resume.model_copy(update={"resumed": resume.resumed + 1})
                if resume is not None and decision.full
                else None
            ),
            retry_ids=tuple(status.checkpoint.failed_record_ids),
            parent_changed_ids=tuple(sorted(self.parent_changed)),
            record_index=index,
            parallel_batches=min(PARALLEL_BATCHES, target_conn.endpoint.max_concurrency),
            other_owners=await list_owners(self.kube, body) if index is not None else {},
        )

    async def _execute(
        self,
        crm: CrmSource,
        target: AudienceTarget,
        request: RunRequest,
        progress: ProgressCallback,
    ) -> RunResult:
        result = await execute_flow(crm, target, request, progress)
        self.signals.held.after_run(result.full, result.taking_part, result.left)
        return result

    async def _not_concerned(self, decision: Decision, generation: int) -> bool:
        """A notification run is skipped before any other work when the changes concern
        none of this sync's records (with what was resolved moments ago: a delivery wakes
        every sync of the module at once, and each would read its Connections first)."""
        recent = self.signals.screen
        if decision.trigger != RunTrigger.NOTIFICATION or recent is None:
            return False
        if recent.generation != generation or not recent.fresh():
            return False
        if await self._concerned(recent):
            return False
        self.signals.notified = False
        metrics.NOTIFICATIONS_NOT_ROUTED.inc()
        return True

    async def _concerned(self, resolved: Screen) -> bool:
        """Whether the CRM changes notified since the last run concern this sync
        (:mod:`crmsync.reconcile.routing`); campaign-side deliveries always do."""
        meta = self.live_body["metadata"]
        ids = self.webhook.take_ids(meta["namespace"], meta["name"]) if self.webhook else set()
        held = self.signals.held.ids
        if self.signals.campaign_side or held is None:
            return True
        crm_conn, settings = resolved.crm, resolved.settings
        try:
            async with open_crm(crm_conn.endpoint, CallStats()) as crm:
                children, parents_edited = await self._parent_edits(crm, settings.module)
                ids |= children
                if not ids:
                    return not parents_edited  # an Account without this module's records
                connection = crm_conn.endpoint.connection
                if await read_and_route(crm, connection, settings, held, ids):
                    return True
        except (ProviderError, httpx.HTTPError, OSError):
            return True  # unknown: run as before
        self.parent_changed -= children
        return False

    async def _parent_edits(self, crm: CrmSource, module: str) -> tuple[set[str], bool]:
        """The records of the Accounts notified as edited (kept for the next run to read
        by id), and whether any were notified. A failed read keeps the edits for later."""
        meta = self.live_body["metadata"]
        if self.webhook is not None:
            for parent, ids in self.webhook.take_parent_ids(
                meta["namespace"], meta["name"]
            ).items():
                self.edited_parents.setdefault(parent, set()).update(ids)
        if not self.edited_parents:
            return set(), False
        children = await children_of_edited_parents(crm, module, self.edited_parents)
        self.edited_parents = {}
        self.parent_changed |= children
        return children, True

    async def _run_failed_event(self, body: dict[str, Any], error: str, generation: int) -> None:
        """One Warning per failing streak and generation (status.retry counts the rest)."""
        retry = current_retry(body)
        if retry is None or (retry.reason, retry.generation) != ("RunFailed", generation):
            await self._event(body, "Warning", "RunFailed", error)

    async def _check_fields(
        self,
        crm: CrmSource,
        target: AudienceTarget,
        settings: SyncSettings,
        audience: str,
        body: dict[str, Any],
    ) -> None:
        """Z1/Z10 checks (and missing campaign fields created) once per spec and mapping,
        then again every FIELD_CHECK_SECONDS: a quiet poll reads no metadata."""
        last = ((body.get("status") or {}).get("lastRun") or {}).get("outcome")
        # After a failed run (a field removed meanwhile, say) the key differs: checked again.
        key = (body["metadata"].get("generation"), settings.mapping_hash, audience, last)
        checked = self.fields_checked
        if checked and checked[0] == key and time.monotonic() - checked[1] < FIELD_CHECK_SECONDS:
            return
        if self.fields_check_failed or last not in (None, str(RunOutcome.SUCCEEDED)):
            # The last check or run failed: not with what other syncs read a minute ago.
            if isinstance(crm, ZohoCrm):
                crm.forget(settings.module)
            if isinstance(target, Mailchimp):
                target.forget(audience)
        self.fields_checked = None
        self.fields_check_failed = True
        await check_fields(crm, target, settings, audience, create_missing=True)
        self.fields_check_failed = False
        self.fields_checked = (key, time.monotonic())

    async def _audience_view(
        self, target: Mailchimp, audience: str, written: float
    ) -> AudienceView | None:
        """Best effort: the audience's counts and tags for status (M13), read after this
        run's writes (shared with the other syncs on the audience that ended meanwhile)."""
        try:
            return await target.audience_view(audience, after=written)
        except (ProviderError, httpx.HTTPError) as exc:
            self.logger.warning("audience %s not described: %s", audience, exc)
            return None

    async def _record(
        self,
        body: dict[str, Any],
        *,
        spec: ContactSyncSpec,
        decision: Decision,
        seen: Observed,
        summary: RunSummary,
        stats: CallStats,
        result: RunResult | None,
        error: str,
        saved: SyncCounts | None = None,
        view: AudienceView | None = None,
    ) -> None:
        """``saved``: the counts a failed run had saved with its checkpoint (they stand);
        ``view``: the audience as the run left it (M13), in the same patch."""
        meta = body["metadata"]
        generation = int(meta.get("generation", 0))
        status = ContactSyncStatus.model_validate(body["status"])
        ended = datetime.now(UTC)
        patch: dict[str, Any] = {"observedGeneration": generation, "syncedGeneration": generation}
        if result is None:
            summary, conditions = _failed_run(summary, status, stats, error, saved, generation)
            patch["counts"] = add_counts(status.counts, saved or SyncCounts()).to_wire()
            await self._run_failed_event(body, error, generation)
        else:
            counts = campaign_counts(result.tally.as_counts(), result.reverse)
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
            # Merge patch: an explicit null removes the resume point of a finished run.
            patch["checkpoint"] = {
                **result.checkpoint.to_wire(),
                "resume": _wire_or_none(result.checkpoint),
            }
            if result.members >= 0:  # -1: a campaign → CRM run that did not count them
                patch["members"] = result.members
            reason = "RecordsRejected" if counts.failed else "Succeeded"
            message = _run_message(decision, counts, result)
            conditions = set_condition(
                status.model_dump(by_alias=True, mode="json")["conditions"],
                *READY,
                generation,
            )
            conditions = set_condition(conditions, "Synced", True, reason, message, generation)
            patch.update(_next_run_shown(spec, seen, decision, summary, result, generation))
            if result.tally.skipped_total:
                export = await self._export_skipped(body, result.tally, summary.id)
                if export is not None:
                    patch["skippedExport"] = export
            changed = (
                counts.added + counts.updated + counts.unsubscribed + counts.deleted + counts.failed
            )
            changed += counts.crm_created + counts.crm_updated
            # Campaign-side changes carried to the CRM: by the campaign → CRM half, or (one-way
            # CRM → campaign) the unsubscribes and cleaned addresses mirrored as CRM opt-outs.
            carried = result.reverse if result.reverse is not None else result.campaign_changes
            if carried is not None:
                changes = {str(kind): n for kind, n in carried.changes.items()}
                metrics.record_campaign_changes(meta["namespace"], meta["name"], changes)
            for reason, note in campaign_notifications(carried):
                await self._event(body, "Normal", reason, note)
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
        patch["conditions"] = set_abnormal(conditions, RECONCILING, False, "", "", generation)
        patch["lastRun"] = summary.to_wire()
        patch["history"] = [summary.to_wire()] + [
            h.to_wire() for h in status.history[: HISTORY_LENGTH - 1]
        ]
        if decision.trigger == RunTrigger.MANUAL:
            patch["lastHandledSyncNow"] = seen.sync_now
        if decision.trigger == RunTrigger.SCHEDULE:
            patch["lastScheduledTime"] = summary.start_time.isoformat()
        if view is not None:
            patch["audience"] = view.to_wire()
        self.logger.info("run %s ended: %s %s", summary.id, summary.outcome, summary.counts)
        _record_metrics(meta, summary, result)
        await self.patch_status(body, patch)

    # -- crash safety and notifications ----------------------------------------------

    async def _close_interrupted(
        self,
        body: dict[str, Any],
        status: ContactSyncStatus,
        cause: str = "the operator stopped during the run",
    ) -> None:
        """The run marked Running was cut off (crash, SIGKILL, restart, a move to another
        shard): record it as Interrupted with the counts it had confirmed; a full run
        resumes from its point."""
        last = status.last_run
        assert last is not None
        resumable = status.checkpoint.resume is not None
        message = cause + ("; the next run resumes from its checkpoint" if resumable else "")
        closed = last.model_copy(
            update={
                "end_time": datetime.now(UTC),
                "outcome": RunOutcome.INTERRUPTED,
                "message": message,
            }
        )
        await self.patch_status(
            body,
            {
                "lastRun": closed.to_wire(),
                "history": [closed.to_wire()]
                + [h.to_wire() for h in status.history[: HISTORY_LENGTH - 1]],
                "counts": add_counts(status.counts, last.counts).to_wire(),
            },
        )
        await self._event(body, "Warning", "RunInterrupted", f"run {last.id}: {message}")

    async def _notifications(
        self,
        body: dict[str, Any],
        spec: ContactSyncSpec,
        crm_conn: ResolvedConnection,
        settings: SyncSettings,
    ) -> datetime | None:
        """Be on the CRM notification channel of the sync's Connection and module as the
        spec wants (Z2, 14.3); when to renew."""
        if self.webhook is None:
            return None
        before = sync_channel(body.get("status") or {})
        try:
            channel = await join_channel(
                self.kube, self.webhook, body, spec, crm_conn, settings, self.signals
            )
        except (ProviderError, httpx.HTTPError, OSError, RuntimeError) as exc:
            # Polling by modification time still catches every change meanwhile.
            self.logger.warning("notification channel not set up: %s", exc)
            return datetime.now(UTC) + NOT_READY_RETRY
        if before != channel:
            await self.patch_status(
                body, {"notificationChannel": channel.to_wire() if channel else None}
            )
        if channel is not None:
            meta = body["metadata"]
            metrics.set_channel_expiry(
                meta["namespace"], meta["name"], "zoho-crm", channel.expires_at
            )
            return channel_renewal(channel.expires_at)
        return None

    async def _audience_hook(
        self, body: dict[str, Any], spec: ContactSyncSpec, target_conn: ResolvedConnection
    ) -> None:
        """Keep the campaign-side webhook as the spec wants it (Mailchimp list webhooks)."""
        if self.webhook is None and current_hook(body) is None:
            return
        try:
            async with open_target(target_conn.endpoint, CallStats()) as target:
                hook = await reconcile_audience_hook(
                    self.kube, self.webhook, body, spec, target, self.signals
                )
        except (ProviderError, httpx.HTTPError, OSError, RuntimeError) as exc:
            # Polling by since_last_changed still catches every change meanwhile.
            self.logger.warning("audience webhook not set up: %s", exc)
            return
        if hook != current_hook(body):
            await self.patch_status(body, {"audienceWebhook": hook.to_wire() if hook else None})

    # -- status helpers ----------------------------------------------------------------

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
        if current_retry(body) is not None and retry_at(body) is None:
            # The failure was at an earlier generation: this one is fine so far.
            await clear_retry(self, body)
        elif (retry := current_retry(body)) and retry.next_retry_time <= datetime.now(UTC):
            await clear_retry(self, body)
        await self._abnormal(self.snapshot(), RECONCILING, False)
        if _parse_time(status.get("nextRunTime")) != decision.next_run:
            wanted = decision.next_run.isoformat() if decision.next_run else None
            await self.patch_status(self.snapshot(), {"nextRunTime": wanted})

    async def _export_skipped(
        self, body: dict[str, Any], tally: RunTally, run_id: str
    ) -> dict[str, Any] | None:
        """Best effort: a refused export must not cost the run its status."""
        meta = body["metadata"]
        name = f"{meta['name']}-skipped"
        data = {"skipped.csv": skipped_csv(tally), "run": run_id}
        try:
            await self.kube.apply_configmap(meta["namespace"], name, data, body)
        except httpx.HTTPError as exc:
            self.logger.warning("skipped-record export %s not written: %s", name, exc)
            await self._event(
                body, "Warning", "ExportFailed", f"ConfigMap {name} not written: {exc}"
            )
            return None
        return SkippedExport(config_map=name, records=len(tally.skipped)).to_wire()

    async def _load_index(self, body: dict[str, Any]) -> RecordIndex:
        """The sync's record → email index (Zoho Campaigns); empty when there is none yet."""
        meta = body["metadata"]
        return await load_index(self.kube, meta["namespace"], meta["name"], self.logger)

    async def _save_index(self, body: dict[str, Any], index: RecordIndex | None) -> None:
        """Best effort, only when it changed: a lost update heals on a later full run."""
        if index is None or not index.dirty:
            return
        name = configmap_name(body["metadata"]["name"])
        try:
            await save_index(self.kube, body, index)
        except RecordIndexFullError as exc:
            index.changed.clear()
            await self._event(body, "Warning", "RecordIndexFull", f"record index {name}: {exc}")
        except httpx.HTTPError as exc:
            self.logger.warning("record index %s not written: %s", name, exc)
