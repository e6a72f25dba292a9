"""EmailCampaign: a Zoho Campaigns email campaign whose recipients come from Zoho CRM (C1).

The user moves ``spec.action`` forward: ``Draft`` (recipients read from the CRM and added
to the associated list, the campaign created in Zoho Campaigns as a draft) → ``Review``
(the same, reported as waiting for the go-ahead: "to review") → ``Send`` (``sendcampaign``,
exactly once), or ``Cancel`` (never sent). The API server refuses moving back (transition
rules): from ``Send`` only to ``Cancel`` (which stops a send Zoho has not carried out; a
campaign Zoho reports sent stays Sent), and ``Cancel`` is final.

What Zoho Campaigns' API v1.1 cannot do, and what crmsync does instead:

- **Test mail.** v1.1 documents no test-email method (only the web UI's "Preview and
  test"). ``spec.testEmails`` (at most 5) is recorded in ``status.testMail`` with
  ``sent: false`` and the condition ``TestMailSent=False`` (reason ``NotSupportedByApi``):
  the test has to be sent from Zoho Campaigns. Nothing pretends it was sent.
- **Review and cancel.** v1.1 has no "send for review" or "cancel" method. ``Review`` is a
  state on the Kubernetes side (the campaign stays a draft in Zoho); ``Cancel`` means
  crmsync never sends it (the draft stays in Zoho Campaigns). A campaign reviewed,
  cancelled or sent in Zoho Campaigns itself is reported as Zoho says (``zohoStatus``).
- **Content.** ``createCampaign`` imports content only from a URL (``content_url``);
  without ``spec.content`` the campaign is created without content, and a template must be
  chosen in Zoho Campaigns before sending (Zoho refuses to send without content).

**Responses back into the CRM (C2).** Once sent, the campaign's results are brought back
like a ContactSync's campaign activity (one engine, :mod:`crmsync.engine.activity`): a
record in the CRM Campaigns module with the summary (sent, delivered, opened/unopened,
clicked, hard and soft bounces, unsubscribes, complaints), each recipient lead's and
contact's Member Status on its Campaigns related list (Sent, Bounced, Opened, Responded,
Opted Out), and the same summary in ``status.activity``. On by default (``spec.activity``
turns it off or changes its interval): a pass right after the send, then on every
handler pass (operator start, any change, the ``crmsync.dev/sync-now`` annotation) and
periodically — the zoho-campaigns Connection's recheck timer carries the passes of the
EmailCampaigns sent through it that are due, at most once per ``interval``, for
:data:`ACTIVITY_DAYS` days after the send (a timer on EmailCampaign itself would make kopf
add a finalizer, see below).

Deleting an EmailCampaign *unlinks* it (C3): nothing is deleted in Zoho Campaigns (the
campaign, sent or not, and the list members stay) or in the CRM. crmsync adds no
finalizer of its own because there is nothing to clean up remotely; its handlers are
event handlers (no daemon), so kopf adds none either and ``kubectl delete`` returns at
once, even while the operator is down. Only the skipped-recipient ConfigMap (owned by the
EmailCampaign) is garbage-collected by Kubernetes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field

from crmsync.api.v1alpha1._base import (
    Conditions,
    ConnectionRef,
    CrdModel,
    FieldName,
    KindInfo,
    PrinterColumn,
    Resource,
)
from crmsync.api.v1alpha1._types import Duration, DurationRange
from crmsync.api.v1alpha1.activity import CampaignActivityStatus
from crmsync.api.v1alpha1.contactsync import Criterion
from crmsync.api.v1alpha1.status import SkippedExport

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
Count = Annotated[int, Field(ge=0)]

MODULE_RECIPIENT_LIMIT = 200_000
"""Zoho: at most 200,000 recipients per module (seed 003, "Création de Zoho Campaigns")."""
TOTAL_RECIPIENT_LIMIT = 400_000
"""Zoho: at most 400,000 recipients in all."""
MAX_TEST_EMAILS = 5
"""Zoho: a test email goes to at most five addresses at once."""
MAX_SKIPPED_IN_STATUS = 20
ACTIVITY_DAYS = 30
"""Periodic activity passes stop this many days after the send (opens and clicks have long
settled); a handler pass or the sync-now annotation still brings a pass."""


class CampaignAction(StrEnum):
    DRAFT = "Draft"
    REVIEW = "Review"
    SEND = "Send"
    CANCEL = "Cancel"


class RecipientModule(StrEnum):
    LEADS = "Leads"
    CONTACTS = "Contacts"


class RecipientSource(CrdModel):
    """Records of one CRM module that receive the campaign."""

    module: RecipientModule
    """Leads or Contacts (at most 200,000 recipients each; more are skipped with the reason
    over_module_limit)."""
    criteria: Annotated[list[Criterion], Field(max_length=20)] | None = None
    """Only records matching all criteria are recipients. Absent: every record of the module."""


class CrmRecipients(CrdModel):
    """Where the recipients come from: Zoho CRM records, by module and criteria."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.sources.all(s, self.sources.exists_one(t, t.module == s.module))",
                    "message": "each module may appear only once in recipients.sources",
                    "fieldPath": ".sources",
                },
            ]
        }
    )

    connection_ref: ConnectionRef
    """A Connection with provider zoho-crm."""
    sources: Annotated[list[RecipientSource], Field(min_length=1, max_length=2)]
    """The modules (Leads, Contacts) and their criteria; a person in both counts once."""
    opt_out_field: FieldName = "Email_Opt_Out"
    """A record with this field true is skipped (reason opted_out), and so is every other
    record with the same email."""


class CampaignList(CrdModel):
    """The Zoho Campaigns side: account, the associated mailing list, optional topic."""

    connection_ref: ConnectionRef
    """A Connection with provider zoho-campaigns."""
    list_key: Annotated[str, Field(min_length=1, max_length=128)]
    """The associated mailing list: recipients are added to it, and the campaign is sent to
    its active members (members it already had receive the campaign too; use a dedicated
    list to send to the CRM recipients only)."""
    topic_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """Zoho Campaigns topic (mandatory in organisations with the updated topic management)."""


class CampaignContent(CrdModel):
    """The email's HTML, imported by Zoho Campaigns from a URL (``content_url``)."""

    url: Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$")]
    """A public http(s) URL of the HTML content (at most 300,000 characters, Zoho's limit)."""


class EmailCampaignActivity(CrdModel):
    """Bringing the sent campaign's responses back into the CRM (C2): the CRM Campaigns
    record with the summary, each recipient's Member Status, status.activity."""

    enabled: bool = True
    """On unless false."""
    interval: Annotated[Duration, DurationRange("1m", "720h")] = "15m"
    """Least time between two periodic passes (for 30 days after the send); the operator
    start, a spec change and the crmsync.dev/sync-now annotation bring one at once."""


class EmailCampaignSpec(CrdModel):
    """The declared campaign: recipients × list × message × the step it should be at."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "oldSelf.action != 'Send' || self.action in ['Send', 'Cancel']",
                    "message": "a campaign whose action is Send cannot go back to Draft or Review (Cancel stops a send that has not happened yet)",
                    "fieldPath": ".action",
                },
                {
                    "rule": "oldSelf.action != 'Cancel' || self.action == 'Cancel'",
                    "message": "a cancelled campaign stays cancelled; create a new EmailCampaign",
                    "fieldPath": ".action",
                },
                {
                    "rule": "oldSelf.action != 'Send' || self.recipients == oldSelf.recipients",
                    "message": "recipients cannot change once the action is Send",
                    "fieldPath": ".recipients",
                },
                {
                    "rule": "self.target.listKey == oldSelf.target.listKey",
                    "message": "spec.target.listKey is immutable; create a new EmailCampaign",
                    "fieldPath": ".target.listKey",
                },
            ]
        }
    )

    target: CampaignList
    """The Zoho Campaigns account and the associated list."""
    recipients: CrmRecipients
    """Which CRM records receive the campaign."""
    campaign_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """The campaign's name in Zoho Campaigns; absent: the EmailCampaign's name."""
    subject: Annotated[str, Field(min_length=1, max_length=500)]
    """The subject line."""
    from_email: Email
    """The sender address (Zoho's review expects a private domain, not a public mailbox)."""
    from_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """The sender name."""
    content: CampaignContent | None = None
    """The HTML content by URL; absent: choose a template in Zoho Campaigns before sending."""
    test_emails: Annotated[
        list[Email],
        Field(max_length=MAX_TEST_EMAILS, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = Field(default_factory=list)
    """Up to five addresses for a test email. Zoho Campaigns' API v1.1 has no test-email
    method: the request is recorded in status.testMail (not sent) for a test from the
    Zoho Campaigns UI."""
    action: CampaignAction = CampaignAction.DRAFT
    """Draft (prepare), Review (prepared, waiting for the go-ahead), Send (send exactly
    once; then only Cancel is accepted) or Cancel (never send; final)."""
    activity: EmailCampaignActivity = Field(default_factory=EmailCampaignActivity)
    """Once sent, bring the responses back into the CRM (on by default)."""


class CampaignState(StrEnum):
    PENDING = "Pending"
    """Nothing in Zoho Campaigns yet (or waiting for the Connections)."""
    DRAFT = "Draft"
    TO_REVIEW = "ToReview"
    SENDING = "Sending"
    """sendcampaign was called and its outcome is not yet confirmed."""
    SENT = "Sent"
    CANCELLED = "Cancelled"


class RecipientCounts(CrdModel):
    """What the last recipient sync found and did."""

    considered: Count = 0
    """CRM records matching the criteria."""
    selected: Count = 0
    """Unique, valid, not opted-out addresses within the limits: the campaign's recipients."""
    added: Count = 0
    """Recipients the associated list accepted."""
    skipped: Count = 0
    """Records not made recipients, for a reason (see skippedByReason)."""
    skipped_by_reason: dict[str, Count] = Field(default_factory=dict)
    """missing_email, invalid_email, opted_out, duplicate_email, over_module_limit,
    over_total_limit, or the list's rejection (role_email, contact_limit …)."""
    by_module: dict[str, Count] = Field(default_factory=dict)
    """Selected recipients per CRM module."""


class SkippedRecipient(CrdModel):
    """One record that is not a recipient, and why."""

    module: Annotated[str, Field(max_length=100)]
    """The CRM module."""
    record_id: Annotated[str, Field(max_length=64)] = ""
    """The CRM record id."""
    email: Annotated[str, Field(max_length=320)] = ""
    """The normalised email (empty when missing)."""
    reason: Annotated[str, Field(max_length=64)]
    """The reason code."""


class MailTestRequest(CrdModel):
    """The test-email request and what became of it."""

    addresses: Annotated[list[Annotated[str, Field(max_length=254)]], Field(max_length=5)] = Field(
        default_factory=list
    )
    """The addresses requested (spec.testEmails)."""
    requested_time: datetime | None = None
    """When crmsync handled the request."""
    sent: bool = False
    """True only when a test email was really sent (never, with API v1.1)."""
    message: Annotated[str, Field(max_length=1024)] = ""
    """Why it was not sent, and what to do instead."""


class EmailCampaignStatus(CrdModel):
    observed_generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation the status was computed for."""
    conditions: Conditions = Field(default_factory=list)
    """Ready (Connections usable), RecipientsSynced, Sent, TestMailSent, CampaignUpToDate
    (False when the subject or sender changed after creation: API v1.1 cannot update a
    campaign)."""
    state: CampaignState = CampaignState.PENDING
    """Pending, Draft, ToReview, Sending, Sent or Cancelled."""
    campaign_key: Annotated[str, Field(max_length=128)] = ""
    """The Zoho campaign key (recorded right after createCampaign)."""
    campaign_name: Annotated[str, Field(max_length=100)] = ""
    """The campaign's name in Zoho Campaigns."""
    zoho_status: Annotated[str, Field(max_length=64)] = ""
    """The campaign's status as Zoho Campaigns last reported it (Draft, Sent, …)."""
    create_requested_time: datetime | None = None
    """Written (with campaignName) before createCampaign: after a crash in between, the
    campaign is looked up (that name, created since) instead of created a second time."""
    send_requested_time: datetime | None = None
    """Written before sendcampaign: after a crash, Zoho's campaign status decides; a
    campaign is never sent twice (Zoho also refuses a second send, code 6600)."""
    sent_time: datetime | None = None
    """When the send was confirmed."""
    cancelled_time: datetime | None = None
    """When the campaign was cancelled."""
    recipients_hash: Annotated[str, Field(max_length=64)] = ""
    """Hash of the recipient query and list the list members were last synced for."""
    recipients_synced_time: datetime | None = None
    """When the recipients were last added to the list."""
    recipients: RecipientCounts = Field(default_factory=RecipientCounts)
    """Counts of the last recipient sync."""
    skipped: Annotated[list[SkippedRecipient], Field(max_length=MAX_SKIPPED_IN_STATUS)] = Field(
        default_factory=list
    )
    """The first skipped records (all of them are in skippedExport)."""
    skipped_export: SkippedExport | None = None
    """The ConfigMap with every skipped record (skipped.csv: email, record id, module, reason)."""
    test_mail: MailTestRequest | None = None
    """The test-email request, when spec.testEmails is set."""
    last_error: Annotated[str, Field(max_length=4000)] = ""
    """The last error; empty after a clean pass."""
    activity: CampaignActivityStatus | None = None
    """The responses brought back into the CRM (C2): last pass, outcome, and the campaign's
    summary, CRM Campaigns record and members updated/unmatched."""
    activity_requested: Annotated[str, Field(max_length=128)] = ""
    """The crmsync.dev/sync-now annotation value the last activity pass acted on."""


class EmailCampaign(Resource):
    """A Zoho Campaigns email campaign to Zoho CRM leads and contacts (C1)."""

    kind_info: ClassVar[KindInfo] = KindInfo(
        kind="EmailCampaign",
        plural="emailcampaigns",
        short_names=("ecamp",),
        printer_columns=(
            PrinterColumn("Action", ".spec.action"),
            PrinterColumn("State", ".status.state"),
            PrinterColumn("Ready", ".status.conditions[?(@.type=='Ready')].status"),
            PrinterColumn("Recipients", ".status.recipients.selected", type="integer"),
            PrinterColumn("Skipped", ".status.recipients.skipped", type="integer"),
            PrinterColumn("Campaign Key", ".status.campaignKey", priority=1),
            PrinterColumn("Sent", ".status.sentTime", type="date", priority=1),
            PrinterColumn(
                "Opens", ".status.activity.campaigns[0].summary.opens", type="integer", priority=1
            ),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    )
    kind: str = "EmailCampaign"
    spec: EmailCampaignSpec
    status: EmailCampaignStatus | None = None
