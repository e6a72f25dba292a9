"""List members: identity, status rules, upsert, archive and permanent delete.

The status rules follow Mailchimp's documented behaviour (spec ``putListsIdMembersId``):
``status_if_new`` applies only when the address is not on the list; ``status`` changes an
existing member. Two refusals real users hit are reproduced: an address deleted
permanently cannot be added again ("Forgotten Email Not Subscribed"), and a member who
unsubscribed themselves or was cleaned cannot be set back to ``subscribed`` through the API
("Member In Compliance State"; ``pending``, which asks the person to confirm, is allowed).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from crmsync_testbed.sim.addresses import mailchimp_accepts
from crmsync_testbed.sim.mailchimp import errors, mergefields, rest, tagging
from crmsync_testbed.sim.mailchimp.lookups import (
    find_member,
    member_hash,
    require_list,
    require_member,
)
from crmsync_testbed.sim.mailchimp.member_view import (
    ListContext,
    render_member,
    render_members,
    webhook_data,
)
from crmsync_testbed.sim.mailchimp.store import (
    dump,
    load,
    new_hex_id,
    new_web_id,
    normalise_timestamp,
    now_iso,
    subscriber_hash,
)
from crmsync_testbed.sim.mailchimp.timefilters import time_clauses, timestamp_param

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
PATCH_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending")
LISTABLE_STATUSES = (*STATUSES, "archived")
FAKE_DOMAINS = frozenset(
    {"mailinator.com", "yopmail.com", "trash-mail.com", "guerrillamail.com", "10minutemail.com"}
)
"""Disposable-mail domains Mailchimp refuses as "fake"; ``example.*`` stays allowed because
the shared fake-data generator uses it for every seeded person."""
ROLE_LOCAL_PARTS = frozenset({"abuse", "postmaster", "noreply", "no-reply", "mailer-daemon"})
API_UNSUBSCRIBE_REASON = "N/A (Unsubscribed by an admin)"
PLAIN_FIELDS = (
    "email_type",
    "language",
    "vip",
    "location",
    "marketing_permissions",
    "ip_signup",
    "ip_opt",
)


def check_email(raw: Any) -> str:
    """The address as stored (trimmed), or the error Mailchimp gives for it."""
    if not isinstance(raw, str) or not mailchimp_accepts(raw.strip()):
        raise errors.invalid_email()
    email = raw.strip()
    local, _, domain = email.lower().rpartition("@")
    if domain in FAKE_DOMAINS or local in ROLE_LOCAL_PARTS:
        raise errors.fake_email(email)
    return email


def is_forgotten(db: sqlite3.Connection, list_id: str, hash_: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM forgotten_emails WHERE list_id = ? AND hash = ?", (list_id, hash_)
    ).fetchone()
    return row is not None


@dataclass
class MemberWriter:
    """Applies member changes to one list and records the webhook events they cause."""

    db: sqlite3.Connection
    context: ListContext
    events: list[rest.Event]
    source: str = "api"
    skip_merge_validation: bool = False
    _changed: list[str] = field(default_factory=list)
    _has_webhooks: bool | None = None

    @classmethod
    def for_call(cls, call: rest.Call, list_id: str) -> MemberWriter:
        require_list(call.db, list_id)
        return cls(
            call.db,
            ListContext.load(call.db, list_id),
            call.events,
            skip_merge_validation=call.flag("skip_merge_validation"),
        )

    @property
    def list_id(self) -> str:
        return self.context.list_id

    # -- public operations ------------------------------------------------------------

    def add(self, body: dict[str, Any], status: Any, tags: Any = ()) -> sqlite3.Row:
        """A new member, or an archived one brought back; never an existing active one."""
        email = check_email(body.get("email_address"))
        existing = find_member(self.db, self.list_id, subscriber_hash(email))
        return self.add_over(existing, body, status, tags)

    def add_over(
        self, existing: sqlite3.Row | None, body: dict[str, Any], status: Any, tags: Any = ()
    ) -> sqlite3.Row:
        """``add`` when the caller has already looked the address up (``existing``)."""
        email = check_email(body.get("email_address"))
        rest.require_enum({"status": status}, "status", STATUSES)
        if status is None:
            raise errors.missing_fields("status")
        hash_ = subscriber_hash(email)
        if existing is not None and existing["status"] != "archived":
            raise errors.member_exists(email)
        if is_forgotten(self.db, self.list_id, hash_):
            raise errors.forgotten_email(email)
        if existing is not None and existing["compliance_locked"] and status == "subscribed":
            raise errors.compliance_state(email)
        doc = self._document({}, body, check_required=True)
        stamp = now_iso()
        opted_in = status == "subscribed"
        doc["source"] = "API - Generic"
        doc["contact_id"] = new_hex_id(32)
        if status == "unsubscribed":
            doc["unsubscribe_reason"] = API_UNSUBSCRIBE_REASON
        row_values = {
            "email": email,
            "status": status,
            "timestamp_signup": self._stamp(body, "timestamp_signup", ""),
            "timestamp_opt": self._stamp(body, "timestamp_opt", stamp if opted_in else ""),
            "last_changed": stamp,
            "doc": dump(doc),
        }
        row: sqlite3.Row
        if existing is None:
            row = self.db.execute(
                "INSERT INTO members (list_id, hash, email, status, unique_email_id, web_id,"
                " timestamp_signup, timestamp_opt, last_changed, compliance_locked, doc)"
                " VALUES (:list_id, :hash, :email, :status, :unique_email_id, :web_id,"
                " :timestamp_signup, :timestamp_opt, :last_changed, :locked, :doc) RETURNING *",
                {
                    **row_values,
                    "list_id": self.list_id,
                    "hash": hash_,
                    "unique_email_id": new_hex_id(),
                    "web_id": new_web_id(),
                    "locked": int(status == "cleaned"),
                },
            ).fetchall()[0]
        else:
            self._store(hash_, row_values)
            row = self._reload(hash_)
        if isinstance(tags, list) and tags:
            tagging.set_member_tags(self.db, self.list_id, hash_, map(str, tags), ())
        if opted_in:
            self._emit("subscribe", row)
        elif status in ("unsubscribed", "cleaned"):
            self._emit_status_event(row, status)
        return row

    def update(self, row: sqlite3.Row, body: dict[str, Any], status: Any) -> sqlite3.Row:
        """Change an existing member; ``status`` None keeps the current one."""
        hash_ = row["hash"]
        new_email = self._changed_email(row, body)
        if status == "subscribed" and row["status"] != "subscribed" and row["compliance_locked"]:
            raise errors.compliance_state(row["email"])
        old_doc = load(row["doc"])
        doc = self._document(old_doc, body, check_required=False)
        profile_changed = doc != old_doc
        status_changed = status is not None and status != row["status"]
        values: dict[str, Any] = {}
        if status_changed:
            values = self._status_values(body, str(status), doc)
        values["doc"] = dump(doc)
        if new_email is not None:
            values["email"] = new_email
            values["hash"] = subscriber_hash(new_email)
            self.db.execute(
                "UPDATE segment_members SET hash = ? WHERE list_id = ? AND hash = ?",
                (values["hash"], self.list_id, hash_),
            )
        if status_changed or new_email is not None or profile_changed:
            values["last_changed"] = now_iso()
        self._store(hash_, values)
        updated = self._reload(values.get("hash", hash_))
        if new_email is not None:
            self._emit_email_change(row, updated)
        if status_changed:
            self._emit_status_event(updated, str(status))
        elif profile_changed and updated["status"] == "subscribed":
            self._emit("profile", updated)
        return updated

    def _changed_email(self, row: sqlite3.Row, body: dict[str, Any]) -> str | None:
        """The new address if ``body`` changes it (checked and free on this list)."""
        given = body.get("email_address")
        if not given:
            return None
        email = check_email(given)
        if subscriber_hash(email) == row["hash"]:
            return None  # same address, perhaps cased differently: identity is unchanged
        if find_member(self.db, self.list_id, subscriber_hash(email)):
            raise errors.member_exists(email)
        return email

    def _status_values(
        self, body: dict[str, Any], status: str, doc: dict[str, Any]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {"status": status}
        if status == "subscribed":
            values["timestamp_opt"] = self._stamp(body, "timestamp_opt", now_iso())
        elif status == "unsubscribed":
            doc["unsubscribe_reason"] = API_UNSUBSCRIBE_REASON
        elif status == "cleaned":
            values["compliance_locked"] = 1
        return values

    def upsert(self, hash_: str, body: dict[str, Any]) -> sqlite3.Row:
        row = find_member(self.db, self.list_id, hash_)
        rest.require_enum(body, "status", STATUSES)
        rest.require_enum(body, "status_if_new", STATUSES)
        if row is None or row["status"] == "archived":
            if not body.get("email_address"):
                raise errors.missing_fields("email_address")
            if subscriber_hash(str(body["email_address"])) != hash_:
                raise errors.invalid_resource(
                    "The subscriber hash in the URL does not match the email_address provided."
                )
            status = body.get("status_if_new") or body.get("status")
            if status is None:
                raise errors.missing_fields("status_if_new")
            return self.add_over(row, body, status)
        return self.update(row, body, body.get("status"))

    def archive(self, row: sqlite3.Row) -> None:
        if row["status"] == "archived":
            return
        self._store(row["hash"], {"status": "archived", "last_changed": now_iso()})
        self._emit("unsubscribe", row, action="delete", reason="manual")

    def delete_permanently(self, row: sqlite3.Row) -> None:
        if row["status"] != "archived":
            self._emit("unsubscribe", row, action="delete", reason="manual")
        self.db.execute(
            "DELETE FROM members WHERE list_id = ? AND hash = ?", (self.list_id, row["hash"])
        )
        tagging.forget_member(self.db, self.list_id, row["hash"])
        self.db.execute(
            "DELETE FROM campaign_activity WHERE list_id = ? AND hash = ?",
            (self.list_id, row["hash"]),
        )
        self.db.execute(
            "INSERT OR IGNORE INTO forgotten_emails (list_id, hash) VALUES (?, ?)",
            (self.list_id, row["hash"]),
        )

    def set_status_as(
        self, row: sqlite3.Row, status: str, reason: str, campaign_id: str = ""
    ) -> sqlite3.Row:
        """A change made outside the API (the person, an admin, a bounce): may lock the member."""
        doc = load(row["doc"])
        if status == "subscribed":
            locked = 0  # the person opted in again themselves
        else:
            newly_locked = status == "cleaned" or (
                status == "unsubscribed" and self.source == "user"
            )
            locked = int(newly_locked or row["compliance_locked"])
        if status == "unsubscribed":
            doc["unsubscribe_reason"] = reason
        values: dict[str, Any] = {
            "status": status,
            "last_changed": now_iso(),
            "compliance_locked": locked,
            "doc": dump(doc),
        }
        if status == "subscribed":
            values["timestamp_opt"] = values["last_changed"]
        self._store(row["hash"], values)
        updated = self._reload(row["hash"])
        self._emit_status_event(updated, status, reason=reason, campaign_id=campaign_id)
        return updated

    # -- helpers -------------------------------------------------------------------------

    def _document(
        self, current: dict[str, Any], body: dict[str, Any], *, check_required: bool
    ) -> dict[str, Any]:
        doc = dict(current)
        for key in PLAIN_FIELDS:
            if key in body:
                doc[key] = body[key]
        if "email_type" in doc and doc["email_type"] not in ("html", "text"):
            raise errors.field_errors(
                [{"field": "email_type", "message": "Value must be one of: html, text"}]
            )
        doc["merge_fields"] = mergefields.validate_values(
            self.context.merge_fields,
            current.get("merge_fields", {}),
            body.get("merge_fields"),
            check_required=check_required and not self.skip_merge_validation,
        )
        if "interests" in body:
            doc["interests"] = {
                **current.get("interests", {}),
                **self._interests(body["interests"]),
            }
        return doc

    def _interests(self, given: Any) -> dict[str, bool]:
        if not isinstance(given, dict):
            raise errors.field_errors(
                [{"field": "interests", "message": "Schema describes object"}]
            )
        unknown = [key for key in given if key not in self.context.interest_ids]
        if unknown:
            raise errors.invalid_resource(f"Invalid interest ID: '{unknown[0]}'.")
        return {key: bool(value) for key, value in given.items()}

    @staticmethod
    def _stamp(body: dict[str, Any], key: str, default: str) -> str:
        if not body.get(key):
            return default
        try:
            return normalise_timestamp(str(body[key]))
        except ValueError as exc:
            raise errors.field_errors([{"field": key, "message": "Invalid date-time"}]) from exc

    def _store(self, hash_: str, values: dict[str, Any]) -> None:
        columns = ", ".join(f"{name} = :{name}" for name in values)
        self.db.execute(
            f"UPDATE members SET {columns} WHERE list_id = :where_list AND hash = :where_hash",
            {**values, "where_list": self.list_id, "where_hash": hash_},
        )

    def _reload(self, hash_: str) -> sqlite3.Row:
        row = find_member(self.db, self.list_id, hash_)
        assert row is not None
        return row

    def _hooked(self) -> bool:
        """The list has a webhook (its events are worth building); asked once a writer."""
        if self._has_webhooks is None:
            found = self.db.execute(
                "SELECT 1 FROM webhooks WHERE list_id = ? LIMIT 1", (self.list_id,)
            ).fetchone()
            self._has_webhooks = found is not None
        return self._has_webhooks

    def _emit(self, event_type: str, row: sqlite3.Row, **extra: Any) -> None:
        if not self._hooked():
            return
        data = {**webhook_data(self.db, row), **extra}
        self.events.append(rest.Event(event_type, self.list_id, self.source, data))

    def _emit_status_event(
        self, row: sqlite3.Row, status: str, reason: str = "", campaign_id: str = ""
    ) -> None:
        if status == "subscribed":
            self._emit("subscribe", row)
        elif status == "unsubscribed":
            self._emit(
                "unsubscribe",
                row,
                action="unsub",
                reason=reason or "manual",
                campaign_id=campaign_id,
            )
        elif status == "cleaned":
            self._emit("cleaned", row, reason=reason or "hard", campaign_id=campaign_id)

    def _emit_email_change(self, old: sqlite3.Row, new: sqlite3.Row) -> None:
        if not self._hooked():
            return
        data = {
            "list_id": self.list_id,
            "new_id": new["unique_email_id"],
            "new_email": new["email"],
            "old_email": old["email"],
        }
        self.events.append(rest.Event("upemail", self.list_id, self.source, data))


# --- endpoints ------------------------------------------------------------------------------

SORT_COLUMNS = {
    "timestamp_opt": "timestamp_opt",
    "timestamp_signup": "timestamp_signup",
    "last_changed": "last_changed",
}
TIME_FILTERS = (
    ("since_last_changed", "last_changed >= ?"),
    ("before_last_changed", "last_changed <= ?"),
    ("since_timestamp_opt", "timestamp_opt >= ?"),
    ("before_timestamp_opt", "timestamp_opt <= ?"),
)


def _member_filter(call: rest.Call, list_id: str) -> tuple[str, list[Any]]:
    clauses, args = ["list_id = ?"], [list_id]
    status = call.query.get("status")
    if status:
        rest.require_enum({"status": status}, "status", LISTABLE_STATUSES)
        clauses.append("status = ?")
        args.append(status)
    else:
        clauses.append("status != 'archived'")
    time_where, time_args = time_clauses(call, TIME_FILTERS)
    clauses += time_where
    args += time_args
    if call.query.get("unsubscribed_since"):
        clauses.append("status = 'unsubscribed' AND last_changed >= ?")
        args.append(timestamp_param(call, "unsubscribed_since"))
    if call.query.get("unique_email_id"):
        clauses.append("unique_email_id = ?")
        args.append(call.query["unique_email_id"])
    if call.query.get("email_type"):
        clauses.append("json_extract(doc, '$.email_type') = ?")
        args.append(call.query["email_type"])
    if call.flag("vip_only"):
        clauses.append("json_extract(doc, '$.vip') = 1")
    return " AND ".join(clauses), args


def list_members(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    page = rest.Page.of(call)
    where, args = _member_filter(call, list_id)
    order = "rowid"
    if call.query.get("sort_field") in SORT_COLUMNS:
        direction = "DESC" if call.query.get("sort_dir") == "DESC" else "ASC"
        order = f"{SORT_COLUMNS[call.query['sort_field']]} {direction}, rowid"
    rows = call.db.execute(
        f"SELECT * FROM members WHERE {where} ORDER BY {order}{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*) FROM members WHERE {where}", args).fetchone()[0]
    items = render_members(call.db, ListContext.load(call.db, list_id), rows)
    return rest.Reply(rest.collection("members", items, total, list_id=list_id))


def create_member(call: rest.Call) -> rest.Reply:
    body = call.object_body()
    writer = MemberWriter.for_call(call, call.params["list_id"])
    row = writer.add(body, body.get("status"), body.get("tags", ()))
    return rest.Reply(render_member(call.db, row))


def get_member(call: rest.Call) -> rest.Reply:
    return rest.Reply(
        render_member(
            call.db, require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
        )
    )


def upsert_member(call: rest.Call) -> rest.Reply:
    writer = MemberWriter.for_call(call, call.params["list_id"])
    row = writer.upsert(member_hash(call.params["subscriber_hash"]), call.object_body())
    return rest.Reply(render_member(call.db, row))


def update_member(call: rest.Call) -> rest.Reply:
    body = call.object_body()
    rest.require_enum(body, "status", PATCH_STATUSES)
    row = require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
    writer = MemberWriter.for_call(call, call.params["list_id"])
    return rest.Reply(render_member(call.db, writer.update(row, body, body.get("status"))))


def archive_member(call: rest.Call) -> rest.Reply:
    row = require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
    MemberWriter.for_call(call, call.params["list_id"]).archive(row)
    return rest.no_content()


def delete_member_permanently(call: rest.Call) -> rest.Reply:
    row = require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
    MemberWriter.for_call(call, call.params["list_id"]).delete_permanently(row)
    return rest.no_content()


MEMBER = "/lists/{list_id}/members/{subscriber_hash}"
ROUTES = [
    rest.get("/lists/{list_id}/members", list_members),
    rest.post("/lists/{list_id}/members", create_member),
    rest.get(MEMBER, get_member),
    rest.put(MEMBER, upsert_member),
    rest.patch(MEMBER, update_member),
    rest.delete(MEMBER, archive_member),
    rest.post(f"{MEMBER}/actions/delete-permanent", delete_member_permanently),
]
