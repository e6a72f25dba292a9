"""Status shapes shared by the sync kinds: counts, run summaries, checkpoints."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from crmsync.api.v1alpha1._base import CrdModel

Count = Annotated[int, Field(ge=0)]


class SyncCounts(CrdModel):
    """How many records each outcome had (Z12, P6). Skipped = duplicate + ignored."""

    total: Count = 0
    """Records that took part (every CRM record considered)."""
    added: Count = 0
    """Members created on the campaign side."""
    updated: Count = 0
    """Members whose mapped fields changed."""
    unchanged: Count = 0
    """Members already equal to the CRM record."""
    unsubscribed: Count = 0
    """Members unsubscribed because of the opt-out policy."""
    deleted: Count = 0
    """Members archived or deleted (CRM delete, left the criteria, converted lead)."""
    skipped_duplicate: Count = 0
    """Records whose normalised email another record of this sync already holds."""
    skipped_ignored: Count = 0
    """Records not synced for a reason (invalid email, opted out, over the plan limit …)."""
    failed: Count = 0
    """Records the target rejected; retried on the next run."""
    skipped_by_reason: dict[str, Count] = Field(default_factory=dict)
    """Skipped and failed records by reason (low-cardinality reason codes)."""


class RunOutcome(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    PARTIAL = "PartiallySucceeded"
    FAILED = "Failed"


class RunTrigger(StrEnum):
    INITIAL = "Initial"
    NOTIFICATION = "Notification"
    POLL = "Poll"
    SCHEDULE = "Schedule"
    MANUAL = "Manual"
    FULL_RESYNC = "FullResync"
    SPEC_CHANGE = "SpecChange"


class RunSummary(CrdModel):
    """One run of a sync: why it ran, when, and what it did."""

    id: Annotated[str, Field(max_length=64)]
    """A unique run id (also the SyncRun/ConfigMap suffix of its skipped-record export)."""
    trigger: RunTrigger
    """What started the run."""
    start_time: datetime
    """When the run started."""
    end_time: datetime | None = None
    """When it ended; absent while running."""
    outcome: RunOutcome = RunOutcome.RUNNING
    """Running, Succeeded, PartiallySucceeded (some records failed) or Failed."""
    counts: SyncCounts = Field(default_factory=SyncCounts)
    """What this run did."""
    api_calls: Count = 0
    """HTTP requests made to the vendors during the run."""
    retries: Count = 0
    """Requests retried after 429/5xx/timeouts."""
    message: Annotated[str, Field(max_length=4096)] = ""
    """The error, when the run failed."""


class Checkpoint(CrdModel):
    """Where the next incremental run starts; written only after the target confirmed."""

    modified_since: datetime | None = None
    """CRM records modified at or after this time are read by the next incremental run."""
    deleted_since: datetime | None = None
    """CRM deletions at or after this time are read by the next incremental run."""
    last_full_sync_time: datetime | None = None
    """The last full comparison against what the target really holds (drift check)."""
    mapping_hash: Annotated[str, Field(max_length=64)] = ""
    """Hash of the field mapping the members were last written with (a change backfills)."""
    spec_hash: Annotated[str, Field(max_length=64)] = ""
    """Hash of the sync options the target was last reconciled with."""


class SkippedExport(CrdModel):
    """Where the skipped records of the last run are (B8)."""

    config_map: Annotated[str, Field(max_length=253)] = ""
    """ConfigMap holding ``skipped.csv`` (email, record id, reason)."""
    records: Count = 0
    """Rows in the export."""
