"""Test hooks under ``/_admin/mailchimp``: what people and Mailchimp itself do to a list.

``POST /_admin/mailchimp/lists/{list_id}/events`` with
``{"type": "subscribe"|"unsubscribe"|"cleaned"|"profile"|"upemail", "email": ...,
"source": "user"|"admin", "reason": ..., "merge_fields": {...}, "new_email": ...}``
applies the change as if made in Mailchimp (a signup form, an unsubscribe link, the web
app, a bounce) and fires the webhooks registered for that ``source``.
"""

from __future__ import annotations

from crmsync_testbed.sim.mailchimp import errors, rest
from crmsync_testbed.sim.mailchimp.lookups import find_member, member_hash, require_list
from crmsync_testbed.sim.mailchimp.member_view import ListContext, render_member
from crmsync_testbed.sim.mailchimp.members import MemberWriter

EVENT_SOURCES = ("user", "admin")
DEFAULT_REASONS = {"unsubscribe": "N/A (Unsubscribed by the contact)", "cleaned": "hard"}


def member_event(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    body = call.object_body()
    rest.require(body, "type", "email")
    rest.require_enum(body, "type", ("subscribe", "unsubscribe", "cleaned", "profile", "upemail"))
    rest.require_enum(body, "source", EVENT_SOURCES)
    writer = MemberWriter(
        call.db, ListContext.load(call.db, list_id), call.events, source=body.get("source", "user")
    )
    event_type = str(body["type"])
    row = find_member(call.db, list_id, member_hash(str(body["email"])))
    if row is None or row["status"] == "archived":
        if event_type != "subscribe":
            raise errors.not_found()
        row = writer.add(
            {"email_address": body["email"], "merge_fields": body.get("merge_fields")}, "subscribed"
        )
        return rest.Reply(render_member(call.db, row))
    reason = str(body.get("reason") or DEFAULT_REASONS.get(event_type, ""))
    if event_type == "subscribe":
        row = writer.set_status_as(row, "subscribed", reason)
    elif event_type == "unsubscribe":
        row = writer.set_status_as(row, "unsubscribed", reason)
    elif event_type == "cleaned":
        row = writer.set_status_as(row, "cleaned", reason)
    elif event_type == "profile":
        row = writer.update(row, {"merge_fields": body.get("merge_fields", {})}, None)
    else:
        rest.require(body, "new_email")
        row = writer.update(row, {"email_address": body["new_email"]}, None)
    return rest.Reply(render_member(call.db, row))
