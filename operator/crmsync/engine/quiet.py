"""Quiet polls (issue 14): is a due poll worth a run, judged from shared "newest change" probes.

A poll of a sync nothing changed for used to cost a run: a CRM listing (304), the deleted
records, the members changed since (Z17) and four status patches, every sync on its own.
Now a due poll first asks, per CRM Connection and module (and per campaign Connection and
audience for what the run reads there), when the newest change was; the answer is shared
by every sync of that Connection asking about the same time (:mod:`crmsync.reconcile.quietpoll`).
A sync whose checkpoint is at or past every newest change skips the run: no vendor call of
its own and no status write. Nothing moves: the checkpoint stays where the last run left it,
so a change the probe did not see yet (made after it read) is seen by the next poll.

Vendor times have whole seconds and the runs read "the same second as the checkpoint" again
(they compare at that precision); the rules here do the same, so a poll is quiet only when
the run it skips would have read nothing. A checkpoint a run cannot move past (a record
edited in the second the last full run started) would keep such a sync running; the start
of the last run this process saw succeed (``watermark``: everything changed before it was
read by that run) settles those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.records import MemberStatus

POLL_SLOTS = 4
"""Quiet polls fall on a grid of pollInterval / POLL_SLOTS (never later than due): syncs with
the same interval poll together, so one probe answers all of them."""
FRESH_SECONDS = 3.0
"""A probe's answer is reused this long (and by every asker while it is being read): the
syncs of one grid slot wake within moments of each other."""

OPT_OUT_STATUSES = (MemberStatus.UNSUBSCRIBED, MemberStatus.CLEANED)


@dataclass(frozen=True)
class ProbeNeeds:
    """What a sync's incremental run would read, as probes."""

    module: str
    campaign_any: bool = False
    """The campaign → CRM half reads every member changed since its checkpoint."""
    campaign_statuses: tuple[str, ...] = ()
    """Z17 (one-way): the members that unsubscribed or were cleaned since."""


PROBE_ROWS = 200
"""Records the CRM probe lists, modified last first (one listing page: one credit either way):
a sync whose changes are all among them learns which records they are."""


@dataclass(frozen=True)
class Newest:
    """The probes' answers: the newest change of each kind (None: none at all)."""

    modified: datetime | None
    deleted: datetime | None
    campaign_any: datetime | None = None
    campaign_statuses: tuple[datetime | None, ...] = ()
    recent: tuple[tuple[str, datetime], ...] = ()
    """(id, modified time) of the records modified last, newest first."""
    complete: bool = True
    """``recent`` lists every record of the module (it has fewer than PROBE_ROWS)."""
    read_at: datetime | None = None
    """When the earliest of these answers was read: every change before it is in them."""


@dataclass(frozen=True)
class SyncState:
    """What decides whether a due poll may be judged by the probes at all."""

    checkpoint: Checkpoint
    mapping_hash: str
    """The mapping the sync has now: another than the checkpoint's is a backfill (a full run)."""
    retrying: bool
    """status.retry is set: the sync is recovering from failures; it runs as before."""
    ready_and_synced: bool
    """Ready and Synced are True: nothing is left to report by a run."""
    parents_edited: bool
    """Account/Deal edits are waiting to be read by id (Z3)."""
    campaign_pending: bool = False
    """A campaign-side webhook delivery is waiting (it concerns a run)."""


def ineligible(state: SyncState) -> str:
    """Why a due poll must run as before ("" when the probes may judge it)."""
    cp = state.checkpoint
    if cp.modified_since is None or cp.deleted_since is None:
        return "no checkpoint"
    if cp.mapping_hash != state.mapping_hash:
        return "mapping changed"
    if cp.resume is not None or cp.pending_writes:
        return "interrupted run"
    if cp.failed_record_ids:
        return "records to retry"
    if state.retrying or not state.ready_and_synced:
        return "not healthy"
    if state.parents_edited or state.campaign_pending:
        return "changes waiting"
    return ""


def _second(value: datetime) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.replace(microsecond=0)


def _before(newest: datetime | None, horizon: datetime | None) -> bool:
    """``newest`` is strictly before the second of ``horizon`` (a run from the horizon
    reads that whole second again)."""
    return newest is None or (horizon is not None and newest < _second(horizon))


def is_quiet(
    needs: ProbeNeeds, newest: Newest, checkpoint: Checkpoint, watermark: datetime | None
) -> bool:
    """Whether the incremental run the poll is due for would find nothing to do.

    ``watermark``: the start of the last run of this sync that succeeded in this process
    (None after a restart): every change before it was read by that run."""
    horizon = _horizon(checkpoint, watermark)
    return _before(newest.modified, horizon) and _rest_quiet(needs, newest, checkpoint, watermark)


def _horizon(checkpoint: Checkpoint, watermark: datetime | None) -> datetime:
    """From when a run would read the CRM's changes (and Z17's): the listing
    (If-Modified-Since) and Z17 (since_last_changed) read from the CRM checkpoint's second
    on; that checkpoint stays put while nothing is read (or on the second of the last record
    read): the watermark, later, spares what the last run read."""
    since = checkpoint.modified_since
    assert since is not None
    return max(since, watermark) if watermark is not None else since


def _rest_quiet(
    needs: ProbeNeeds, newest: Newest, checkpoint: Checkpoint, watermark: datetime | None
) -> bool:
    """No deletion, and nothing on the campaign side, for a run to read."""
    assert checkpoint.deleted_since is not None
    if not _before(newest.deleted, checkpoint.deleted_since):
        return False
    if needs.campaign_any and not _before(newest.campaign_any, checkpoint.campaign_changed_since):
        return False
    horizon = _horizon(checkpoint, watermark)
    return all(_before(n, horizon) for n in newest.campaign_statuses)


def changed_records(
    needs: ProbeNeeds, newest: Newest, checkpoint: Checkpoint, watermark: datetime | None
) -> list[str] | None:
    """A poll that is not quiet only because CRM records were modified: their ids, when the
    probe listed all of them (the caller routes them like a notification's,
    :mod:`crmsync.reconcile.routing`); None when the run must decide."""
    if not _rest_quiet(needs, newest, checkpoint, watermark):
        return None
    cut = _second(_horizon(checkpoint, watermark))
    ids = [record_id for record_id, modified in newest.recent if modified >= cut]
    if len(ids) == len(newest.recent) and not newest.complete:
        return None  # more changes than the probe lists
    return ids


def aligned_poll(now: datetime, interval: timedelta) -> datetime:
    """The time a quiet poll counts as made: ``now`` rounded down to the poll grid (epoch
    multiples of interval / POLL_SLOTS), so the next one, an interval later, is due with
    the other syncs of that interval and never later than one interval after this poll."""
    slot = interval / POLL_SLOTS
    if slot <= timedelta(0):
        return now
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((now - epoch) // slot) * slot
