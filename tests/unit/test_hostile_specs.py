"""No value of any spec field crashes a loop: hostile values, generated for every kind's
fields, are either refused by the model with an error naming the field, or the pure
engine (schedules, triggers, settings, plan, recipients, activity) gives a result or a
SpecError naming the field and a reason — never OverflowError, ValueError or a zoneinfo
error escaping from a loop."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crmsync.api import crdgen
from crmsync.api.v1alpha1 import (
    KINDS,
    Connection,
    ContactSync,
    EmailCampaign,
    FieldMapping,
    MailboxSync,
    OptOutPolicy,
    Resource,
)
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec, TriggerMode
from crmsync.api.v1alpha1.emailcampaign import EmailCampaignSpec
from crmsync.api.v1alpha1.mailboxsync import MailboxSyncSpec
from crmsync.api.v1alpha1.status import RunSummary, RunTrigger
from crmsync.engine.activity import email_campaign_pass_due, pass_due
from crmsync.engine.emailcampaign import RecipientSelector, crm_fields, recipients_hash
from crmsync.engine.mapping import check_mapping
from crmsync.engine.plan import Planner
from crmsync.engine.records import CrmField, CrmRecord
from crmsync.engine.schedule import next_run, parse_duration
from crmsync.engine.settings import SyncSettings
from crmsync.engine.specerror import SpecError
from crmsync.engine.triggers import Observed, decide
from crmsync.providers.factory import Endpoint

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)

NASTY_STRINGS = (
    "",
    " ",
    "0",
    "0s",
    "-1s",
    "1ms",
    "29s",
    "30s",
    "59m",
    "24h",
    "24h1s",
    "1h",
    "2160h",
    "2161h",
    "99999999999h",
    "99999h99999h99999h99999h",
    "1e309",
    "NaN",
    "inf",
    "Mars/Olympus",
    "../../etc/passwd",
    "/etc/localtime",
    "America",
    "leapseconds",
    "posixrules",
    "zone1970.tab",
    "Etc/GMT+5",
    "Europe/Madrid",
    "UTC",
    "2026-02-30",
    "2026-13-45",
    "2026-02-28",
    "1999-12-31",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00Z",
    "25:00",
    "23:59",
    "00:00",
    "\x00",
    "a\nb",
    "Ωμέγα",
    "x" * 300,
    "http://",
    "http:// x",
    "https://example.com/api",
    "in",
    "is_empty",
    "Leads",
    "Email",
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 1, 59, 60, 31, 32, 500, 501, 2**31, 2**63, -(2**63), 10**30]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
DELETE = object()

BASES: dict[type[Resource], dict[str, Any]] = {
    Connection: {
        "provider": "zoho-crm",
        "credentialsSecretRef": {"name": "s"},
        "dataCenter": "eu",
        "imap": {"host": "imap.example.com"},
    },
    ContactSync: {
        "crm": {
            "connectionRef": {"name": "crm"},
            "module": "Leads",
            "criteria": [{"field": "Lead_Source", "operator": "equals", "values": ["Web"]}],
            "modifiedAfter": "2026-01-01T00:00:00Z",
        },
        "target": {"connectionRef": {"name": "mc"}, "listId": "abc", "tags": ["t"]},
        "trigger": {
            "mode": "Scheduled",
            "pollInterval": "5m",
            "fullResyncInterval": "24h",
            "schedule": {
                "frequency": "Daily",
                "at": "02:00",
                "minute": 5,
                "dayOfWeek": "Monday",
                "dayOfMonth": 31,
                "date": "2026-12-24",
                "timeZone": "Europe/Madrid",
            },
        },
        "fieldMapping": [{"crmField": "First_Name", "campaignField": "FNAME"}],
        "optOutPolicy": {"consent": {"gdpr": True, "consentField": "Consent"}},
        "batchSize": 100,
        "campaignActivity": {"enabled": True, "interval": "15m", "since": "2026-01-01T00:00:00Z"},
    },
    FieldMapping: {"fields": [{"crmField": "First_Name", "campaignField": "FNAME"}]},
    OptOutPolicy: {"consent": {"gdpr": True, "updateConsentFromCrm": True, "consentField": "C"}},
    MailboxSync: {
        "mailboxRef": {"name": "box"},
        "crm": {"name": "crm"},
        "owner": "ana@example.com",
        "folders": ["INBOX"],
        "pollInterval": "60s",
        "since": "2026-01-01T00:00:00Z",
    },
    EmailCampaign: {
        "target": {"connectionRef": {"name": "zc"}, "listKey": "k"},
        "recipients": {
            "connectionRef": {"name": "crm"},
            "sources": [
                {
                    "module": "Leads",
                    "criteria": [{"field": "Tier", "operator": "in", "values": ["a", "b"]}],
                }
            ],
        },
        "subject": "Hello",
        "fromEmail": "news@example.com",
        "activity": {"interval": "15m"},
    },
}


def _spec_schema(kind: type[Resource]) -> dict[str, Any]:
    crd = crdgen.crd_for(kind)
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["spec"])


def _leaves(schema: dict[str, Any], path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every field path of a schema (list items as index 0), objects and lists included."""
    paths = [path] if path else []
    for name, sub in (schema.get("properties") or {}).items():
        paths += _leaves(sub, (*path, name))
    items = schema.get("items")
    if isinstance(items, dict):
        paths += _leaves(items, (*path, 0))
    return paths


def _enums(schema: dict[str, Any], path: tuple[Any, ...]) -> list[Any]:
    node: dict[str, Any] = schema
    for part in path:
        node = node["items"] if part == 0 else node["properties"][part]
    return list(node.get("enum") or [])


def _put(spec: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = spec
    for part, following in itertools.pairwise(path):
        empty: Any = [] if following == 0 else {}
        if part == 0:
            if not isinstance(node, list):
                return
            if not node:
                node.append(empty)
            node = node[0]
        else:
            if not isinstance(node, dict):
                return
            if not isinstance(node.get(part), dict | list):
                node[part] = empty
            node = node[part]
    last = path[-1]
    if last == 0:
        if isinstance(node, list):
            node[:1] = [] if value is DELETE else [value]
    elif isinstance(node, dict):
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value


@st.composite
def hostile_specs(draw: st.DrawFn, kind: type[Resource]) -> dict[str, Any]:
    schema = _spec_schema(kind)
    paths = _leaves(schema)
    spec = copy.deepcopy(BASES[kind])
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        enums = _enums(schema, path)
        value = draw(
            st.one_of(st.sampled_from(enums), VALUES, st.just(DELETE))
            if enums
            else st.one_of(VALUES, st.just(DELETE))
        )
        _put(spec, path, value)
    return spec


# --- the engine for each kind: a result, or SpecError -----------------------------------


def _observations() -> list[Observed]:
    ran = RunSummary(
        id="r",
        trigger=RunTrigger.POLL,
        start_time=NOW - timedelta(minutes=10),
        end_time=NOW - timedelta(minutes=9),
    )
    fresh = Observed(
        generation=1,
        synced_generation=0,
        sync_now="",
        last_handled_sync_now="",
        last_run=None,
        last_full_sync=None,
        last_scheduled_run=None,
        created=NOW - timedelta(days=1),
    )
    settled = replace(
        fresh,
        synced_generation=1,
        last_run=ran,
        last_full_sync=NOW - timedelta(hours=2),
        last_scheduled_run=NOW - timedelta(days=40),
    )
    return [
        fresh,
        settled,
        replace(settled, notified=True),
        replace(settled, retry_at=NOW + timedelta(minutes=5)),
        replace(settled, sync_now="now"),
    ]


def _contactsync_engine(spec: ContactSyncSpec) -> None:
    for provider in ("mailchimp", "zoho-campaigns"):
        settings_ = SyncSettings.resolve(
            spec, mapping=None, policy=None, target_provider=provider, contact_limit=10
        )
        planner = Planner(settings_, observed={}, full=True, now=NOW)
        values: dict[str, Any] = {c.field: (c.values or ["x"])[0] for c in settings_.criteria}
        values[settings_.email_field] = "Ana@Example.com "
        planner.plan_records([CrmRecord("1", NOW, values), CrmRecord("2", NOW, {})])
        planner.finish()
    for seen in _observations():
        decision = decide(spec, seen, NOW)
        assert decision.trigger is not None or decision.next_check is not None
    if spec.trigger.mode == TriggerMode.SCHEDULED and spec.trigger.schedule is not None:
        for after in (NOW, NOW - timedelta(days=400), datetime(2199, 12, 31, tzinfo=UTC)):
            due = next_run(spec.trigger.schedule, after)
            assert due is None or due > after
    assert parse_duration(spec.trigger.poll_interval) >= timedelta(seconds=30)
    assert parse_duration(spec.trigger.full_resync_interval) >= timedelta(hours=1)
    pass_due(spec.campaign_activity, "Poll", NOW - timedelta(hours=1), NOW)


def _mailbox_engine(spec: MailboxSyncSpec) -> None:
    assert parse_duration(spec.poll_interval) >= timedelta(seconds=30)
    assert spec.folders and spec.modules
    if spec.since is not None:
        assert spec.since.tzinfo is not None and spec.since <= datetime(2200, 1, 1, tzinfo=UTC)


def _emailcampaign_engine(spec: EmailCampaignSpec) -> None:
    recipients_hash(spec)
    selector = RecipientSelector(opt_out_field=spec.recipients.opt_out_field)
    for source in spec.recipients.sources:
        crm_fields(spec, source.module)
        values = {c.field: (c.values or ["x"])[0] for c in source.criteria or []}
        selector.add(
            source.module,
            source.criteria or [],
            [CrmRecord("1", NOW, {**values, "Email": "a@example.com"})],
        )
    selector.finish()
    email_campaign_pass_due(
        spec.activity, NOW - timedelta(days=1), NOW - timedelta(hours=1), NOW,
        requested=False, periodic=True,
    )  # fmt: skip


def _engine(resource: Resource) -> None:
    spec: Any = resource.spec  # type: ignore[attr-defined]
    if isinstance(resource, ContactSync):
        _contactsync_engine(spec)
    elif isinstance(resource, MailboxSync):
        _mailbox_engine(spec)
    elif isinstance(resource, EmailCampaign):
        _emailcampaign_engine(spec)
    elif isinstance(resource, Connection):
        Endpoint.from_connection(spec, {"apiKey": "k-us1"})
    elif isinstance(resource, FieldMapping):
        check_mapping(tuple(spec.fields), [CrmField("First_Name", "text")], {})
    elif isinstance(resource, OptOutPolicy):
        base = ContactSync.model_validate({"spec": BASES[ContactSync]}).spec
        SyncSettings.resolve(base, mapping=None, policy=spec, target_provider="mailchimp")


def refused_or_carried_out(kind: type[Resource], spec: dict[str, Any]) -> str:
    """ "refused" (the model said which field and why), "error" (SpecError), or "ok"."""
    try:
        resource = kind.model_validate({"spec": spec})
    except ValidationError as exc:
        for error in exc.errors():
            assert error["loc"] and error["msg"], error
        return "refused"
    try:
        _engine(resource)
    except SpecError as exc:
        error = exc
    else:
        return "ok"
    assert error.field.startswith("spec.") and error.reason.isalnum() and error.message
    return "error"


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind_info.kind for k in KINDS])
def test_every_base_spec_is_carried_out(kind: type[Resource]) -> None:
    assert refused_or_carried_out(kind, copy.deepcopy(BASES[kind])) == "ok"


def _hostile_test(kind: type[Resource]) -> Callable[[dict[str, Any]], None]:
    @SETTINGS
    @given(hostile_specs(kind))
    def check(spec: dict[str, Any]) -> None:
        refused_or_carried_out(kind, spec)

    return check


test_hostile_connection = _hostile_test(Connection)
test_hostile_fieldmapping = _hostile_test(FieldMapping)
test_hostile_optoutpolicy = _hostile_test(OptOutPolicy)
test_hostile_mailboxsync = _hostile_test(MailboxSync)
test_hostile_emailcampaign = _hostile_test(EmailCampaign)


@SETTINGS
@given(hostile_specs(ContactSync))
@example({**BASES[ContactSync], "trigger": {"mode": "Scheduled", "schedule": {"frequency": "Daily", "at": "02:00", "timeZone": "Mars/Olympus"}}})  # fmt: skip
@example({**BASES[ContactSync], "trigger": {"mode": "Scheduled", "schedule": {"frequency": "Once", "at": "02:00", "date": "2026-02-30"}}})  # fmt: skip
@example({**BASES[ContactSync], "trigger": {"pollInterval": "99999999999h"}})
def test_hostile_contactsync(spec: dict[str, Any]) -> None:
    refused_or_carried_out(ContactSync, spec)


def _contactsync(**trigger: Any) -> dict[str, Any]:
    return {**BASES[ContactSync], "trigger": trigger}


def _daily(**schedule: Any) -> dict[str, Any]:
    return _contactsync(
        mode="Scheduled", schedule={"frequency": "Daily", "at": "02:00", **schedule}
    )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (_daily(timeZone="../../etc/passwd"), "timeZone"),
        (_contactsync(mode="Scheduled", schedule={"frequency": "Once", "at": "02:00", "date": "2026-02-30"}), "date"),
        (_contactsync(mode="Scheduled", schedule={"frequency": "Once", "at": "02:00", "date": "2026-13-45"}), "date"),
        (_contactsync(pollInterval="99999999999h"), "pollInterval"),
        (_contactsync(pollInterval="0s"), "pollInterval"),
        (_contactsync(fullResyncInterval="0s"), "fullResyncInterval"),
        (_contactsync(fullResyncInterval="59m"), "fullResyncInterval"),
    ],
)  # fmt: skip
def test_the_issues_examples_are_refused_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ContactSync.model_validate({"spec": spec})
    assert field in str(refused.value.errors()[0]["loc"])


def test_an_unknown_time_zone_is_a_reasoned_error_naming_the_field() -> None:
    spec = ContactSync.model_validate({"spec": _daily(timeZone="Mars/Olympus")}).spec
    with pytest.raises(SpecError) as error:
        decide(spec, _observations()[1], NOW)
    assert error.value.reason == "UnknownTimeZone"
    assert error.value.field == "spec.trigger.schedule.timeZone"
    assert "Mars/Olympus" in error.value.message


def test_a_mailboxsync_without_folders_gets_the_documented_defaults_in_the_schema() -> None:
    spec = _spec_schema(MailboxSync)
    assert spec["properties"]["folders"]["default"] == ["INBOX", "Sent"]
    assert spec["properties"]["modules"]["default"] == ["Leads", "Contacts", "Deals"]
