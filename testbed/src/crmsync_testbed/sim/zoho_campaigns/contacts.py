"""Contacts: subscribe (single and bulk), unsubscribe, Do-Not-Mail, list contacts.

Docs (all https://www.zoho.com/campaigns/help/developers/…):
- ``json/listsubscribe``: contact-subscribe.html — add, or update the fields of an
  existing contact; ``contactinfo`` keyed by field display names; ``source``, ``topic_id``.
- ``json/listunsubscribe``: contact-unsubscribe.html.
- ``addlistsubscribersinbulk``: add-contacts-existing-list.html — at most ten ``emailids``.
- ``addlistandcontacts``: add-new-list-contact.html — a new list and its contacts.
- ``getlistsubscribers``: get-list-subscribers.html; ``listsubscriberscount``.
- ``json/contactdonotmail``: do-not-mail.html.

Contacts exist org-wide ("all contacts"); a list membership has a status
(active / unsub / bounce / spam, or pending on a sign-up-form list until confirmed).

Behaviour the docs leave open, chosen here and documented in docs/sim-zoho-campaigns.md:
- A contact whose membership is unsub/bounce/spam, or who is in Do-Not-Mail, is **not**
  re-subscribed by listsubscribe or bulk add; their fields are still updated and the reply
  says so (``contact_status``).
- Extension parameters ``subscription_type`` (marketing | non-marketing), ``legal_basis``
  and ``consent_status`` (the v1.1 docs have none): the subscription type applies to new
  contacts only, never to existing ones; legal basis and consent status update as given.
- The plan's contact limit counts marketing contacts (non-marketing ones do not count,
  per the Zoho CRM sync help); adding a new marketing contact past it → code 2302.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.addresses import zoho_accepts
from crmsync_testbed.sim.common import json_column
from crmsync_testbed.sim.fakedata import normalise_email
from crmsync_testbed.sim.zoho_campaigns import errors
from crmsync_testbed.sim.zoho_campaigns.api import (
    ApiCall,
    add_method,
    display_time,
    page_bounds,
    sort_order,
)
from crmsync_testbed.sim.zoho_campaigns.errors import ZohoApiError, success
from crmsync_testbed.sim.zoho_campaigns.fields import EMAIL_FIELD, field_names_by_label
from crmsync_testbed.sim.zoho_campaigns.lists import create_list, require_list
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore, now_ms
from crmsync_testbed.sim.zoho_campaigns.topics import require_topics, set_topic_status

MAX_BULK_EMAILS = 10
SUBSCRIPTION_TYPES = ("marketing", "non-marketing")
LEGAL_BASES = (
    "Consent", "Legitimate Interest", "Contract", "Legal Obligation", "Vital Interest",
    "Public Interest",
)  # fmt: skip
CONSENT_STATUSES = ("Consented", "Not Consented", "Pending", "Revoked")
BLOCKED_STATUSES = ("unsub", "bounce", "spam")
LIST_STATUS_FILTERS = {
    "active": "active", "recent": "active", "mostrecent": "active", "most recent": "active",
    "unsub": "unsub", "bounce": "bounce", "spam": "spam",
}  # fmt: skip
GROUP_LOCAL_PARTS = frozenset(
    {"abuse", "postmaster", "mailer-daemon", "noreply", "no-reply", "listserv", "majordomo"}
)

SUBSCRIBED = "Contact subscribed successfully."
CONFIRMATION_SENT = (
    "A confirmation email is sent to the user. User needs to confirm to successfully subscribe."
)
UPDATED = "Contact details updated successfully."
NOT_RESUBSCRIBED = (
    "Contact details updated. The contact had unsubscribed and was not re-subscribed."
)


@dataclass(frozen=True)
class NewContactSettings:
    """What a request says about contacts beyond their fields (the extension parameters)."""

    subscription_type: str = "marketing"
    legal_basis: str | None = None
    consent_status: str | None = None
    source: str | None = None


def checked_email(raw: str) -> tuple[str, str]:
    """(email as given, trimmed; normalised key), or codes 2004 / 2005."""
    email = raw.strip()
    key = normalise_email(email)
    if key is None or not zoho_accepts(email):
        raise ZohoApiError(errors.INVALID_EMAIL, "Invalid contact email address.")
    if key.split("@", 1)[0] in GROUP_LOCAL_PARTS:
        raise ZohoApiError(errors.GROUP_EMAIL, "Group email address added.")
    return email, key


def _choice(call: ApiCall, name: str, allowed: Iterable[str]) -> str | None:
    raw = call.get(name)
    if not raw:
        return None
    match = next((value for value in allowed if value.lower() == raw.lower()), None)
    if match is None:
        raise ZohoApiError(errors.BAD_JSON, f"Invalid value for {name}: {raw}")
    return match


def new_contact_settings(call: ApiCall) -> NewContactSettings:
    return NewContactSettings(
        subscription_type=_choice(call, "subscription_type", SUBSCRIPTION_TYPES) or "marketing",
        legal_basis=_choice(call, "legal_basis", LEGAL_BASES),
        consent_status=_choice(call, "consent_status", CONSENT_STATUSES),
        source=call.get("source") or None,
    )


def marketing_contact_count(store: CampaignsStore) -> int:
    return int(store.scalar("SELECT COUNT(*) FROM contacts WHERE subscription_type = 'marketing'"))


def _check_contact_limit(store: CampaignsStore, new_marketing_contacts: int) -> None:
    limit = store.contact_limit
    if limit is None or new_marketing_contacts == 0:
        return
    if marketing_contact_count(store) + new_marketing_contacts > limit:
        raise ZohoApiError(
            errors.CONTACT_LIMIT, "You cannot add contacts as you've reached the maximum limit."
        )


def save_contacts(
    store: CampaignsStore,
    contacts: dict[str, tuple[str, dict[str, str]]],
    settings: NewContactSettings,
) -> set[str]:
    """Create or update contacts (key → (email, field values)); returns the created keys.

    New contacts get the subscription type, source and consent of ``settings``; existing
    ones keep their subscription type and source and get the given field values merged in.
    """
    keys = list(contacts)
    existing = {
        row["email_norm"]: row
        for row in store.all(
            f"SELECT * FROM contacts WHERE email_norm IN ({','.join('?' * len(keys))})", *keys
        )
    }
    created = [key for key in keys if key not in existing]
    if settings.subscription_type == "marketing":
        _check_contact_limit(store, len(created))
    stamp = now_ms()
    store.conn.executemany(
        "INSERT INTO contacts (email_norm, contact_id, email, fields, subscription_type,"
        " legal_basis, consent_status, source, created_ms, updated_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                key, store.next_id("contact"), contacts[key][0], json_column(contacts[key][1]),
                settings.subscription_type, settings.legal_basis, settings.consent_status,
                settings.source, stamp, stamp,
            )
            for key in created
        ],
    )  # fmt: skip
    for key, row in existing.items():
        merged = {**_json_fields(row), **contacts[key][1]}
        store.conn.execute(
            "UPDATE contacts SET fields = ?, legal_basis = COALESCE(?, legal_basis),"
            " consent_status = COALESCE(?, consent_status), updated_ms = ? WHERE email_norm = ?",
            (json_column(merged), settings.legal_basis, settings.consent_status, stamp, key),
        )
    return set(created)


def _json_fields(row: sqlite3.Row) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(row["fields"])
    return loaded


def join_list(store: CampaignsStore, list_row: sqlite3.Row, key: str) -> str:
    """Put a contact on a list. Returns subscribed | pending | updated | <blocked status>."""
    listkey = list_row["listkey"]
    if store.scalar("SELECT do_not_mail FROM contacts WHERE email_norm = ?", key):
        return "donotmail"
    status = store.scalar(
        "SELECT status FROM list_members WHERE listkey = ? AND email_norm = ?", listkey, key
    )
    if status in BLOCKED_STATUSES:
        return str(status)
    if status is not None:
        store.conn.execute(
            "UPDATE list_members SET updated_ms = ? WHERE listkey = ? AND email_norm = ?",
            (now_ms(), listkey, key),
        )
        return "updated"
    new_status = "pending" if list_row["is_public"] else "active"
    store.conn.execute(
        "INSERT INTO list_members (listkey, email_norm, status, added_ms, updated_ms)"
        " VALUES (?, ?, ?, ?, ?)",
        (listkey, key, new_status, now_ms(), now_ms()),
    )
    return "pending" if new_status == "pending" else "subscribed"


def _contact_info(call: ApiCall) -> tuple[str, str, dict[str, str]]:
    """(email, key, field values by field name) from ``contactinfo``; unknown keys ignored."""
    info = call.json_param("contactinfo")
    if not isinstance(info, dict):
        raise ZohoApiError(errors.BAD_JSON, "Please enter correct XML(or)JSON format.")
    labels = field_names_by_label(call.store)
    values: dict[str, str] = {}
    for label, value in info.items():
        field_name = labels.get(str(label).strip().lower())
        if field_name is not None:
            values[field_name] = "" if value is None else str(value)
    raw_email = values.pop(EMAIL_FIELD, "")
    if not raw_email:
        raise ZohoApiError(errors.MANDATORY_MISSING, "Mandatory fields are missing.")
    email, key = checked_email(raw_email)
    return email, key, values


def list_subscribe(call: ApiCall) -> dict[str, Any]:
    list_row = require_list(call.store, call.get("listkey"))
    email, key, values = _contact_info(call)
    topic_ids = require_topics(call.store, call.get("topic_id"))
    with call.store.transaction():
        save_contacts(call.store, {key: (email, values)}, new_contact_settings(call))
        outcome = join_list(call.store, list_row, key)
        if topic_ids and outcome not in (*BLOCKED_STATUSES, "donotmail"):
            set_topic_status(call.store, topic_ids, key, "active")
    messages = {"subscribed": SUBSCRIBED, "pending": CONFIRMATION_SENT, "updated": UPDATED}
    status = {"subscribed": "active", "updated": "active"}.get(outcome, outcome)
    return success(call.uri, message=messages.get(outcome, NOT_RESUBSCRIBED), contact_status=status)


def list_unsubscribe(call: ApiCall) -> dict[str, Any]:
    """Unsubscribe from the list, or — when ``topic_id`` is given — from those topics only."""
    listkey = require_list(call.store, call.get("listkey"))["listkey"]
    _, key, _ = _contact_info(call)
    topic_ids = require_topics(call.store, call.get("topic_id"))
    if call.store.one("SELECT 1 FROM contacts WHERE email_norm = ?", key) is None:
        raise ZohoApiError("2103", "Contact does not exist.")
    with call.store.transaction() as conn:
        if topic_ids:
            set_topic_status(call.store, topic_ids, key, "unsub")
        else:
            conn.execute(
                "INSERT INTO list_members (listkey, email_norm, status, added_ms, updated_ms)"
                " VALUES (?, ?, 'unsub', ?, ?) ON CONFLICT (listkey, email_norm)"
                " DO UPDATE SET status = 'unsub', updated_ms = excluded.updated_ms",
                (listkey, key, now_ms(), now_ms()),
            )
    return success(call.uri, message="User successfully unsubscribed.")


def _bulk_emails(call: ApiCall) -> dict[str, tuple[str, dict[str, str]]]:
    (raw,) = call.require("emailids")
    emails = [part for part in (item.strip() for item in raw.split(",")) if part]
    if len(emails) > MAX_BULK_EMAILS:
        raise ZohoApiError(
            errors.TOO_MANY_EMAILS, "Provide maximum of ten (10) EMAILID's comma (,) separately."
        )
    contacts: dict[str, tuple[str, dict[str, str]]] = {}
    for raw_email in emails:
        email, key = checked_email(raw_email)
        contacts.setdefault(key, (email, {}))
    return contacts


def add_emails_to_list(call: ApiCall, list_row: sqlite3.Row) -> None:
    contacts = _bulk_emails(call)
    topic_ids = require_topics(call.store, call.get("topic_id"))
    settings = new_contact_settings(call)
    with call.store.transaction():
        save_contacts(call.store, contacts, settings)
        for key in contacts:
            outcome = join_list(call.store, list_row, key)
            if topic_ids and outcome in ("subscribed", "pending", "updated"):
                set_topic_status(call.store, topic_ids, key, "active")


def add_list_subscribers_in_bulk(call: ApiCall) -> dict[str, Any]:
    list_row = require_list(call.store, call.get("listkey"))
    add_emails_to_list(call, list_row)
    return success(call.uri, listkey=list_row["listkey"], listname=list_row["listname"])


def add_list_and_contacts(call: ApiCall) -> dict[str, Any]:
    """``mode=newlist``: create the list (code 2205 if the name exists), then add emailids."""
    name, signupform, mode = call.require("listname", "signupform", "mode")
    if mode.lower() != "newlist":
        raise ZohoApiError(errors.MANDATORY_MISSING, "Mandatory fields are missing.")
    with call.store.transaction():
        listkey = create_list(
            call.store, name, call.get("listdescription"), signupform.lower() == "public"
        )
    list_row = require_list(call.store, listkey)
    if call.get("emailids"):
        add_emails_to_list(call, list_row)
    return success(call.uri, listkey=listkey, listname=name)


def _subscriber(row: sqlite3.Row) -> dict[str, Any]:
    fields = _json_fields(row)
    return {
        "contact_email": row["email"],
        "firstname": fields.get("firstname", ""),
        "lastname": fields.get("lastname", ""),
        "companyname": fields.get("companyname", ""),
        "phone": fields.get("phone", ""),
        "added_time": display_time(row["added_ms"]),
        "zuid": str(row["contact_id"]),
    }


def get_list_subscribers(call: ApiCall) -> dict[str, Any]:
    list_row = require_list(call.store, call.get("listkey"))
    requested = call.get("status", "active").lower() or "active"
    status = LIST_STATUS_FILTERS.get(requested, "active")
    direction, label = sort_order(call)
    if requested in ("recent", "mostrecent", "most recent"):
        direction, label = "DESC", "Descending Order"
    fromindex, size = page_bounds(call)
    page = (
        "SELECT email_norm, added_ms FROM list_members WHERE listkey = ? AND status = ?"
        f" ORDER BY added_ms {direction}, email_norm {direction} LIMIT ? OFFSET ?"
    )
    rows = call.store.all(
        f"SELECT c.*, p.added_ms FROM ({page}) p JOIN contacts c USING (email_norm)"
        f" ORDER BY p.added_ms {direction}, p.email_norm {direction}",
        list_row["listkey"],
        status,
        size,
        fromindex - 1,
    )
    counts = call.store.scalar(
        "SELECT COUNT(*) FROM list_members WHERE listkey = ? AND status = 'active'",
        list_row["listkey"],
    )
    return success(
        call.uri,
        sort=label,
        range=str(size),
        fromindex=str(fromindex),
        list_details={
            "ispublic": "true" if list_row["is_public"] else "false",
            "noofcontacts": str(counts),
            "listname": list_row["listname"],
        },
        list_of_details=[_subscriber(row) for row in rows],
    )


def list_subscribers_count(call: ApiCall) -> dict[str, Any]:
    list_row = require_list(call.store, call.get("listkey"))
    status = LIST_STATUS_FILTERS.get(call.get("status", "active").lower(), "active")
    count = call.store.scalar(
        "SELECT COUNT(*) FROM list_members WHERE listkey = ? AND status = ?",
        list_row["listkey"],
        status,
    )
    return success(call.uri, message="Success", status_filter=status, no_of_contacts=str(count))


def contact_do_not_mail(call: ApiCall) -> dict[str, Any]:
    """Add or move a contact to the org's Do-Not-Mail registry (code 0 if already there)."""
    email, key, values = _contact_info(call)
    row = call.store.one("SELECT do_not_mail FROM contacts WHERE email_norm = ?", key)
    if row is not None and row["do_not_mail"]:
        return success(call.uri, message="User already in Do-Not-Mail.")
    with call.store.transaction() as conn:
        save_contacts(call.store, {key: (email, values)}, NewContactSettings("non-marketing"))
        conn.execute("UPDATE contacts SET do_not_mail = 1 WHERE email_norm = ?", (key,))
    return success(call.uri, message="User successfully moved to Do-Not-Mail.")


def add_routes(app: web.Application) -> None:
    add_method(app, "json/listsubscribe", list_subscribe, http_methods=("POST",))
    add_method(app, "json/listunsubscribe", list_unsubscribe, http_methods=("POST",))
    add_method(app, "json/contactdonotmail", contact_do_not_mail, http_methods=("POST",))
    add_method(app, "addlistsubscribersinbulk", add_list_subscribers_in_bulk)
    add_method(app, "addlistandcontacts", add_list_and_contacts)
    add_method(app, "getlistsubscribers", get_list_subscribers)
    add_method(app, "listsubscriberscount", list_subscribers_count)
