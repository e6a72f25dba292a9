"""MailboxSync: email to and from CRM records captured from a mailbox (G1–G7)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field

from crmsync.api.v1alpha1._base import (
    Conditions,
    ConnectionRef,
    CrdModel,
    KindInfo,
    PrinterColumn,
    Resource,
)
from crmsync.api.v1alpha1._types import Duration, DurationRange, Timestamp
from crmsync.api.v1alpha1.status import Retry


class Visibility(StrEnum):
    PRIVATE = "Private"
    SHARED = "Shared"


class MatchModule(StrEnum):
    LEADS = "Leads"
    CONTACTS = "Contacts"
    DEALS = "Deals"


DEFAULT_FOLDERS = ("INBOX", "Sent")


class MailboxSyncSpec(CrdModel):
    """One user's mailbox, captured into the CRM records it exchanges mail with."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.folders.all(f, self.folders.exists_one(g, g == f))",
                    "message": "folders must not repeat",
                    "fieldPath": ".folders",
                },
                {
                    "rule": "self.modules.all(m, self.modules.exists_one(n, n == m))",
                    "message": "modules must not repeat",
                    "fieldPath": ".modules",
                },
            ]
        }
    )

    mailbox_ref: ConnectionRef
    """A Connection with provider imap (its Secret holds username and password; a changed
    password is picked up, a wrong one shows as a condition) (G7)."""
    crm: ConnectionRef
    """A Connection with provider zoho-crm."""
    owner: Annotated[str, Field(min_length=1, max_length=254)]
    """The CRM user (email) who owns the mailbox; private captures are visible to them only."""
    visibility: Visibility = Visibility.PRIVATE
    """Private (owner only) or Shared (all CRM users) (G2)."""
    folders: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=255)]],
        Field(min_length=1, max_length=20),
    ] = Field(
        default_factory=lambda: list(DEFAULT_FOLDERS),
        json_schema_extra={"default": list(DEFAULT_FOLDERS)},
    )
    """IMAP folders to capture from."""
    modules: Annotated[list[MatchModule], Field(min_length=1, max_length=3)] = Field(
        default_factory=lambda: list(MatchModule),
        json_schema_extra={"default": [str(m) for m in MatchModule]},
    )
    """CRM modules matched by address; a deal matches through its primary contact (G1)."""
    poll_interval: Annotated[Duration, DurationRange("30s", "24h")] = "60s"
    """Polling interval, 30s to 24h; IDLE is used as well when the server supports it."""
    use_idle: bool = True
    """Wait for new mail with IMAP IDLE."""
    since: Timestamp | None = None
    """Only mail received after this time; absent: everything in the folders."""
    excerpt_length: Annotated[int, Field(ge=0, le=10000)] = 500
    """Characters of the text body kept on the CRM record."""
    suspend: bool = False
    """Pause capturing (G5: enabling per user)."""


class FolderState(CrdModel):
    """Incremental position in one folder."""

    name: Annotated[str, Field(max_length=255)]
    """The folder."""
    uid_validity: Annotated[int, Field(ge=0)] = 0
    """UIDVALIDITY seen; a change means the folder was reset and is re-scanned."""
    last_uid: Annotated[int, Field(ge=0)] = 0
    """Highest UID captured."""


class MailboxCounts(CrdModel):
    scanned: Annotated[int, Field(ge=0)] = 0
    """Messages read."""
    captured: Annotated[int, Field(ge=0)] = 0
    """Messages stored on at least one CRM record."""
    unmatched: Annotated[int, Field(ge=0)] = 0
    """Messages with no CRM participant."""
    duplicates: Annotated[int, Field(ge=0)] = 0
    """Messages already captured (same Message-ID)."""


class MailboxSyncStatus(CrdModel):
    observed_generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation the status was computed for."""
    conditions: Conditions = Field(default_factory=list)
    """Ready (mailbox and CRM reachable, credentials valid), Synced, Suspended."""
    counts: MailboxCounts = Field(default_factory=MailboxCounts)
    """Since creation."""
    folders: Annotated[list[FolderState], Field(max_length=20)] = Field(default_factory=list)
    """Per-folder position."""
    mailbox_identity: Annotated[str, Field(max_length=512)] = ""
    """Host and user last scanned; a change means a new mailbox whose old mail is not imported."""
    last_capture_time: datetime | None = None
    """When a message was last captured."""
    last_scan_time: datetime | None = None
    """When the folders were last scanned."""
    last_error: Annotated[str, Field(max_length=4000)] = ""
    """The last error of a scan or a CRM write; empty after a clean scan."""
    owner_user_id: Annotated[str, Field(max_length=64)] = ""
    """The CRM user id of spec.owner (the Owner of the captured Notes)."""
    idle: bool = False
    """The mailbox is watched with IMAP IDLE (new mail within seconds) besides polling."""
    retry: Retry | None = None
    """Set while failures repeat: the reason and when the loop tries again."""


class MailboxSync(Resource):
    """Captures a mailbox's mail to and from CRM leads, contacts and deals."""

    kind_info: ClassVar[KindInfo] = KindInfo(
        kind="MailboxSync",
        plural="mailboxsyncs",
        short_names=("msync",),
        printer_columns=(
            PrinterColumn("Owner", ".spec.owner"),
            PrinterColumn("Visibility", ".spec.visibility"),
            PrinterColumn("Ready", ".status.conditions[?(@.type=='Ready')].status"),
            PrinterColumn("Captured", ".status.counts.captured", type="integer"),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    )
    kind: str = "MailboxSync"
    spec: MailboxSyncSpec
    status: MailboxSyncStatus | None = None
