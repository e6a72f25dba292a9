"""Prometheus metrics of mailbox capture, in the operator's registry (:mod:`crmsync.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from crmsync.metrics import REGISTRY

MESSAGES = Counter(
    "crmsync_mailbox_messages",
    "Messages read from mailboxes, by outcome (scanned, captured, duplicate, unmatched).",
    ["namespace", "mailboxsync", "outcome"],
    registry=REGISTRY,
)
LAST_UID = Gauge(
    "crmsync_mailbox_last_uid",
    "Highest UID captured per mailbox folder.",
    ["namespace", "mailboxsync", "folder"],
    registry=REGISTRY,
)
