"""One CRM notification channel per Connection and module (14.3): what it carries, and
when it is subscribed, renewed, re-subscribed and unsubscribed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.status import NotificationChannel, SharedChannel
from crmsync.engine.channels import (
    SETTLING,
    channel_union,
    settling,
    shared_channel_action,
    wants_channel,
)
from crmsync.engine.triggers import CHANNEL_RENEW_BEFORE, ChannelAction, channel_renewal
from crmsync.reconcile.channels import as_sync_channel, channel_secret_name

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
URL = "http://op/notifications/zoho-crm/ns/crm/Contacts"


def spec(suspend: bool = False, **trigger: Any) -> ContactSyncSpec:
    return ContactSyncSpec.model_validate(
        {
            "crm": {"connectionRef": {"name": "c"}, "module": "Contacts"},
            "target": {"connectionRef": {"name": "t"}, "listId": "L"},
            "trigger": trigger,
            "suspend": suspend,
        }
    )


def channel(events: list[str], expires: datetime, **kw: str) -> NotificationChannel:
    return NotificationChannel(
        channel_id=kw.get("channel_id", "1"),
        expires_at=expires,
        notify_url=kw.get("notify_url", URL),
        events=events,
        connection="crm",
    )


def action(events: list[str], current: NotificationChannel | None, now: datetime = NOW) -> str:
    return shared_channel_action(events, current, now, channel_id="1", notify_url=URL)


def test_only_instant_unsuspended_syncs_want_the_channel() -> None:
    assert wants_channel(spec())
    assert not wants_channel(spec(suspend=True))
    assert not wants_channel(spec(mode="Manual"))
    assert not wants_channel(spec(mode="Scheduled", schedule={"frequency": "Hourly"}))


def test_the_channel_carries_the_union_of_the_syncs_needs_own_module_first() -> None:
    own = ("Contacts.all",)
    accounts = ("Contacts.all", "Accounts.edit")
    assert channel_union("Contacts", []) == []
    assert channel_union("Contacts", [own, own, own]) == ["Contacts.all"]
    assert channel_union("Contacts", [own, accounts, own]) == ["Contacts.all", "Accounts.edit"]
    assert channel_union("Contacts", [], keep=["Contacts.all"]) == ["Contacts.all"]
    assert channel_union("Contacts", [own], keep=accounts) == ["Contacts.all", "Accounts.edit"]


def test_subscribed_by_the_first_sync_and_unsubscribed_after_the_last() -> None:
    live = channel(["Contacts.all"], NOW + timedelta(hours=20))
    assert action(["Contacts.all"], None) == ChannelAction.SUBSCRIBE
    assert action(["Contacts.all"], live) == ChannelAction.KEEP
    assert action([], live) == ChannelAction.UNSUBSCRIBE
    assert action([], None) == ChannelAction.KEEP


def test_resubscribed_when_the_union_url_or_channel_id_changes() -> None:
    live = channel(["Contacts.all"], NOW + timedelta(hours=20))
    assert action(["Contacts.all", "Accounts.edit"], live) == ChannelAction.SUBSCRIBE
    moved = channel(["Contacts.all"], NOW + timedelta(hours=20), notify_url="http://old/x")
    assert action(["Contacts.all"], moved) == ChannelAction.SUBSCRIBE
    other_id = channel(["Contacts.all"], NOW + timedelta(hours=20), channel_id="2")
    assert action(["Contacts.all"], other_id) == ChannelAction.SUBSCRIBE


def test_renewed_well_before_it_expires() -> None:
    expires = NOW + timedelta(hours=20)
    live = channel(["Contacts.all"], expires)
    renew_at = channel_renewal(expires)
    assert renew_at == expires - CHANNEL_RENEW_BEFORE
    assert action(["Contacts.all"], live, renew_at) == ChannelAction.SUBSCRIBE
    assert action(["Contacts.all"], live, renew_at - timedelta(seconds=1)) == ChannelAction.KEEP


def test_settling_after_start() -> None:
    assert settling(NOW, NOW + SETTLING - timedelta(seconds=1))
    assert not settling(NOW, NOW + SETTLING)


def test_a_sync_shows_the_shared_channel_without_its_module_and_token() -> None:
    shared = SharedChannel(
        module="Contacts",
        channel_id="1",
        expires_at=NOW,
        notify_url=URL,
        token_secret="crm-crmsync-notify-contacts",
        events=["Contacts.all"],
        connection="crm",
    )
    shown = as_sync_channel(shared).to_wire()
    assert shown["connection"] == "crm" and "module" not in shown
    assert shown["tokenSecret"] == "crm-crmsync-notify-contacts"


def test_secret_names_are_valid_for_custom_modules() -> None:
    assert channel_secret_name("crm", "Contacts") == "crm-crmsync-notify-contacts"
    assert channel_secret_name("crm", "Member_Records") == "crm-crmsync-notify-member-records"
