"""EmailCampaign: recipients from Zoho CRM, a campaign in Zoho Campaigns (C1, C3).

One pass (a kopf event handler calls it on create, update and operator start): read the
object fresh from the API server, resolve both Connections, then repeat observe → decide
(:func:`crmsync.engine.emailcampaign.decide`, pure) → carry out one step → record it in
status, until the decision is to hold or nothing is left.

Exactly once: ``createRequestedTime`` is written *before* ``createCampaign`` and the key
right after it, so a crash in between makes the next pass look the campaign up (the
name recorded with the intent, created since) instead of creating a second one;
``sendRequestedTime`` is written before ``sendcampaign``, and a send is only made while Zoho
reports the campaign unsent (and Zoho refuses a second send of one key, code 6600).

Once sent, each pass ends with the campaign-activity pass (C2,
:func:`crmsync.reconcile.activity.email_campaign_activity`); :meth:`activity_pass` is the
periodic one, called from the zoho-campaigns Connection's recheck timer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.emailcampaign import (
    MAX_SKIPPED_IN_STATUS,
    CampaignState,
    EmailCampaignSpec,
    EmailCampaignStatus,
)
from crmsync.api.v1alpha1.status import SkippedExport
from crmsync.engine.emailcampaign import (
    Decision,
    Desired,
    Observed,
    RecipientSelector,
    Selection,
    Skipped,
    Step,
    crm_fields,
    decide,
    recipients_hash,
    unapplied_changes,
)
from crmsync.engine.records import WriteOutcome
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.conditions import RECONCILING, STALLED, set_condition
from crmsync.k8s.logs import Logger
from crmsync.providers.factory import open_crm, open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.zoho_campaigns import CampaignInfo, ZohoCampaigns
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.activity import email_campaign_activity
from crmsync.reconcile.live import LiveObject
from crmsync.reconcile.resolve import NotReadyError, ready_connection
from crmsync.reconcile.retry import validation_message

PLURAL = "emailcampaigns"
FINAL_STEPS = frozenset({Step.HOLD, Step.DONE, Step.BLOCKED})
"""A pass ends on these; the others are work under way (condition Reconciling)."""
RETRY_SECONDS = 10.0
MAX_STEPS = 12
ADOPT_WINDOW_MS = 5 * 60 * 1000
"""Clock skew allowed between the operator and Zoho when looking up a campaign by time."""
EXPORT_ROWS = 10_000
"""Skipped records written to the ConfigMap (a ConfigMap holds at most 1 MiB)."""
TEST_MAIL_MESSAGE = (
    "not sent: Zoho Campaigns API v1.1 documents no test-email method; send the test from "
    "Zoho Campaigns (campaign → Preview and test, at most 5 addresses)"
)


def now() -> datetime:
    return datetime.now(UTC)


def stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def skipped_csv(skipped: tuple[Skipped, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "record_id", "module", "reason"])
    for row in skipped[:EXPORT_ROWS]:
        writer.writerow([row.email, row.record_id, row.module, row.reason])
    return out.getvalue()


class EmailCampaignReconciler(LiveObject):
    plural = PLURAL

    def __init__(self, kube: KubeApi, body: Mapping[str, Any], logger: Logger) -> None:
        self.kube = kube
        self.live_body = body
        self.logger = logger
        self.written = None

    # -- one pass ------------------------------------------------------------------------

    async def reconcile(self) -> float | None:
        """Carry the campaign forward; returns a delay when it should be tried again."""
        meta = self.live_body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        try:
            # Decisions never rest on a stale status: this pass starts from the stored one.
            self.live_body = await self.kube.get_custom(PLURAL, namespace, name)
        except NotFoundError:
            return None  # deleted meanwhile: unlinked, nothing to do
        body = self.snapshot()
        try:
            spec = EmailCampaignSpec.model_validate(body["spec"])
        except ValidationError as exc:
            await self._conditions(body, ("Ready", False, "InvalidSpec", validation_message(exc)))
            return None
        try:
            crm_conn = await ready_connection(
                self.kube, namespace, spec.recipients.connection_ref.name, (Provider.ZOHO_CRM,), "CRM"
            )  # fmt: skip
            campaigns_conn = await ready_connection(
                self.kube, namespace, spec.target.connection_ref.name,
                (Provider.ZOHO_CAMPAIGNS,), "campaign",
            )  # fmt: skip
        except NotReadyError as exc:
            await self._not_ready(body, exc.reason, exc.message)
            return RETRY_SECONDS
        # Reconciling until the pass has recorded its outcome, set with observedGeneration.
        await self._conditions(
            body,
            ("Ready", True, "ConnectionsReady", "CRM and Zoho Campaigns Connections are Ready"),
            (RECONCILING, True, "PassStarted", f"carrying out spec.action {spec.action}"),
        )
        stats = CallStats()
        try:
            target = open_target(campaigns_conn.endpoint, stats)
            assert isinstance(target, ZohoCampaigns)  # ready_connection checked the provider
            async with target as campaigns, open_crm(crm_conn.endpoint, stats) as crm:
                await self._steps(spec, campaigns, crm)
                await email_campaign_activity(
                    self, self._event, spec, campaigns, crm, periodic=False
                )
        except (ProviderError, httpx.HTTPError, OSError) as exc:
            message = f"{type(exc).__name__}: {exc}"[:4000]
            self.logger.warning("email campaign pass failed: %s", message)
            body = self.snapshot()
            if (body.get("status") or {}).get("lastError") != message:
                await self.patch_status(body, {"lastError": message})
                await self._event(self.snapshot(), "Warning", "CampaignError", message)
            return RETRY_SECONDS
        return None

    async def activity_pass(self) -> None:
        """The periodic campaign-activity pass of a sent EmailCampaign (when due); its
        failures are its own (status.activity, a Warning Event), never the campaign's."""
        meta = self.live_body["metadata"]
        try:
            self.live_body = await self.kube.get_custom(PLURAL, meta["namespace"], meta["name"])
            spec = EmailCampaignSpec.model_validate(self.live_body["spec"])
        except (NotFoundError, ValidationError):
            return
        status = EmailCampaignStatus.model_validate(self.live_body.get("status") or {})
        if status.state != CampaignState.SENT or not spec.activity.enabled:
            return
        try:
            crm_conn = await ready_connection(
                self.kube, meta["namespace"], spec.recipients.connection_ref.name,
                (Provider.ZOHO_CRM,), "CRM",
            )  # fmt: skip
            campaigns_conn = await ready_connection(
                self.kube, meta["namespace"], spec.target.connection_ref.name,
                (Provider.ZOHO_CAMPAIGNS,), "campaign",
            )  # fmt: skip
        except NotReadyError:
            return  # the next tick tries again
        stats = CallStats()
        target = open_target(campaigns_conn.endpoint, stats)
        assert isinstance(target, ZohoCampaigns)
        async with target as campaigns, open_crm(crm_conn.endpoint, stats) as crm:
            await email_campaign_activity(self, self._event, spec, campaigns, crm, periodic=True)

    async def _steps(self, spec: EmailCampaignSpec, campaigns: ZohoCampaigns, crm: ZohoCrm) -> None:
        desired = Desired(
            action=spec.action,
            recipients_hash=recipients_hash(spec),
            test_emails=tuple(e.strip().lower() for e in spec.test_emails),
        )
        for _ in range(MAX_STEPS):
            body = self.snapshot()
            status = EmailCampaignStatus.model_validate(body.get("status") or {})
            observed, info = await self._observe(campaigns, status)
            decision = decide(desired, observed)
            self.logger.debug("email campaign step %s (%s)", decision.step, decision.reason)
            if decision.step not in FINAL_STEPS:
                await self._abnormal(self.snapshot(), RECONCILING, True, decision.reason, decision.message)  # fmt: skip
            if await self._carry_out(decision, spec, desired, status, info, campaigns, crm):
                return

    async def _observe(
        self, campaigns: ZohoCampaigns, status: EmailCampaignStatus
    ) -> tuple[Observed, CampaignInfo | None]:
        info = await campaigns.campaign(status.campaign_key) if status.campaign_key else None
        observed = Observed(
            campaign_key=status.campaign_key,
            campaign_found=info is not None or not status.campaign_key,
            zoho_status=info.status if info else "",
            recipients_hash=status.recipients_hash,
            recipients_selected=status.recipients.added,
            create_requested=status.create_requested_time is not None,
            send_requested=status.send_requested_time is not None,
            sent=status.sent_time is not None,
            cancelled=status.cancelled_time is not None,
            test_mail_for=tuple(status.test_mail.addresses) if status.test_mail else (),
        )
        return observed, info

    async def _carry_out(
        self,
        decision: Decision,
        spec: EmailCampaignSpec,
        desired: Desired,
        status: EmailCampaignStatus,
        info: CampaignInfo | None,
        campaigns: ZohoCampaigns,
        crm: ZohoCrm,
    ) -> bool:
        """One step; True when the pass is over (hold, done, blocked)."""
        body = self.snapshot()
        step = decision.step
        if step is Step.SYNC_RECIPIENTS:
            await self._sync_recipients(spec, desired, decision, campaigns, crm)
            return False
        if step is Step.CREATE_CAMPAIGN:
            await self._create(spec, decision, status, campaigns)
            return False
        if step is Step.RECORD_TEST_MAIL:
            addresses = list(desired.test_emails)
            await self.patch_status(body, {
                "testMail": {"addresses": addresses, "requestedTime": stamp(now()), "sent": False, "message": TEST_MAIL_MESSAGE},
            })  # fmt: skip
            await self._conditions(self.snapshot(), ("TestMailSent", False, "NotSupportedByApi", TEST_MAIL_MESSAGE))  # fmt: skip
            await self._event(self.snapshot(), "Warning", "TestMailNotSent", f"test email to {', '.join(addresses)} {TEST_MAIL_MESSAGE}")  # fmt: skip
            return False
        if step is Step.SEND:
            await self._send(decision, status, campaigns)
            return False
        if step is Step.CONFIRM_SENT:
            sent_at = datetime.fromtimestamp(info.sent_ms / 1000, UTC) if info and info.sent_ms else now()  # fmt: skip
            await self._record(decision, {"sentTime": stamp(sent_at), "zohoStatus": info.status if info else ""})  # fmt: skip
            await self._event(self.snapshot(), "Normal", "CampaignSent", f"campaign {status.campaign_key}: {decision.message}")  # fmt: skip
            return False
        if step is Step.MARK_CANCELLED:
            await self._record(decision, {"cancelledTime": stamp(now()), "zohoStatus": info.status if info else ""})  # fmt: skip
            await self._event(self.snapshot(), "Normal", "CampaignCancelled", decision.message)
            return False
        # HOLD, DONE, BLOCKED: report and stop.
        changed = (body.get("status") or {}).get("state") != decision.state
        extra: dict[str, Any] = {"zohoStatus": info.status} if info else {}
        extra["lastError"] = decision.message if step is Step.BLOCKED else ""  # a clean pass
        if info is not None:
            await self._report_unapplied(spec, info)
        await self._abnormal(self.snapshot(), RECONCILING, False)
        await self._abnormal(self.snapshot(), STALLED, step is Step.BLOCKED, decision.reason, decision.message)  # fmt: skip
        await self._record(decision, extra)  # last: the state tells the pass is complete
        if step is Step.BLOCKED and changed:
            await self._event(self.snapshot(), "Warning", decision.reason, decision.message)
        return True

    async def _report_unapplied(self, spec: EmailCampaignSpec, info: CampaignInfo) -> None:
        """API v1.1 has no method to change a campaign: a changed subject or sender is
        reported (condition CampaignUpToDate, one Warning), never silently dropped."""
        changed = unapplied_changes(spec, info.subject, info.from_email)
        if not changed:
            await self._conditions(self.snapshot(), ("CampaignUpToDate", True, "InSync", "the Zoho campaign has the spec's subject and sender"))  # fmt: skip
            return
        message = (
            f"spec {' and '.join(changed)} changed after campaign {info.key} was created; "
            "Zoho Campaigns API v1.1 cannot update a campaign: edit it in Zoho Campaigns "
            "or create a new EmailCampaign"
        )
        body = self.snapshot()
        before = [c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == "CampaignUpToDate"]  # fmt: skip
        await self._conditions(body, ("CampaignUpToDate", False, "ChangeNotApplied", message))
        if not before or before[0].get("message") != message:
            await self._event(self.snapshot(), "Warning", "ChangeNotApplied", message)

    # -- the steps -------------------------------------------------------------------------

    async def _sync_recipients(
        self,
        spec: EmailCampaignSpec,
        desired: Desired,
        decision: Decision,
        campaigns: ZohoCampaigns,
        crm: ZohoCrm,
    ) -> None:
        selector = RecipientSelector(opt_out_field=spec.recipients.opt_out_field)
        for source in spec.recipients.sources:
            module = str(source.module)
            async for page in crm.records(module, crm_fields(spec, module)):
                selector.add(module, source.criteria or [], page)
        selection = selector.finish()
        results = await campaigns.add_to_list(
            spec.target.list_key, list(selection.recipients), topic_id=spec.target.topic_id
        )
        rejected = {r.email: r.reason for r in results if r.outcome is WriteOutcome.REJECTED}
        module_of = _module_of(selection)
        skipped = selection.skipped + tuple(
            Skipped(module_of.get(email, ""), "", email, reason) for email, reason in rejected.items()
        )  # fmt: skip
        added = len(results) - len(rejected)
        by_reason: dict[str, int] = {}
        for row in skipped:
            by_reason[row.reason] = by_reason.get(row.reason, 0) + 1
        body = self.snapshot()
        patch: dict[str, Any] = {
            "recipientsHash": desired.recipients_hash,
            "recipientsSyncedTime": stamp(now()),
            "recipients": {
                "considered": selection.considered,
                "selected": len(selection.recipients),
                "added": added,
                "skipped": len(skipped),
                "skippedByReason": by_reason,
                "byModule": dict(selection.by_module),
            },
            "skipped": [
                {"module": s.module, "recordId": s.record_id, "email": s.email, "reason": s.reason}
                for s in skipped[:MAX_SKIPPED_IN_STATUS]
            ],
            "lastError": "",
        }
        if skipped:
            patch["skippedExport"] = await self._export(body, skipped)
        await self.patch_status(body, patch)
        message = f"{added} recipients in list {spec.target.list_key}, {len(skipped)} skipped"
        await self._conditions(self.snapshot(), ("RecipientsSynced", True, "Synced", message))
        await self._event(self.snapshot(), "Normal", "RecipientsSynced", message)

    async def _create(
        self,
        spec: EmailCampaignSpec,
        decision: Decision,
        status: EmailCampaignStatus,
        campaigns: ZohoCampaigns,
    ) -> None:
        name = spec.campaign_name or self.snapshot()["metadata"]["name"]
        if decision.adopt and status.create_requested_time is not None:
            # The name recorded with the intent (the spec may have changed since), and a
            # campaign created after the intent was written (give or take clock skew).
            wanted = status.campaign_name or name
            since_ms = int(status.create_requested_time.timestamp() * 1000) - ADOPT_WINDOW_MS
            for candidate in await campaigns.recent_campaigns():
                if candidate.name == wanted and candidate.created_ms >= since_ms:
                    await self._record(decision, {"campaignKey": candidate.key, "campaignName": wanted, "zohoStatus": candidate.status})  # fmt: skip
                    await self._event(self.snapshot(), "Normal", "CampaignAdopted", f"campaign {candidate.key} created before an interruption is used (not created twice)")  # fmt: skip
                    return
        await self._record(decision, {"createRequestedTime": stamp(now()), "campaignName": name})
        key = await campaigns.create_campaign(
            name=name,
            subject=spec.subject,
            from_email=spec.from_email,
            from_name=spec.from_name,
            listkey=spec.target.list_key,
            topic_id=spec.target.topic_id,
            content_url=spec.content.url if spec.content else None,
        )
        await self.patch_status(self.snapshot(), {"campaignKey": key, "zohoStatus": "Draft"})
        await self._event(self.snapshot(), "Normal", "CampaignCreated", f"campaign {key} ({name!r}) created in Zoho Campaigns as a draft")  # fmt: skip

    async def _send(
        self, decision: Decision, status: EmailCampaignStatus, campaigns: ZohoCampaigns
    ) -> None:
        extra = {} if status.send_requested_time else {"sendRequestedTime": stamp(now())}
        await self._record(decision, extra)  # the marker is stored before the call
        sent_now = await campaigns.send_campaign(status.campaign_key)
        done = Decision(Step.DONE, "Sent", "the campaign was sent", CampaignState.SENT)
        await self._record(done, {"sentTime": stamp(now()), "zohoStatus": "Sent"})
        if sent_now:
            message = f"campaign {status.campaign_key} sent ({status.recipients.added} CRM recipients in the list)"  # fmt: skip
        else:
            message = f"campaign {status.campaign_key} had been sent already (Zoho: 6600); not sent again"  # fmt: skip
        await self._event(self.snapshot(), "Normal", "CampaignSent", message)

    # -- status helpers ----------------------------------------------------------------------

    async def _record(self, decision: Decision, extra: Mapping[str, Any]) -> None:
        """State, the Sent condition and observedGeneration for a decision, plus ``extra``."""
        body = self.snapshot()
        generation = int(body["metadata"].get("generation", 0))
        current = (body.get("status") or {}).get("conditions") or []
        sent = decision.state == CampaignState.SENT
        kept = next((c for c in current if c.get("type") == "Sent"), None)
        if decision.keep_reason and kept is not None:
            reason, message = str(kept.get("reason", decision.reason)), str(kept.get("message", ""))
        else:
            reason, message = decision.reason, decision.message
        conditions = set_condition(current, "Sent", sent, reason, message, generation)
        patch = {"state": decision.state, "observedGeneration": generation, **extra}
        status = body.get("status") or {}
        if conditions != current:
            patch["conditions"] = conditions
        if any(status.get(k) != v for k, v in patch.items()):
            await self.patch_status(body, patch)

    async def _export(self, body: dict[str, Any], skipped: tuple[Skipped, ...]) -> dict[str, Any]:
        meta = body["metadata"]
        name = f"{meta['name']}-skipped"
        try:
            await self.kube.apply_configmap(meta["namespace"], name, {"skipped.csv": skipped_csv(skipped)}, body)  # fmt: skip
        except httpx.HTTPError as exc:
            self.logger.warning("skipped-recipient export %s not written: %s", name, exc)
            await self._event(body, "Warning", "ExportFailed", f"ConfigMap {name} not written: {exc}")  # fmt: skip
        return SkippedExport(config_map=name, records=min(len(skipped), EXPORT_ROWS)).to_wire()

    async def _not_ready(self, body: dict[str, Any], reason: str, message: str) -> None:
        self.logger.warning("not ready: %s: %s", reason, message)
        if (body.get("status") or {}).get("lastError") != message:
            await self.patch_status(body, {"lastError": message[:4000]})
            body = self.snapshot()
        await self._conditions(body, ("Ready", False, reason, message[:1000]))


def _module_of(selection: Selection) -> dict[str, str]:
    """Recipient email → its module (for the list's rejections)."""
    out: dict[str, str] = {}
    start = 0
    for module, count in selection.by_module.items():
        for email in selection.recipients[start : start + count]:
            out[email] = module
        start += count
    return out


async def sent_campaigns_activity(
    kube: KubeApi, connection: Mapping[str, Any], logger: Logger
) -> None:
    """The periodic activity passes (C2) of the sent EmailCampaigns whose campaign
    Connection is ``connection``: its recheck timer carries them, because a timer on
    EmailCampaign itself would make kopf add a finalizer (C3 wants none)."""
    meta = connection["metadata"]
    if (connection.get("spec") or {}).get("provider") != Provider.ZOHO_CAMPAIGNS:
        return
    for item in await kube.list_custom(PLURAL, meta["namespace"]):
        target = (item.get("spec") or {}).get("target") or {}
        if (target.get("connectionRef") or {}).get("name") != meta["name"]:
            continue
        if (item.get("status") or {}).get("state") != CampaignState.SENT:
            continue
        try:
            await EmailCampaignReconciler(kube, item, logger).activity_pass()
        except (ProviderError, httpx.HTTPError, OSError) as exc:  # the next tick tries again
            logger.warning("activity pass of %s failed: %s", item["metadata"]["name"], exc)
