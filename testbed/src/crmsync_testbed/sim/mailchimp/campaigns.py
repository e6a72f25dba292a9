"""Campaigns: create, list, read, update, delete, content, and ``actions/send``.

Sending is instantaneous: every subscribed member of the audience (or of the chosen static
segment) gets a ``sent`` activity row, which reports and the activity simulator build on.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from crmsync_testbed.sim.mailchimp import activity, errors, rest
from crmsync_testbed.sim.mailchimp.lookups import require_list, require_row
from crmsync_testbed.sim.mailchimp.store import dump, load, new_hex_id, new_web_id, now_iso
from crmsync_testbed.sim.mailchimp.timefilters import TimeFilter, time_clauses
from crmsync_testbed.sim.mailchimp.webhooks import UNSOURCED

TYPES = ("regular", "plaintext", "absplit", "rss", "variate")
STATUSES = ("save", "paused", "schedule", "sending", "sent", "canceled", "canceling", "archived")
SENDABLE = ("save", "paused")
READY_FIELDS = ("subject_line", "from_name", "reply_to")
DEFAULT_SETTINGS: dict[str, Any] = {
    "subject_line": "",
    "preview_text": "",
    "title": "",
    "from_name": "",
    "reply_to": "",
    "use_conversation": False,
    "to_name": "",
    "folder_id": "",
    "authenticate": True,
    "auto_footer": False,
    "inline_css": False,
    "auto_tweet": False,
    "fb_comments": True,
    "timewarp": False,
    "template_id": 0,
    "drag_and_drop": False,
}
DEFAULT_TRACKING: dict[str, Any] = {
    "opens": True,
    "html_clicks": True,
    "text_clicks": False,
    "goal_tracking": False,
    "ecomm360": False,
    "google_analytics": "",
    "clicktale": "",
}
SEND_TIME_FILTERS: tuple[TimeFilter, ...] = (
    ("since_send_time", "json_extract(doc, '$.send_time') >= ?"),
    ("before_send_time", "json_extract(doc, '$.send_time') <= ?"),
)
TIME_FILTERS: tuple[TimeFilter, ...] = (
    *SEND_TIME_FILTERS,
    ("since_create_time", "create_time >= ?"),
    ("before_create_time", "create_time <= ?"),
)
FILTERS = (
    ("status", "json_extract(doc, '$.status') = ?"),
    ("type", "json_extract(doc, '$.type') = ?"),
    ("list_id", "json_extract(doc, '$.recipients.list_id') = ?"),
)


def require_campaign(db: sqlite3.Connection, campaign_id: str) -> sqlite3.Row:
    return require_row(db, "SELECT * FROM campaigns WHERE id = ?", (campaign_id,))


def list_name(db: sqlite3.Connection, list_id: str) -> tuple[str, bool]:
    row = db.execute(
        "SELECT json_extract(doc, '$.name') FROM lists WHERE id = ?", (list_id,)
    ).fetchone()
    return ("", False) if row is None else (str(row[0]), True)


def render(db: sqlite3.Connection, row: sqlite3.Row, base_url: str) -> dict[str, Any]:
    doc = load(row["doc"])
    name, active = list_name(db, doc["recipients"]["list_id"])
    campaign: dict[str, Any] = {
        "id": row["id"],
        "web_id": row["web_id"],
        "type": doc["type"],
        "create_time": row["create_time"],
        "archive_url": f"{base_url}/campaign-archive/{row['id']}",
        "long_archive_url": f"{base_url}/campaign-archive/{row['id']}?full=1",
        "status": doc["status"],
        "emails_sent": doc.get("emails_sent", 0),
        "send_time": doc.get("send_time", ""),
        "content_type": "template",
        "needs_block_refresh": False,
        "resendable": False,
        "recipients": {
            **doc["recipients"],
            "list_is_active": active,
            "list_name": name,
            "segment_text": "",
            "recipient_count": doc.get("emails_sent", 0),
        },
        "settings": doc["settings"],
        "tracking": doc["tracking"],
        "delivery_status": {"enabled": False},
        "_links": [],
    }
    if doc["status"] == "sent":
        campaign["report_summary"] = activity.summary(db, row["id"], doc.get("emails_sent", 0))
    return campaign


def _recipients(db: sqlite3.Connection, given: Any) -> dict[str, Any]:
    if not isinstance(given, dict) or not given.get("list_id"):
        raise errors.missing_fields("recipients.list_id")
    require_list(db, str(given["list_id"]))
    recipients: dict[str, Any] = {"list_id": str(given["list_id"])}
    if isinstance(given.get("segment_opts"), dict):
        recipients["segment_opts"] = given["segment_opts"]
    return recipients


def list_campaigns(call: rest.Call) -> rest.Reply:
    page = rest.Page.of(call)
    rest.require_enum(call.query, "status", STATUSES)
    rest.require_enum(call.query, "type", TYPES)
    clauses, args = time_clauses(call, TIME_FILTERS)
    clauses.insert(0, "1 = 1")
    for name, clause in FILTERS:
        if call.query.get(name):
            clauses.append(clause)
            args.append(call.query[name])
    where = " AND ".join(clauses)
    order = "create_time"
    if call.query.get("sort_field") == "send_time":
        order = "json_extract(doc, '$.send_time')"
    direction = "DESC" if call.query.get("sort_dir") == "DESC" else "ASC"
    rows = call.db.execute(
        f"SELECT * FROM campaigns WHERE {where} ORDER BY {order} {direction}, rowid{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*) FROM campaigns WHERE {where}", args).fetchone()[0]
    return rest.Reply(
        rest.collection("campaigns", [render(call.db, r, call.base_url) for r in rows], total)
    )


def create_campaign(call: rest.Call) -> rest.Reply:
    body = call.object_body()
    rest.require(body, "type")
    rest.require_enum(body, "type", TYPES)
    doc = {
        "type": body["type"],
        "status": "save",
        "recipients": _recipients(call.db, body.get("recipients")),
        "settings": {**DEFAULT_SETTINGS, **(body.get("settings") or {})},
        "tracking": {**DEFAULT_TRACKING, **(body.get("tracking") or {})},
        "content": {"html": "", "plain_text": ""},
    }
    campaign_id = new_hex_id()
    call.db.execute(
        "INSERT INTO campaigns (id, web_id, create_time, doc) VALUES (?, ?, ?, ?)",
        (campaign_id, new_web_id(), now_iso(), dump(doc)),
    )
    return rest.Reply(render(call.db, require_campaign(call.db, campaign_id), call.base_url))


def get_campaign(call: rest.Call) -> rest.Reply:
    return rest.Reply(
        render(call.db, require_campaign(call.db, call.params["campaign_id"]), call.base_url)
    )


def _save(db: sqlite3.Connection, campaign_id: str, doc: dict[str, Any]) -> None:
    db.execute("UPDATE campaigns SET doc = ? WHERE id = ?", (dump(doc), campaign_id))


def update_campaign(call: rest.Call) -> rest.Reply:
    row = require_campaign(call.db, call.params["campaign_id"])
    doc = load(row["doc"])
    if doc["status"] not in SENDABLE:
        raise errors.bad_request("This campaign has already been sent and cannot be updated.")
    body = call.object_body()
    if isinstance(body.get("settings"), dict):
        rest.require(body["settings"], *READY_FIELDS)  # required on PATCH, per the spec
    if "recipients" in body:
        doc["recipients"] = _recipients(call.db, body["recipients"])
    for key in ("settings", "tracking"):
        if isinstance(body.get(key), dict):
            doc[key] = {**doc[key], **body[key]}
    _save(call.db, row["id"], doc)
    return rest.Reply(render(call.db, require_campaign(call.db, row["id"]), call.base_url))


def delete_campaign(call: rest.Call) -> rest.Reply:
    row = require_campaign(call.db, call.params["campaign_id"])
    call.db.execute("DELETE FROM campaign_activity WHERE campaign_id = ?", (row["id"],))
    call.db.execute("DELETE FROM campaigns WHERE id = ?", (row["id"],))
    return rest.no_content()


def get_content(call: rest.Call) -> rest.Reply:
    row = require_campaign(call.db, call.params["campaign_id"])
    content = load(row["doc"]).get("content", {})
    html = content.get("html", "")
    return rest.Reply(
        {
            "plain_text": content.get("plain_text", ""),
            "html": html,
            "archive_html": html,
            "_links": [],
        }
    )


def set_content(call: rest.Call) -> rest.Reply:
    row = require_campaign(call.db, call.params["campaign_id"])
    body = call.object_body()
    doc = load(row["doc"])
    doc["content"] = {
        "html": str(body.get("html", doc.get("content", {}).get("html", ""))),
        "plain_text": str(body.get("plain_text", doc.get("content", {}).get("plain_text", ""))),
    }
    _save(call.db, row["id"], doc)
    return get_content(call)


def send_campaign(call: rest.Call) -> rest.Reply:
    row = require_campaign(call.db, call.params["campaign_id"])
    doc = load(row["doc"])
    if doc["status"] not in SENDABLE:
        raise errors.bad_request("This campaign cannot be sent because it has already been sent.")
    missing = [name for name in READY_FIELDS if not doc["settings"].get(name)]
    if missing:
        raise errors.ApiError(
            400,
            "Bad Request",
            "Your Campaign is not ready to send.",
            [
                {"field": f"settings.{name}", "message": "This value should not be blank."}
                for name in missing
            ],
        )
    list_id = doc["recipients"]["list_id"]
    require_list(call.db, list_id)
    stamp = now_iso()
    segment_id = doc["recipients"].get("segment_opts", {}).get("saved_segment_id")
    segment_clause = ""
    args: list[Any] = [row["id"], list_id, stamp, list_id]
    if segment_id:
        segment_clause = " AND hash IN (SELECT hash FROM segment_members WHERE segment_id = ?)"
        args.append(segment_id)
    cursor = call.db.execute(
        "INSERT INTO campaign_activity (campaign_id, list_id, hash, action, timestamp)"
        " SELECT ?, ?, hash, 'sent', ? FROM members WHERE list_id = ? AND status = 'subscribed'"
        + segment_clause,
        args,
    )
    doc.update(status="sent", send_time=stamp, emails_sent=cursor.rowcount)
    _save(call.db, row["id"], doc)
    call.events.append(
        rest.Event(
            "campaign",
            list_id,
            UNSOURCED,
            {
                "id": row["id"],
                "subject": doc["settings"]["subject_line"],
                "status": "sent",
                "reason": "",
                "list_id": list_id,
            },
        )
    )
    return rest.no_content()


CAMPAIGN = "/campaigns/{campaign_id}"
ROUTES = [
    rest.get("/campaigns", list_campaigns),
    rest.post("/campaigns", create_campaign),
    rest.get(CAMPAIGN, get_campaign),
    rest.patch(CAMPAIGN, update_campaign),
    rest.delete(CAMPAIGN, delete_campaign),
    rest.get(f"{CAMPAIGN}/content", get_content),
    rest.put(f"{CAMPAIGN}/content", set_content),
    rest.post(f"{CAMPAIGN}/actions/send", send_campaign),
]
