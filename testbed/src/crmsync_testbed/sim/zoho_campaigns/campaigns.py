"""Campaigns: ``createCampaign``, ``recentcampaigns``, ``recentsentcampaigns``,
``getcampaigndetails``, ``sendcampaign``.

Docs (https://www.zoho.com/campaigns/help/developers/…): create-campaign.html,
recently-sent-campaign.html, send-campaign.html, and for the JSON shapes of
recentcampaigns / getcampaigndetails the same methods of Zoho Marketing Automation
(https://www.zoho.com/marketingautomation/help/developers/v1/recent-campaign.html,
…/campaign-details.html) whose Campaigns pages show XML only.

A campaign is created as Draft; ``sendcampaign`` fixes its recipients — the active,
marketing, not-Do-Not-Mail members of its lists (and of its topic, when it has one) —
and marks it Sent. Review / cancel states are set through the admin API.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_campaigns import errors
from crmsync_testbed.sim.zoho_campaigns.api import (
    ApiCall,
    add_method,
    as_strings,
    display_time,
    page_bounds,
    sort_order,
)
from crmsync_testbed.sim.zoho_campaigns.errors import ZohoApiError, success
from crmsync_testbed.sim.zoho_campaigns.lists import ZUID, require_list
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore, now_ms, stable_key
from crmsync_testbed.sim.zoho_campaigns.topics import require_topics

DRAFT, TO_REVIEW, REVIEWED, SENT = "Draft", "To be reviewed", "Reviewed", "Sent"
STOPPED, CANCELED = "Stopped", "Canceled"
STATUS_FILTERS = {
    "drafts": DRAFT, "tobereviewed": TO_REVIEW, "reviewed": REVIEWED, "sent": SENT,
    "stopped": STOPPED, "canceled": CANCELED, "inprogress": "In progress",
    "scheduled": "Scheduled", "paused": "Paused", "intesting": "In testing",
}  # fmt: skip
SENDABLE = (DRAFT, TO_REVIEW, REVIEWED)
PREVIEW_URL = "campaigns.zoho.com/EmailDisplayAction.do?&campaignId="


def require_campaign(store: CampaignsStore, campaign_key: str) -> sqlite3.Row:
    row = store.one("SELECT * FROM campaigns WHERE campaign_key = ?", campaign_key)
    if row is None:
        raise ZohoApiError(errors.INVALID_CAMPAIGN_KEY, "Invalid campaign key.")
    return row


def require_sent_campaign(store: CampaignsStore, campaign_key: str) -> sqlite3.Row:
    row = store.one("SELECT * FROM campaigns WHERE campaign_key = ?", campaign_key)
    if row is None or row["sent_ms"] is None:
        raise ZohoApiError(
            errors.CAMPAIGN_NOT_SENT, "Invalid campaign key (or) campaign is not yet sent."
        )
    return row


def campaign_lists(row: sqlite3.Row) -> list[str]:
    return list(json.loads(row["list_details"]))


def campaign_summary(row: sqlite3.Row) -> dict[str, Any]:
    """The fields of a ``recent_campaigns`` / ``campaign-details`` entry."""
    created, updated, sent = row["created_ms"], row["updated_ms"], row["sent_ms"]
    return as_strings(
        {
            "campaign_key": row["campaign_key"],
            "campaignid": row["campaign_id"],
            "campaign_name": row["campaign_name"],
            "campaign_status": row["status"],
            "campaigntype": "normal",
            "subject": row["subject"],
            "email_subject": row["subject"],
            "from_email": row["from_email"],
            "email_from": row["from_email"],
            "from_name": row["from_name"],
            "sender_name": row["from_name"],
            "reply_to": row["from_email"],
            "email_type": "html_template_editor",
            "topic_id": row["topic_id"] or "",
            "created_time": created,
            "created_time_gmt": created,
            "created_date_string": display_time(created),
            "updated_time": updated,
            "updated_time_gmt": updated,
            "updated_date_string": display_time(updated),
            "sent_time": sent or "",
            "sent_time_gmt": sent or "",
            "sent_date_string": display_time(sent),
            "sent_time_zone": "GMT" if sent else "",
            "campaign_preview": f"{PREVIEW_URL}{row['campaign_id']}",
            "folder_id": "",
            "is_hybrid": False,
            "zuid": ZUID,
        }
    )


def create_campaign(call: ApiCall) -> dict[str, Any]:
    name, from_email, subject = call.require("campaignname", "from_email", "subject")
    details = call.json_param("list_details") if call.get("list_details") else {}
    if not isinstance(details, dict) or not details:
        raise ZohoApiError(errors.NO_LISTS_SELECTED, "No lists selected for this campaign.")
    for listkey in details:
        require_list(call.store, str(listkey))
    topic_ids = require_topics(call.store, call.get("topicId"))
    store, stamp = call.store, now_ms()
    campaign_id = store.next_id("campaign")
    campaign_key = stable_key("campaign", str(campaign_id))
    store.conn.execute(
        "INSERT INTO campaigns (campaign_key, campaign_id, campaign_name, subject, from_email,"
        " from_name, content_url, list_details, topic_id, status, created_ms, updated_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            campaign_key, campaign_id, name, subject, from_email, call.get("from_name"),
            call.get("content_url"), json.dumps(details), topic_ids[0] if topic_ids else None,
            DRAFT, stamp, stamp,
        ),
    )  # fmt: skip
    return {
        "message": "Campaign created successfully",
        "campaignKey": campaign_key,
        "code": "200",
        "uri": call.uri,
    }


def _status_filter(raw: str) -> list[str]:
    wanted = [part.strip().lower() for part in raw.split("|") if part.strip()]
    return [STATUS_FILTERS[w] for w in wanted if w in STATUS_FILTERS]


def recent_campaigns(call: ApiCall) -> dict[str, Any]:
    direction, _ = sort_order(call)
    fromindex, size = page_bounds(call, default_range=5)
    statuses = _status_filter(call.get("status"))
    where = f"WHERE status IN ({','.join('?' * len(statuses))})" if statuses else ""
    rows = call.store.all(
        f"SELECT * FROM campaigns {where} ORDER BY created_ms {direction},"
        f" campaign_id {direction} LIMIT ? OFFSET ?",
        *statuses,
        size,
        fromindex - 1,
    )
    label = "|".join(statuses) if statuses else "All"
    return success(
        call.uri,
        requestdetails=f"{{range={size}, status={label}, fromindex={fromindex}}}",
        recent_campaigns=[campaign_summary(row) for row in rows],
    )


def recent_sent_campaigns(call: ApiCall) -> dict[str, Any]:
    limit = call.integer("limit", 5, minimum=1)
    rows = call.store.all(
        "SELECT * FROM campaigns WHERE sent_ms IS NOT NULL ORDER BY sent_ms DESC LIMIT ?", limit
    )
    return success(call.uri, recent_sent_campaigns=[campaign_summary(row) for row in rows])


def get_campaign_details(call: ApiCall) -> dict[str, Any]:
    row = require_campaign(call.store, call.get("campaignkey"))
    mailing_lists = []
    for listkey in campaign_lists(row):
        list_row = call.store.one("SELECT listname FROM lists WHERE listkey = ?", listkey)
        count = call.store.scalar(
            "SELECT COUNT(*) FROM list_members WHERE listkey = ? AND status = 'active'", listkey
        )
        mailing_lists.append(
            {
                "listkey": listkey,
                "listname": list_row["listname"] if list_row else "",
                "liststatus": "active" if list_row else "deleted",
                "contactscount": str(count),
            }
        )
    recipients = call.store.scalar(
        "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_key = ?", row["campaign_key"]
    )
    return success(
        call.uri,
        associated_mailing_lists=mailing_lists,
        segments_info={},
        total_contacts_count=recipients,
        **{"campaign-details": [campaign_summary(row)]},
    )


def send_campaign(call: ApiCall) -> dict[str, Any]:
    (campaign_key,) = call.require("campaignkey")
    row = require_campaign(call.store, campaign_key)
    if row["status"] == SENT:
        raise ZohoApiError(errors.CAMPAIGN_ALREADY_SENT, "Campaign is sent.")
    if row["status"] not in SENDABLE:
        raise ZohoApiError(errors.CAMPAIGN_STATUS_CHANGED, "Campaign status is changed.")
    listkeys = [
        key
        for key in campaign_lists(row)
        if call.store.one("SELECT 1 FROM lists WHERE listkey = ?", key)
    ]
    if not listkeys:
        raise ZohoApiError(errors.NO_LISTS_SELECTED, "No lists selected for this campaign.")
    topic_clause = (
        " AND c.email_norm IN (SELECT email_norm FROM topic_members WHERE topic_id = ?"
        " AND status = 'active')"
        if row["topic_id"]
        else ""
    )
    stamp = now_ms()
    with call.store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO campaign_recipients"
            " (campaign_key, email_norm, contact_id, sent_ms)"
            " SELECT ?, c.email_norm, c.contact_id, ? FROM contacts c"
            " WHERE c.do_not_mail = 0 AND c.subscription_type = 'marketing'"
            " AND c.email_norm IN (SELECT email_norm FROM list_members WHERE status = 'active'"
            f" AND listkey IN ({','.join('?' * len(listkeys))})){topic_clause}",
            (campaign_key, stamp, *listkeys, *([row["topic_id"]] if row["topic_id"] else [])),
        )
        conn.execute(
            "UPDATE campaigns SET status = ?, sent_ms = ?, updated_ms = ? WHERE campaign_key = ?",
            (SENT, stamp, stamp, campaign_key),
        )
    return {
        "response": {
            "uri": call.uri,
            "code": "200",
            "version": "1.1",
            "message": "",
            "campaign_status": "inprogress",
        }
    }


def set_campaign_status(store: CampaignsStore, campaign_key: str, status_filter: str) -> str:
    """Admin: move a not-yet-sent campaign to review / reviewed / canceled / stopped / draft."""
    row = require_campaign(store, campaign_key)
    status = STATUS_FILTERS.get(status_filter.lower())
    if status is None or status == SENT or row["status"] == SENT:
        raise ZohoApiError(errors.CAMPAIGN_STATUS_CHANGED, "Campaign status is changed.")
    store.conn.execute(
        "UPDATE campaigns SET status = ?, updated_ms = ? WHERE campaign_key = ?",
        (status, now_ms(), campaign_key),
    )
    return status


def add_routes(app: web.Application) -> None:
    add_method(app, "createCampaign", create_campaign, http_methods=("POST",))
    add_method(app, "recentcampaigns", recent_campaigns)
    add_method(app, "recentsentcampaigns", recent_sent_campaigns, http_methods=("GET",))
    add_method(app, "getcampaigndetails", get_campaign_details)
    add_method(app, "sendcampaign", send_campaign, http_methods=("POST",))
