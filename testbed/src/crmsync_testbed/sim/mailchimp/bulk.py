"""Batch subscribe (``POST /lists/{list_id}``): up to 500 members, partial failure in a 200.

Each member is applied on its own savepoint, so one bad address never undoes the others;
its failure is reported in ``errors`` with the spec's ``error_code`` values.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from crmsync_testbed.sim.mailchimp import errors, rest, tagging
from crmsync_testbed.sim.mailchimp.member_view import render_members
from crmsync_testbed.sim.mailchimp.members import PATCH_STATUSES, MemberWriter
from crmsync_testbed.sim.mailchimp.store import subscriber_hash

MAX_MEMBERS = 500
CONTACT_EXISTS = "ERROR_CONTACT_EXISTS"
GENERIC = "ERROR_GENERIC"


def batch_subscribe(call: rest.Call) -> rest.Reply:
    body = call.object_body()
    members = body.get("members")
    if not isinstance(members, list):
        raise errors.missing_fields("members")
    if len(members) > MAX_MEMBERS:
        raise errors.field_errors(
            [{"field": "members", "message": f"Array must contain at most {MAX_MEMBERS} items"}]
        )
    writer = MemberWriter.for_call(call, call.params["list_id"])
    update_existing = bool(body.get("update_existing", False))
    sync_tags = bool(body.get("sync_tags", False))
    known = _members_named(call.db, writer.list_id, members)
    created: list[sqlite3.Row] = []
    updated: list[sqlite3.Row] = []
    failures: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in members:
        email = str(item.get("email_address", "")) if isinstance(item, dict) else ""
        try:
            if not isinstance(item, dict):
                raise errors.invalid_email()
            hash_ = subscriber_hash(email)
            if hash_ in seen and not call.flag("skip_duplicate_check"):
                raise errors.invalid_resource(f"{email.strip()} is a duplicate in this request.")
            seen.add(hash_)
            rest.require_enum(item, "status", PATCH_STATUSES)
            call.db.execute("SAVEPOINT member")
            try:
                outcome = _apply(writer, item, known.get(hash_), update_existing, sync_tags)
            except BaseException:
                call.db.execute("ROLLBACK TO member")
                raise
            finally:
                call.db.execute("RELEASE member")
        except errors.ApiError as exc:
            failures.append(_failure(email, exc))
            continue
        known[hash_] = outcome[1]
        (created if outcome[0] else updated).append(outcome[1])
    context = writer.context
    return rest.Reply(
        {
            "new_members": render_members(call.db, context, created),
            "updated_members": render_members(call.db, context, updated),
            "errors": failures,
            "total_created": len(created),
            "total_updated": len(updated),
            "error_count": len(failures),
            "_links": [],
        }
    )


def _members_named(
    db: sqlite3.Connection, list_id: str, members: list[Any]
) -> dict[str, sqlite3.Row]:
    """The list's members the batch names, by hash, read in one query (not one per item)."""
    hashes = [
        subscriber_hash(str(item.get("email_address", "")))
        for item in members
        if isinstance(item, dict)
    ]
    rows = db.execute(
        "SELECT * FROM members WHERE list_id = ? AND hash IN (SELECT value FROM json_each(?))",
        (list_id, json.dumps(hashes)),
    )
    return {row["hash"]: row for row in rows}


def _apply(
    writer: MemberWriter,
    item: dict[str, Any],
    existing: sqlite3.Row | None,
    update_existing: bool,
    sync_tags: bool,
) -> tuple[bool, sqlite3.Row]:
    """``(created, row)`` for one batch item, given its member as it stands (or None)."""
    if existing is not None and existing["status"] != "archived":
        if not update_existing:
            raise errors.ApiError(
                400,
                "Member Exists",
                f"{existing['email']} is already a list member, do you want to update? "
                "please provide update_existing:true in the request body",
            )
        row = writer.update(existing, item, item.get("status"))
        if sync_tags and isinstance(item.get("tags"), list):
            _sync_tags(writer, row["hash"], [str(tag) for tag in item["tags"]])
        return False, row
    return True, writer.add_over(existing, item, item.get("status"), item.get("tags", ()))


def _sync_tags(writer: MemberWriter, hash_: str, wanted: list[str]) -> None:
    current = {
        tag["name"] for tag in tagging.tags_by_member(writer.db, writer.list_id, [hash_])[hash_]
    }
    tagging.set_member_tags(writer.db, writer.list_id, hash_, wanted, current - set(wanted))


def _failure(email: str, exc: errors.ApiError) -> dict[str, Any]:
    code = CONTACT_EXISTS if exc.title == "Member Exists" else GENERIC
    details = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors or [] if e.get("field"))
    message = f"{exc.detail} {details}" if details else exc.detail
    return {"email_address": email.strip(), "error": message, "error_code": code}
