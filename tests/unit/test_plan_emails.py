"""Addresses the vendors refuse are skipped with ``invalid_email`` before any call (issue
12.6): in a ContactSync's plan, per target, and in an EmailCampaign's recipients."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from crmsync.engine.emailcampaign import RecipientSelector, SkipReason
from crmsync.engine.emails import ZOHO_CAMPAIGNS
from crmsync.engine.plan import ActionKind, Reason
from tests.unit.test_plan import plan, record, settings

REFUSED: dict[str, Any] = {
    "NUL": "ann\x00@example.com",
    "BEL": "ann\x07@example.com",
    "zero-width space": "ann\u200b@example.com",
    "byte order mark": "\ufeffann@example.com",
    "65-character local part": "a" * 65 + "@example.com",
    "300 characters": "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com",
    "list value": ["x@y.com"],
    "dict value": {"email": "x@y.com"},
    "number": 12345,
    "UTF-8 local part": "dirección@example.com",
}


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_refused_addresses_are_skipped_before_the_vendor(email: Any) -> None:
    [action] = plan(settings(), [record("1", email)])
    assert (action.kind, action.reason) == (ActionKind.SKIP_IGNORED, Reason.INVALID_EMAIL)
    assert action.write is None


def test_a_list_value_is_never_sent_as_its_str() -> None:
    actions = plan(settings(), [record("1", ["x@y.com"]), record("2", "x@y.com")])
    assert [(a.kind, a.record_id) for a in actions] == [
        (ActionKind.SKIP_IGNORED, "1"),
        (ActionKind.ADD, "2"),
    ]
    assert actions[1].write is not None and actions[1].write.email == "x@y.com"


def test_idn_domains_follow_the_target() -> None:
    idn = record("1", "test@ñoñó1234.com")
    [to_mailchimp] = plan(settings(), [idn])
    assert to_mailchimp.kind == ActionKind.ADD
    to_zoho = replace(settings(), address_rules=ZOHO_CAMPAIGNS)
    [skipped] = plan(to_zoho, [idn])
    assert (skipped.kind, skipped.reason) == (ActionKind.SKIP_IGNORED, Reason.INVALID_EMAIL)


@pytest.mark.parametrize("email", [*REFUSED.values(), "test@ñoñó1234.com"])
def test_email_campaign_recipients_use_the_zoho_rules(email: Any) -> None:
    selector = RecipientSelector()
    selector.add("Leads", [], [record("1", email), record("2", "Šťastna@example.cz")])
    selection = selector.finish()
    assert selection.recipients == ("šťastna@example.cz",)
    assert [(s.record_id, s.reason) for s in selection.skipped] == [("1", SkipReason.INVALID_EMAIL)]
