"""Prometheus metrics of the operator (B6), served by ``crmsync run --metrics-port``.

Naming follows the Prometheus conventions: ``crmsync_`` prefix, base units (seconds),
``_total`` on counters, ``_timestamp_seconds`` on Unix times. Label values are bounded:
a sync is ``namespace`` + ``sync`` (its name), a provider is one of the four provider
names, reasons are the engine's reason codes, endpoints are *classes* of paths
(ids and emails are stripped, see :func:`endpoint_class`). No email address or record
id ever becomes a label value.

Recording happens where the action happens: :func:`record_run` after each ContactSync
run, :func:`record_verification` in the Connection verifier, :class:`ApiObserver` in the
HTTP retry layer (through the small observer hook of
:class:`crmsync.providers.http.CallStats`), and :func:`observe_object` from a watch-event
handler that keeps the status-derived gauges (conditions, lag, checkpoints) level-based,
so they are right again right after an operator restart.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from crmsync.engine.plan import Reason

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

SYNC = ("namespace", "sync")
RECORD_OUTCOMES = (
    "added",
    "updated",
    "unchanged",
    "unsubscribed",
    "deleted",
    "released",
    "skipped_duplicate",
    "skipped_ignored",
    "failed",
)
RUN_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
KNOWN_REASONS = frozenset(r.value for r in Reason)
COMPLETED = frozenset({"Succeeded", "PartiallySucceeded"})
"""Run outcomes after which the checkpoint was committed."""
MAX_OTHER_REASONS = 50
"""Vendor rejection codes (``failed`` rows) beyond the engine's reasons, kept as label
values up to this many distinct codes per process; any further one becomes ``other``."""

# --- syncs ----------------------------------------------------------------------------

RECORDS = Counter(
    "crmsync_records",
    "CRM records processed by a ContactSync run, by outcome.",
    [*SYNC, "outcome"],
    registry=REGISTRY,
)
RECORDS_SKIPPED = Counter(
    "crmsync_records_skipped",
    "Records skipped (duplicate, ignored) or rejected by the target, by reason code.",
    [*SYNC, "reason"],
    registry=REGISTRY,
)
RUNS = Counter(
    "crmsync_runs",
    "ContactSync runs by trigger and outcome (Succeeded, PartiallySucceeded, Failed).",
    [*SYNC, "trigger", "outcome"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "crmsync_run_duration_seconds",
    "Wall-clock duration of a ContactSync run.",
    [*SYNC, "trigger"],
    buckets=RUN_BUCKETS,
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "crmsync_last_successful_run_timestamp_seconds",
    "End time of the last run that completed (Succeeded or PartiallySucceeded), as a Unix time.",
    SYNC,
    registry=REGISTRY,
)
LAST_RUN = Gauge(
    "crmsync_last_run_timestamp_seconds",
    "End time of the last run, whatever its outcome, as a Unix time.",
    SYNC,
    registry=REGISTRY,
)
MEMBERS = Gauge(
    "crmsync_target_members",
    "Members the target list/audience holds for the sync after its last run.",
    SYNC,
    registry=REGISTRY,
)
CHECKPOINT = Gauge(
    "crmsync_checkpoint_timestamp_seconds",
    "The sync's checkpoints as Unix times (modified_since, deleted_since, last_full_sync).",
    [*SYNC, "checkpoint"],
    registry=REGISTRY,
)
CAMPAIGN_ACTIVITY_PASSES = Counter(
    "crmsync_campaign_activity_passes",
    "Campaign-activity passes (campaign results back into the CRM), by outcome.",
    [*SYNC, "outcome"],
    registry=REGISTRY,
)
CAMPAIGN_ACTIVITY_MEMBERS = Counter(
    "crmsync_campaign_activity_members",
    "Campaign recipients' CRM Member Status: updated, failed (retried), unmatched (no CRM record).",
    [*SYNC, "result"],
    registry=REGISTRY,
)
CAMPAIGN_ACTIVITY_CAMPAIGNS = Counter(
    "crmsync_campaign_activity_campaigns",
    "CRM Campaigns records written for Mailchimp campaigns, by action (created, updated).",
    [*SYNC, "action"],
    registry=REGISTRY,
)

# --- connections and providers --------------------------------------------------------

VERIFICATIONS = Counter(
    "crmsync_connection_verifications",
    "Connection credential checks by result (the Ready condition's reason).",
    ["namespace", "connection", "provider", "result"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "crmsync_api_requests",
    "HTTP requests to vendor APIs (retries included) by endpoint class and status class.",
    ["provider", "endpoint", "status_class"],
    registry=REGISTRY,
)
API_RETRIES = Counter(
    "crmsync_api_retries",
    "Vendor requests re-sent, by cause (rate_limited, server_error, network).",
    ["provider", "reason"],
    registry=REGISTRY,
)
API_RETRY_WAIT = Counter(
    "crmsync_api_retry_wait_seconds",
    "Seconds spent waiting before retries (Retry-After or backoff), by cause.",
    ["provider", "reason"],
    registry=REGISTRY,
)

# --- notifications --------------------------------------------------------------------

NOTIFICATIONS_RECEIVED = Counter(
    "crmsync_notifications_received",
    "Change notifications (webhooks) received from a provider.",
    ["provider"],
    registry=REGISTRY,
)
NOTIFICATIONS_REJECTED = Counter(
    "crmsync_notifications_rejected",
    "Change notifications refused (bad token, unknown sync, malformed body).",
    ["provider", "reason"],
    registry=REGISTRY,
)
NOTIFICATIONS_NOT_ROUTED = Counter(
    "crmsync_notification_runs_skipped",
    "Syncs a CRM notification reached whose records it did not concern: left asleep, or woken "
    "and no run.",
    registry=REGISTRY,
)
QUIET_POLLS = Counter(
    "crmsync_polls",
    "Due polls of ContactSyncs, by outcome: quiet (the shared change probes found nothing "
    "for the sync: no run), routed (only CRM records changed, none of them this sync's: no "
    "run), changed (a run), ineligible (a run as before: retries, resume, no checkpoint) or "
    "failed (the probe failed: a run).",
    ["outcome"],
    registry=REGISTRY,
)
CHANGE_PROBES = Counter(
    "crmsync_change_probes",
    "Newest-change probes read from a vendor for quiet polls (each answers every sync of "
    "the Connection that asks meanwhile).",
    ["provider"],
    registry=REGISTRY,
)
CAMPAIGN_CHANGES = Counter(
    "crmsync_campaign_changes",
    "Campaign-side changes carried to the CRM (M11): new_subscriber, unsubscribed, cleaned,"
    " resubscribed, profile_updated, email_changed.",
    [*SYNC, "change"],
    registry=REGISTRY,
)
CHANNEL_EXPIRY = Gauge(
    "crmsync_notification_channel_expiry_timestamp_seconds",
    "When the sync's notification channel at the provider expires, as a Unix time.",
    [*SYNC, "provider"],
    registry=REGISTRY,
)

# --- resources ------------------------------------------------------------------------

SYNC_METRICS: tuple[Counter | Gauge | Histogram, ...] = (
    RECORDS,
    RECORDS_SKIPPED,
    RUNS,
    RUN_DURATION,
    LAST_SUCCESS,
    LAST_RUN,
    MEMBERS,
    CHECKPOINT,
    CHANNEL_EXPIRY,
    CAMPAIGN_ACTIVITY_PASSES,
    CAMPAIGN_ACTIVITY_MEMBERS,
    CAMPAIGN_ACTIVITY_CAMPAIGNS,
    CAMPAIGN_CHANGES,
)


def _timestamp(value: object) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class StatusCollector(Collector):
    """Gauges computed at scrape time from the last status seen of each object.

    ``crmsync_resources{kind,condition,status}`` counts objects by condition;
    ``crmsync_sync_lag_seconds`` is now − ``checkpoint.modifiedSince`` (the age of the
    oldest CRM change the next run still has to read); ``crmsync_checkpoint_age_seconds``
    is the time since a run last committed the checkpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[tuple[str, str, str], dict[str, str]] = {}
        self._modified_since: dict[tuple[str, str], float] = {}
        self._committed: dict[tuple[str, str], float] = {}

    def observe(self, kind: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        conditions = {
            str(c.get("type")): str(c.get("status", "Unknown"))
            for c in status.get("conditions") or []
            if c.get("type")
        }
        with self._lock:
            self._conditions[(kind, namespace, name)] = conditions
            if kind != "ContactSync":
                return
            key = (namespace, name)
            since = _timestamp((status.get("checkpoint") or {}).get("modifiedSince"))
            if since is not None:
                self._modified_since[key] = since
            committed = _committed_time(status)
            if committed is not None:
                self._committed[key] = max(committed, self._committed.get(key, 0.0))

    def committed(self, namespace: str, name: str, when: float) -> None:
        with self._lock:
            key = (namespace, name)
            self._committed[key] = max(when, self._committed.get(key, 0.0))

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._conditions.pop((kind, namespace, name), None)
            if kind == "ContactSync":
                self._modified_since.pop((namespace, name), None)
                self._committed.pop((namespace, name), None)

    def describe(self) -> Iterable[Metric]:
        return list(self._families(0.0))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(time.time()))

    def _families(self, now: float) -> Iterator[Metric]:
        resources = GaugeMetricFamily(
            "crmsync_resources",
            "crmsync objects by condition type and status.",
            labels=["kind", "condition", "status"],
        )
        lag = GaugeMetricFamily(
            "crmsync_sync_lag_seconds",
            "Age of the oldest CRM change not yet synced: now − checkpoint.modifiedSince.",
            labels=list(SYNC),
        )
        age = GaugeMetricFamily(
            "crmsync_checkpoint_age_seconds",
            "Seconds since a run last committed the sync's checkpoint.",
            labels=list(SYNC),
        )
        if now:
            with self._lock:
                counted: dict[tuple[str, str, str], int] = {}
                for (kind, _, _), conditions in self._conditions.items():
                    for type_, value in conditions.items():
                        counted[(kind, type_, value)] = counted.get((kind, type_, value), 0) + 1
                for labels, count in sorted(counted.items()):
                    resources.add_metric(list(labels), count)
                for (namespace, name), since in sorted(self._modified_since.items()):
                    lag.add_metric([namespace, name], max(0.0, now - since))
                for (namespace, name), when in sorted(self._committed.items()):
                    age.add_metric([namespace, name], max(0.0, now - when))
        yield resources
        yield lag
        yield age


def _committed_time(status: Mapping[str, Any]) -> float | None:
    """End time of the newest run that wrote the checkpoint (Succeeded or Partially)."""
    for run in status.get("history") or []:
        if run.get("outcome") in COMPLETED:
            return _timestamp(run.get("endTime"))
    return None


STATUS = StatusCollector()
REGISTRY.register(STATUS)
KINDS = {"contactsyncs": "ContactSync", "connections": "Connection", "mailboxsyncs": "MailboxSync"}

_other_reasons: set[str] = set()
_REASON_SHAPE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def reason_label(reason: str) -> str:
    """A bounded label value for a skip/rejection reason."""
    value = reason.strip().lower().replace("-", "_").replace(" ", "_")
    if value in KNOWN_REASONS:
        return value
    if not _REASON_SHAPE.match(value):
        return "other"
    if value in _other_reasons or len(_other_reasons) < MAX_OTHER_REASONS:
        _other_reasons.add(value)
        return value
    return "other"


# --- recording ------------------------------------------------------------------------


def record_run(
    namespace: str,
    name: str,
    *,
    trigger: str,
    outcome: str,
    duration: float,
    ended: float,
    counts: Mapping[str, int] | None = None,
    skipped_by_reason: Mapping[str, int] | None = None,
    members: int | None = None,
    checkpoint: Mapping[str, Any] | None = None,
) -> None:
    """One finished run. ``counts`` uses the RunTally field names (``added``, …)."""
    RUNS.labels(namespace, name, trigger, outcome).inc()
    RUN_DURATION.labels(namespace, name, trigger).observe(max(0.0, duration))
    LAST_RUN.labels(namespace, name).set(ended)
    for outcome_name in RECORD_OUTCOMES:
        RECORDS.labels(namespace, name, outcome_name).inc((counts or {}).get(outcome_name, 0))
    for reason, number in (skipped_by_reason or {}).items():
        RECORDS_SKIPPED.labels(namespace, name, reason_label(reason)).inc(number)
    if counts is None:  # the run failed before it counted anything
        return
    _last_success(namespace, name, ended)
    STATUS.committed(namespace, name, ended)
    if members is not None and members >= 0:
        MEMBERS.labels(namespace, name).set(members)
    for key, label in (
        ("modifiedSince", "modified_since"),
        ("deletedSince", "deleted_since"),
        ("lastFullSyncTime", "last_full_sync"),
    ):
        when = _timestamp((checkpoint or {}).get(key))
        if when is not None:
            CHECKPOINT.labels(namespace, name, label).set(when)


def record_campaign_activity(
    namespace: str,
    name: str,
    *,
    outcome: str,
    members: Mapping[str, int],
    campaigns: Mapping[str, int],
) -> None:
    """One campaign-activity pass: ``members`` by result, ``campaigns`` by action."""
    CAMPAIGN_ACTIVITY_PASSES.labels(namespace, name, outcome).inc()
    for result in ("updated", "failed", "unmatched"):
        CAMPAIGN_ACTIVITY_MEMBERS.labels(namespace, name, result).inc(members.get(result, 0))
    for action in ("created", "updated"):
        CAMPAIGN_ACTIVITY_CAMPAIGNS.labels(namespace, name, action).inc(campaigns.get(action, 0))


def record_verification(namespace: str, name: str, provider: str, result: str) -> None:
    VERIFICATIONS.labels(namespace, name, provider, result).inc()


def record_notification(provider: str, rejected_reason: str = "") -> None:
    """A webhook notification: counted as received; also as rejected when a reason is given."""
    NOTIFICATIONS_RECEIVED.labels(provider).inc()
    if rejected_reason:
        NOTIFICATIONS_REJECTED.labels(provider, reason_label(rejected_reason)).inc()


def record_campaign_changes(namespace: str, name: str, changes: Mapping[str, int]) -> None:
    """The campaign-side changes one run carried to the CRM, by kind (bounded labels)."""
    for change, number in changes.items():
        if number:
            CAMPAIGN_CHANGES.labels(namespace, name, str(change)).inc(number)


def set_channel_expiry(namespace: str, name: str, provider: str, expires: datetime) -> None:
    CHANNEL_EXPIRY.labels(namespace, name, provider).set(expires.timestamp())


def observe_object(plural: str, body: Mapping[str, Any], deleted: bool = False) -> None:
    """A watch event of one of our objects: refresh the status-derived gauges."""
    kind = KINDS.get(plural, plural)
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    if deleted:
        forget(kind, namespace, name)
        return
    status = body.get("status") or {}
    STATUS.observe(kind, namespace, name, status)
    if kind == "ContactSync":
        committed = _committed_time(status)
        if committed is not None:
            _last_success(namespace, name, committed)


_last_successes: dict[tuple[str, str], float] = {}


def _last_success(namespace: str, name: str, when: float) -> None:
    """Only ever moves forward (a late watch event must not move it back)."""
    if when > _last_successes.get((namespace, name), 0.0):
        _last_successes[(namespace, name)] = when
        LAST_SUCCESS.labels(namespace, name).set(when)


def forget(kind: str, namespace: str, name: str) -> None:
    """Drop a deleted object's series (keeps label cardinality to live objects)."""
    STATUS.forget(kind, namespace, name)
    if kind != "ContactSync":
        return
    _last_successes.pop((namespace, name), None)
    for metric in SYNC_METRICS:
        # _metrics is prometheus-client's own child map; remove() needs full label tuples.
        for labels in list(metric._metrics):
            if labels[:2] == (namespace, name):
                metric.remove(*labels)


# --- the HTTP layer's observer ---------------------------------------------------------

_ID_SEGMENT = re.compile(r"^(?:[0-9a-f]{6,}|\d+|[0-9a-f-]{20,}|.*[@%].*|.*\d.*\d.*\d.*)$", re.I)
_VERSION_SEGMENT = re.compile(r"^(?:v\d+(?:\.\d+)?|\d+\.\d+|api)$", re.I)
MAX_ENDPOINT_SEGMENTS = 3


def endpoint_class(path: str) -> str:
    """``/3.0/lists/ab12cd/members/5f3…`` → ``lists/members``; ``/crm/v8/Contacts/123`` →
    ``crm/contacts``. Ids, hashes, emails and versions are dropped; at most three
    segments are kept, lower-cased."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    kept: list[str] = []
    for segment in segments:
        if _VERSION_SEGMENT.match(segment) or _ID_SEGMENT.match(segment) or len(segment) > 40:
            continue
        kept.append(segment.lower())
        if len(kept) == MAX_ENDPOINT_SEGMENTS:
            break
    return "/".join(kept) or "root"


class ApiObserver:
    """Implements :class:`crmsync.providers.http.CallObserver` with the counters above."""

    def request_done(self, vendor: str, method: str, path: str, status_class: str) -> None:
        API_REQUESTS.labels(vendor, endpoint_class(path), status_class).inc()

    def retry_scheduled(self, vendor: str, reason: str, delay: float) -> None:
        API_RETRIES.labels(vendor, reason).inc()
        API_RETRY_WAIT.labels(vendor, reason).inc(max(0.0, delay))


API_OBSERVER = ApiObserver()


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` from a background thread (``port`` 0 = do not serve)."""
    if port:
        start_http_server(port, addr=address, registry=REGISTRY)
