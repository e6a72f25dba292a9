"""EmailCampaign decisions (C1), pure: which CRM records are recipients, and the next step.

:class:`RecipientSelector` turns CRM records into recipients and skipped records with a
reason each. :func:`decide` maps the desired spec and the observed state (status markers
and what Zoho Campaigns reports) to the one next step, with a reason. The reconciler
carries a step out, records it in status, observes again and asks again, until a step
says there is nothing to do.

Exactly once: the campaign is created only when no creation was ever requested (otherwise
the one created before a crash is looked up first), and sent only while Zoho reports it
unsent — Zoho itself refuses a second ``sendcampaign`` of one campaign key.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from crmsync.api.v1alpha1.contactsync import Criterion
from crmsync.api.v1alpha1.emailcampaign import (
    MODULE_RECIPIENT_LIMIT,
    TOTAL_RECIPIENT_LIMIT,
    CampaignAction,
    CampaignState,
    EmailCampaignSpec,
)
from crmsync.engine.criteria import matches_all
from crmsync.engine.emails import ZOHO_CAMPAIGNS, is_valid_email
from crmsync.engine.mapping import to_campaign_text
from crmsync.engine.records import CrmRecord, normalise_email

EMAIL_FIELD = "Email"


class SkipReason(StrEnum):
    MISSING_EMAIL = "missing_email"
    INVALID_EMAIL = "invalid_email"
    OPTED_OUT = "opted_out"
    DUPLICATE_EMAIL = "duplicate_email"
    OVER_MODULE_LIMIT = "over_module_limit"
    OVER_TOTAL_LIMIT = "over_total_limit"


@dataclass(frozen=True)
class Skipped:
    module: str
    record_id: str
    email: str
    reason: str
    """A :class:`SkipReason`, or the list's rejection code (role_email, contact_limit …)."""


@dataclass(frozen=True)
class Selection:
    recipients: tuple[str, ...]
    """Normalised emails, in CRM order (modules in spec order)."""
    by_module: Mapping[str, int]
    skipped: tuple[Skipped, ...]
    considered: int

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(s.reason for s in self.skipped))


def _truthy(value: Any) -> bool:
    return to_campaign_text(value).lower() in {"true", "1", "yes", "y", "on"}


@dataclass
class RecipientSelector:
    """Feed each module's records (page by page) with :meth:`add`, then :meth:`finish`.

    A record is a recipient when it matches its module's criteria and has a valid email
    that no earlier record claimed, that no record (of either module) opted out, and that
    fits the per-module and total limits; every other matching record is skipped with a
    reason. Records outside the criteria are not part of the campaign (not counted)."""

    opt_out_field: str = "Email_Opt_Out"
    module_limit: int = MODULE_RECIPIENT_LIMIT
    total_limit: int = TOTAL_RECIPIENT_LIMIT

    considered: int = 0
    _candidates: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    _claimed: set[str] = field(default_factory=set)
    _opted_out: set[str] = field(default_factory=set)
    _skipped: list[Skipped] = field(default_factory=list)

    def add(self, module: str, criteria: Sequence[Criterion], records: Iterable[CrmRecord]) -> None:
        candidates = self._candidates.setdefault(module, [])
        for record in records:
            if record.converted or not matches_all(criteria, record.values):
                continue  # a converted lead is mailed as the contact it became
            self.considered += 1
            email = normalise_email(record.values.get(EMAIL_FIELD))
            reason: SkipReason | None = None
            if not email:
                reason = SkipReason.MISSING_EMAIL
            elif not is_valid_email(record.values.get(EMAIL_FIELD), ZOHO_CAMPAIGNS):
                reason = SkipReason.INVALID_EMAIL
            elif _truthy(record.values.get(self.opt_out_field)):
                self._opted_out.add(email)
                reason = SkipReason.OPTED_OUT
            elif email in self._claimed:
                reason = SkipReason.DUPLICATE_EMAIL
            if reason is not None:
                self._skipped.append(Skipped(module, record.id, email, reason))
                continue
            self._claimed.add(email)
            candidates.append((email, record.id))

    def finish(self) -> Selection:
        recipients: list[str] = []
        by_module: dict[str, int] = {}
        skipped = list(self._skipped)
        for module, candidates in self._candidates.items():
            taken = 0
            for email, record_id in candidates:
                if email in self._opted_out:  # another record of this person opted out
                    skipped.append(Skipped(module, record_id, email, SkipReason.OPTED_OUT))
                elif taken >= self.module_limit:
                    skipped.append(Skipped(module, record_id, email, SkipReason.OVER_MODULE_LIMIT))
                elif len(recipients) >= self.total_limit:
                    skipped.append(Skipped(module, record_id, email, SkipReason.OVER_TOTAL_LIMIT))
                else:
                    taken += 1
                    recipients.append(email)
            by_module[module] = taken
        return Selection(tuple(recipients), by_module, tuple(skipped), self.considered)


def recipients_hash(spec: EmailCampaignSpec) -> str:
    """What the list members are synced for: the recipient query, the list and topic."""
    wanted = {
        "recipients": spec.recipients.to_wire(),
        "list": spec.target.list_key,
        "topic": spec.target.topic_id or "",
    }
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def crm_fields(spec: EmailCampaignSpec, module: str) -> list[str]:
    """The CRM fields a module's records are read with."""
    names = [EMAIL_FIELD, spec.recipients.opt_out_field]
    for source in spec.recipients.sources:
        if source.module == module:
            names += [c.field for c in source.criteria or []]
    return list(dict.fromkeys(names))


# --- the next step ------------------------------------------------------------------------

ZOHO_SENT = frozenset({"Sent", "In progress", "Scheduled", "Paused"})
"""Zoho statuses of a campaign that was sent (or is being sent): never send again."""
ZOHO_STOPPED = frozenset({"Canceled", "Stopped"})


class Step(StrEnum):
    SYNC_RECIPIENTS = "SyncRecipients"
    """Read the CRM recipients and add them to the associated list."""
    CREATE_CAMPAIGN = "CreateCampaign"
    """createCampaign (after looking for the one a crash may have left, when ``adopt``)."""
    RECORD_TEST_MAIL = "RecordTestMail"
    """Record the test-email request (API v1.1 cannot send it)."""
    SEND = "Send"
    """sendcampaign (after writing the send marker)."""
    CONFIRM_SENT = "ConfirmSent"
    """Zoho reports the campaign sent: record it."""
    MARK_CANCELLED = "MarkCancelled"
    """Record the cancellation; nothing is sent, nothing deleted in Zoho."""
    HOLD = "Hold"
    """Nothing to do until the spec changes (Draft, ToReview)."""
    DONE = "Done"
    """Final and recorded (Sent, Cancelled)."""
    BLOCKED = "Blocked"
    """Cannot go on without the user (reason says why)."""


@dataclass(frozen=True)
class Desired:
    action: CampaignAction
    recipients_hash: str
    test_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observed:
    """The status markers, plus Zoho's view of the campaign when it has a key."""

    campaign_key: str = ""
    campaign_found: bool = True
    """False when Zoho does not know the recorded key (the campaign was deleted there)."""
    zoho_status: str = ""
    recipients_hash: str = ""
    """The recipient query the list was last synced for ("" = never)."""
    recipients_selected: int = 0
    create_requested: bool = False
    send_requested: bool = False
    sent: bool = False
    cancelled: bool = False
    test_mail_for: tuple[str, ...] = ()
    """The test addresses already recorded."""


@dataclass(frozen=True)
class Decision:
    step: Step
    reason: str
    """CamelCase, for conditions and events."""
    message: str
    state: CampaignState
    """The state to report while (or after) the step is carried out."""
    adopt: bool = False
    """For CREATE_CAMPAIGN: a creation was requested before; look for that campaign first."""
    keep_reason: bool = False
    """For DONE: the Sent condition recorded with the outcome (why it was sent or
    cancelled) stays as it is."""


def _prepared_state(desired: Desired) -> CampaignState:
    return (
        CampaignState.TO_REVIEW if desired.action == CampaignAction.REVIEW else CampaignState.DRAFT
    )


def decide(desired: Desired, observed: Observed) -> Decision:
    """The next step for one EmailCampaign."""
    return _settled(desired, observed) or _prepare(desired, observed) or _advance(desired, observed)


def _settled(desired: Desired, observed: Observed) -> Decision | None:
    """Sent, cancelled, or gone in Zoho: nothing is ever sent (again)."""
    sent_state, cancelled = CampaignState.SENT, CampaignState.CANCELLED
    if observed.sent:
        if desired.action == CampaignAction.CANCEL:
            return Decision(Step.DONE, "AlreadySent", "the campaign was sent; it cannot be cancelled", sent_state)  # fmt: skip
        return Decision(Step.DONE, "Sent", "the campaign was sent", sent_state, keep_reason=True)
    if observed.campaign_key and observed.zoho_status in ZOHO_SENT:
        reason = "Sent" if observed.send_requested else "SentInZohoCampaigns"
        return Decision(Step.CONFIRM_SENT, reason, f"Zoho Campaigns reports the campaign {observed.zoho_status}", sent_state)  # fmt: skip
    if observed.cancelled:
        return Decision(Step.DONE, "Cancelled", "the campaign was cancelled; nothing was sent", cancelled, keep_reason=True)  # fmt: skip
    if desired.action == CampaignAction.CANCEL:
        return Decision(
            Step.MARK_CANCELLED, "CancelledBySpec",
            "spec.action is Cancel: the campaign is never sent (Zoho Campaigns keeps it as a draft; API v1.1 has no cancel method)",
            cancelled,
        )  # fmt: skip
    if observed.campaign_key and observed.zoho_status in ZOHO_STOPPED:
        return Decision(Step.MARK_CANCELLED, "CancelledInZohoCampaigns", f"Zoho Campaigns reports the campaign {observed.zoho_status}", cancelled)  # fmt: skip
    if observed.campaign_key and not observed.campaign_found:
        return Decision(
            Step.BLOCKED, "CampaignNotFound",
            f"Zoho Campaigns no longer knows campaign {observed.campaign_key}; it is not created again (it might have been sent): create a new EmailCampaign",
            CampaignState.DRAFT if not observed.send_requested else CampaignState.SENDING,
        )  # fmt: skip
    return None


def _prepare(desired: Desired, observed: Observed) -> Decision | None:
    """The list members and the campaign itself."""
    if observed.recipients_hash != desired.recipients_hash and not observed.send_requested:
        return Decision(Step.SYNC_RECIPIENTS, "RecipientsChanged" if observed.recipients_hash else "NewCampaign", "reading the CRM recipients and adding them to the list", _current(observed))  # fmt: skip
    if not observed.campaign_key:
        if observed.recipients_selected == 0:
            return Decision(Step.BLOCKED, "NoRecipients", "no CRM record is a recipient (see status.recipients); no campaign is created", CampaignState.PENDING)  # fmt: skip
        adopt = observed.create_requested
        return Decision(
            Step.CREATE_CAMPAIGN, "LookingUpCampaign" if adopt else "CreatingCampaign",
            "a creation was requested before an interruption: looking it up before creating" if adopt else "creating the campaign in Zoho Campaigns",
            CampaignState.PENDING, adopt=adopt,
        )  # fmt: skip
    return None


def _advance(desired: Desired, observed: Observed) -> Decision:
    """Prepared: the test-email request, then the step spec.action asks for."""
    if desired.test_emails and tuple(sorted(desired.test_emails)) != tuple(sorted(observed.test_mail_for)):  # fmt: skip
        return Decision(Step.RECORD_TEST_MAIL, "TestMailRequested", "recording the test-email request", _prepared_state(desired))  # fmt: skip
    if desired.action == CampaignAction.SEND:
        if observed.recipients_selected == 0 and not observed.send_requested:
            return Decision(Step.BLOCKED, "NoRecipients", "no CRM record is a recipient; the campaign is not sent", _prepared_state(desired))  # fmt: skip
        reason = "ResumingSend" if observed.send_requested else "SendRequested"
        return Decision(Step.SEND, reason, "sending the campaign", CampaignState.SENDING)
    if desired.action == CampaignAction.REVIEW:
        return Decision(Step.HOLD, "AwaitingSend", "prepared and waiting for review: set spec.action to Send to send it", CampaignState.TO_REVIEW)  # fmt: skip
    return Decision(Step.HOLD, "Draft", "prepared as a draft: set spec.action to Review or Send", CampaignState.DRAFT)  # fmt: skip


def unapplied_changes(
    spec: EmailCampaignSpec, zoho_subject: str, zoho_from_email: str
) -> tuple[str, ...]:
    """Spec fields that differ from the campaign Zoho holds (API v1.1 cannot update a
    campaign, so they are reported, not applied). Unknown Zoho values ("") never differ."""
    changed = []
    if zoho_subject and zoho_subject != spec.subject:
        changed.append("subject")
    if zoho_from_email and zoho_from_email.lower() != spec.from_email.lower():
        changed.append("fromEmail")
    return tuple(changed)


def _current(observed: Observed) -> CampaignState:
    return CampaignState.DRAFT if observed.campaign_key else CampaignState.PENDING
