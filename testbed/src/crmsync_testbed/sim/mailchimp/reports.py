"""Campaign reports and per-member activity, read from ``campaign_activity``."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from crmsync_testbed.sim.mailchimp import activity, errors, rest
from crmsync_testbed.sim.mailchimp.campaigns import (
    SEND_TIME_FILTERS,
    TYPES,
    list_name,
    require_campaign,
)
from crmsync_testbed.sim.mailchimp.lookups import member_hash, require_member
from crmsync_testbed.sim.mailchimp.store import load, normalise_timestamp
from crmsync_testbed.sim.mailchimp.timefilters import time_clauses


def _campaign(db: sqlite3.Connection, campaign_id: str) -> tuple[sqlite3.Row, dict[str, Any]]:
    """The campaign whose report is asked for. An unsent one has a report of zeros and
    empty lists, not a 404 (docs/sim-mailchimp.md, "Reports of unsent campaigns")."""
    row = require_campaign(db, campaign_id)
    return row, load(row["doc"])


def _report(db: sqlite3.Connection, row: sqlite3.Row, doc: dict[str, Any]) -> dict[str, Any]:
    list_id = doc["recipients"]["list_id"]
    name, active = list_name(db, list_id)
    sent = doc.get("emails_sent", 0)
    t = activity.totals(db, row["id"])
    delivered = sent - t.hard_bounces - t.soft_bounces
    return {
        "id": row["id"],
        "campaign_title": doc["settings"].get("title", ""),
        "type": doc["type"],
        "list_id": list_id,
        "list_is_active": active,
        "list_name": name,
        "subject_line": doc["settings"].get("subject_line", ""),
        "preview_text": doc["settings"].get("preview_text", ""),
        "emails_sent": sent,
        "abuse_reports": 0,
        "unsubscribed": t.unsubscribed,
        "send_time": doc.get("send_time", ""),
        "bounces": {
            "hard_bounces": t.hard_bounces,
            "soft_bounces": t.soft_bounces,
            "syntax_errors": 0,
        },
        "forwards": {"forwards_count": 0, "forwards_opens": 0},
        "opens": {
            "opens_total": t.opens,
            "unique_opens": t.unique_opens,
            "open_rate": activity.rate(t.unique_opens, delivered),
            "last_open": t.last_open,
        },
        "clicks": {
            "clicks_total": t.clicks,
            "unique_clicks": t.unique_clicks,
            "unique_subscriber_clicks": t.unique_clicks,
            "click_rate": activity.rate(t.unique_clicks, delivered),
            "last_click": t.last_click,
        },
        "list_stats": {"sub_rate": 0, "unsub_rate": 0, "open_rate": 0, "click_rate": 0},
        "timeseries": [],
        "delivery_status": {"enabled": False},
        "_links": [],
    }


def list_reports(call: rest.Call) -> rest.Reply:
    page = rest.Page.of(call)
    rest.require_enum(call.query, "type", TYPES)
    clauses, args = time_clauses(call, SEND_TIME_FILTERS)
    clauses.insert(0, "json_extract(doc, '$.status') = 'sent'")
    if call.query.get("type"):
        clauses.append("json_extract(doc, '$.type') = ?")
        args.append(call.query["type"])
    where = " AND ".join(clauses)
    rows = call.db.execute(
        f"SELECT * FROM campaigns WHERE {where} ORDER BY create_time{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*) FROM campaigns WHERE {where}", args).fetchone()[0]
    reports = [_report(call.db, row, load(row["doc"])) for row in rows]
    return rest.Reply(rest.collection("reports", reports, total))


def get_report(call: rest.Call) -> rest.Reply:
    row, doc = _campaign(call.db, call.params["campaign_id"])
    return rest.Reply(_report(call.db, row, doc))


RECIPIENTS_SQL = (
    " FROM campaign_activity a JOIN members m ON m.list_id = a.list_id AND m.hash = a.hash"
    " WHERE a.campaign_id = ? AND a.action = 'sent'"
)
"""The campaign's recipients: its ``sent`` rows (written by ``actions/send``)."""


def _email_activity(call: rest.Call, only_hash: str | None) -> tuple[list[dict[str, Any]], int]:
    """The list lists only recipients with activity (since ``since``): Mailchimp may leave
    the others out, and ``sent-to`` is the list of everyone sent the campaign. One
    member's entry (``only_hash``) is given with or without activity."""
    row, doc = _campaign(call.db, call.params["campaign_id"])
    list_id = doc["recipients"]["list_id"]
    since = normalise_timestamp(call.query["since"]) if call.query.get("since") else ""
    recipients_sql = RECIPIENTS_SQL
    args: list[Any] = [row["id"]]
    if only_hash:
        recipients_sql += " AND a.hash = ?"
        args.append(only_hash)
    else:
        recipients_sql += (
            " AND EXISTS (SELECT 1 FROM campaign_activity b WHERE b.campaign_id = a.campaign_id"
            " AND b.hash = a.hash AND b.action != 'sent' AND b.timestamp >= ?)"
        )
        args.append(since)
    page = rest.Page.of(call)
    recipients = call.db.execute(
        f"SELECT a.hash, m.email{recipients_sql} ORDER BY a.id{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*){recipients_sql}", args).fetchone()[0]
    actions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    hashes = [r["hash"] for r in recipients]
    if hashes:
        marks = ",".join("?" * len(hashes))
        for act in call.db.execute(
            "SELECT * FROM campaign_activity WHERE campaign_id = ? AND action != 'sent'"
            f" AND timestamp >= ? AND hash IN ({marks}) ORDER BY timestamp",
            [row["id"], since, *hashes],
        ):
            item = {"action": act["action"], "timestamp": act["timestamp"], "ip": act["ip"]}
            if act["type"]:
                item["type"] = act["type"]
            if act["url"]:
                item["url"] = act["url"]
            actions[act["hash"]].append(item)
    emails = [
        {
            "campaign_id": row["id"],
            "list_id": list_id,
            "list_is_active": True,
            "email_id": r["hash"],
            "email_address": r["email"],
            "activity": actions[r["hash"]],
            "_links": [],
        }
        for r in recipients
    ]
    return emails, total


ReportRows = Callable[[rest.Call, str | None], tuple[list[dict[str, Any]], int]]


def _report_list(key: str, rows: ReportRows) -> Callable[[rest.Call], rest.Reply]:
    """A per-recipient report as a collection (``GET /reports/{id}/<key>``)."""

    def handler(call: rest.Call) -> rest.Reply:
        items, total = rows(call, None)
        return rest.Reply(
            rest.collection(key, items, total, campaign_id=call.params["campaign_id"])
        )

    return handler


def _report_member(rows: ReportRows) -> Callable[[rest.Call], rest.Reply]:
    """One recipient of a per-recipient report (``…/<key>/{subscriber_hash}``)."""

    def handler(call: rest.Call) -> rest.Reply:
        items, _ = rows(call, member_hash(call.params["subscriber_hash"]))
        if not items:
            raise errors.not_found()
        return rest.Reply(items[0])

    return handler


get_email_activity = _report_list("emails", _email_activity)
get_member_email_activity = _report_member(_email_activity)


def _sent_to(call: rest.Call, only_hash: str | None) -> tuple[list[dict[str, Any]], int]:
    """Everyone the campaign was sent to, with the delivery status (``sent``, or ``hard``
    / ``soft`` for a bounce), the open count and the last open."""
    row, _ = _campaign(call.db, call.params["campaign_id"])
    query = RECIPIENTS_SQL
    args: list[Any] = [row["id"]]
    if only_hash:
        query += " AND a.hash = ?"
        args.append(only_hash)
    page = rest.Page.of(call)
    recipients = call.db.execute(
        f"SELECT a.hash, a.list_id, m.email, m.doc{query} ORDER BY a.id{page.sql}", args
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*){query}", args).fetchone()[0]
    bounces: dict[str, str] = {}
    opens: dict[str, tuple[int, str]] = {}
    hashes = [r["hash"] for r in recipients]
    if hashes:
        marks = ",".join("?" * len(hashes))
        for act in call.db.execute(
            "SELECT hash, action, type, COUNT(*) AS n, MAX(timestamp) AS last"
            " FROM campaign_activity WHERE campaign_id = ? AND action IN ('bounce', 'open')"
            f" AND hash IN ({marks}) GROUP BY hash, action, type",
            [row["id"], *hashes],
        ):
            if act["action"] == "open":
                opens[act["hash"]] = (int(act["n"]), str(act["last"]))
            elif act["type"] == "hard" or act["hash"] not in bounces:
                bounces[act["hash"]] = "hard" if act["type"] == "hard" else "soft"
    items = []
    for r in recipients:
        member = load(r["doc"])
        count, last = opens.get(r["hash"], (0, ""))
        items.append(
            {
                "email_id": r["hash"],
                "email_address": r["email"],
                "merge_fields": member.get("merge_fields", {}),
                "vip": bool(member.get("vip", False)),
                "status": bounces.get(r["hash"], "sent"),
                "open_count": count,
                "last_open": last,
                "absplit_group": "",
                "gmt_offset": 0,
                "campaign_id": row["id"],
                "list_id": r["list_id"],
                "list_is_active": True,
                "_links": [],
            }
        )
    return items, total


get_sent_to = _report_list("sent_to", _sent_to)
get_sent_to_member = _report_member(_sent_to)


def get_unsubscribed(call: rest.Call) -> rest.Reply:
    row, _ = _campaign(call.db, call.params["campaign_id"])
    page = rest.Page.of(call)
    query = (
        " FROM campaign_activity a JOIN members m ON m.list_id = a.list_id AND m.hash = a.hash"
        " WHERE a.campaign_id = ? AND a.action = 'unsub'"
    )
    rows = call.db.execute(
        f"SELECT a.*, m.email, m.doc{query} ORDER BY a.id{page.sql}", (row["id"],)
    ).fetchall()
    total = call.db.execute(f"SELECT COUNT(*){query}", (row["id"],)).fetchone()[0]
    items = [
        {
            "email_id": r["hash"],
            "email_address": r["email"],
            "merge_fields": load(r["doc"]).get("merge_fields", {}),
            "vip": bool(load(r["doc"]).get("vip", False)),
            "timestamp": r["timestamp"],
            "reason": load(r["doc"]).get("unsubscribe_reason", ""),
            "campaign_id": row["id"],
            "list_id": r["list_id"],
            "list_is_active": True,
            "_links": [],
        }
        for r in rows
    ]
    return rest.Reply(rest.collection("unsubscribes", items, total, campaign_id=row["id"]))


# --- member activity ------------------------------------------------------------------------


def _member_actions(db: sqlite3.Connection, list_id: str, hash_: str) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT a.*, json_extract(c.doc, '$.settings.title') AS title,"
        " json_extract(c.doc, '$.settings.subject_line') AS subject"
        " FROM campaign_activity a LEFT JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE a.list_id = ? AND a.hash = ? ORDER BY a.timestamp DESC, a.id DESC",
        (list_id, hash_),
    ).fetchall()


def get_member_activity(call: rest.Call) -> rest.Reply:
    member = require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
    items = []
    for act in _member_actions(call.db, member["list_id"], member["hash"]):
        item = {
            "action": act["action"],
            "timestamp": act["timestamp"],
            "campaign_id": act["campaign_id"],
            "title": act["title"] or act["subject"] or "",
        }
        if act["type"]:
            item["type"] = act["type"]
        if act["url"]:
            item["url"] = act["url"]
        items.append(item)
    return rest.Reply(
        {
            "activity": items,
            "email_id": member["hash"],
            "contact_id": load(member["doc"]).get("contact_id", member["hash"]),
            "list_id": member["list_id"],
            "total_items": len(items),
            "_links": [],
        }
    )


def _feed_item(act: sqlite3.Row) -> dict[str, Any]:
    item: dict[str, Any] = {
        "activity_type": act["action"],
        "created_at_timestamp": act["timestamp"],
        "campaign_id": act["campaign_id"],
        "campaign_title": act["title"] or act["subject"] or "",
    }
    if act["action"] == "click":
        item["link_clicked"] = act["url"]
    elif act["action"] == "bounce":
        item["bounce_type"] = act["type"]
        item["bounce_has_open_activity"] = False
    elif act["action"] == "unsub":
        item["is_admin_unsubscribed"] = False
        item["unsubscribe_reason"] = ""
    return item


def get_member_activity_feed(call: rest.Call) -> rest.Reply:
    member = require_member(call.db, call.params["list_id"], call.params["subscriber_hash"])
    wanted = {f.strip() for f in call.query.get("activity_filters", "").split(",") if f.strip()}
    feed = [
        _feed_item(act)
        for act in _member_actions(call.db, member["list_id"], member["hash"])
        if not wanted or act["action"] in wanted
    ]
    page = rest.Page.of(call)
    return rest.Reply(
        {
            "activity": feed[page.offset : page.offset + page.count],
            "email_id": member["hash"],
            "list_id": member["list_id"],
            "total_items": len(feed),
            "_links": [],
        }
    )


# --- admin: simulated recipient behaviour -----------------------------------------------------


def simulate_activity(call: rest.Call) -> rest.Reply:
    row, doc = _campaign(call.db, call.params["campaign_id"])
    if doc["status"] != "sent":
        raise errors.not_found()
    rates = activity.SimulationRates.from_body(call.body)
    counts = activity.simulate(
        call, row["id"], doc["recipients"]["list_id"], doc["send_time"], rates
    )
    return rest.Reply({"campaign_id": row["id"], "generated": counts})


REPORT = "/reports/{campaign_id}"
ROUTES = [
    rest.get("/reports", list_reports),
    rest.get(REPORT, get_report),
    rest.get(f"{REPORT}/email-activity", get_email_activity),
    rest.get(f"{REPORT}/email-activity/{{subscriber_hash}}", get_member_email_activity),
    rest.get(f"{REPORT}/sent-to", get_sent_to),
    rest.get(f"{REPORT}/sent-to/{{subscriber_hash}}", get_sent_to_member),
    rest.get(f"{REPORT}/unsubscribed", get_unsubscribed),
    rest.get("/lists/{list_id}/members/{subscriber_hash}/activity", get_member_activity),
    rest.get("/lists/{list_id}/members/{subscriber_hash}/activity-feed", get_member_activity_feed),
]
