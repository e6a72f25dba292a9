"""Campaign reports: ``campaignreports``, ``getcampaignrecipientsdata``, and the activity
simulation behind ``POST /_admin/zoho_campaigns/campaigns/{key}/simulate``.

Docs: https://www.zoho.com/campaigns/help/developers/campaign-reports.html and
https://www.zoho.com/campaigns/help/developers/campaign-recipient-data.html; their JSON
shapes as documented for the same methods in Zoho Marketing Automation
(https://www.zoho.com/marketingautomation/help/developers/v1/campaign-reports.html,
…/campaign-recipient-data.html): counts are strings, ``campaign-reports`` is a list.
"""

from __future__ import annotations

import json
import random
import sqlite3
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crmsync_testbed.sim.zoho_campaigns.api import ApiCall, add_method, display_time, page_bounds
from crmsync_testbed.sim.zoho_campaigns.campaigns import (
    campaign_lists,
    campaign_summary,
    require_sent_campaign,
)
from crmsync_testbed.sim.zoho_campaigns.errors import ZohoApiError, success
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore, now_ms

RECIPIENT_ACTIONS = {
    "sentcontacts": "1",
    "openedcontacts": "opened = 1",
    "unopenedcontacts": "delivery = 'sent' AND opened = 0",
    "clickedcontacts": "clicked = 1",
    "optoutcontacts": "unsubscribed = 1",
    "spamcontacts": "complained = 1",
    "senthardbounce": "delivery = 'hardbounce'",
    "sentsoftbounce": "delivery = 'softbounce'",
    "unsentcontacts": "delivery = 'unsent'",
}
"""The documented ``action`` values; the Marketing Automation spelling (``…leads``) is accepted."""


def _percent(part: int, whole: int) -> str:
    return f"{(100.0 * part / whole) if whole else 0.0:.1f}"


def report_counts(store: CampaignsStore, campaign_key: str) -> dict[str, str]:
    row = store.one(
        "SELECT COUNT(*) AS sent,"
        " SUM(delivery = 'hardbounce') AS hard, SUM(delivery = 'softbounce') AS soft,"
        " SUM(delivery = 'unsent') AS unsent, SUM(opened) AS opens, SUM(clicked) AS clicks,"
        " SUM(unsubscribed) AS unsubs, SUM(complained) AS complaints"
        " FROM campaign_recipients WHERE campaign_key = ?",
        campaign_key,
    )
    assert row is not None
    sent, hard, soft = int(row["sent"]), int(row["hard"] or 0), int(row["soft"] or 0)
    unsent, opens = int(row["unsent"] or 0), int(row["opens"] or 0)
    clicks, unsubs = int(row["clicks"] or 0), int(row["unsubs"] or 0)
    complaints = int(row["complaints"] or 0)
    bounces = hard + soft
    delivered = sent - bounces - unsent
    counts = {
        "emails_sent_count": sent, "delivered_count": delivered, "bounces_count": bounces,
        "hardbounce_count": hard, "softbounce_count": soft, "unsent_count": unsent,
        "opens_count": opens, "unopened": delivered - opens, "unique_clicks_count": clicks,
        "unsub_count": unsubs, "complaints_count": complaints, "spams_count": complaints,
        "forwards_count": 0, "autoreply_count": 0,
    }  # fmt: skip
    percents = {
        "delivered_percent": _percent(delivered, sent), "bounce_percent": _percent(bounces, sent),
        "unsent_percent": _percent(unsent, sent), "open_percent": _percent(opens, delivered),
        "unopened_percent": _percent(delivered - opens, delivered),
        "unique_clicked_percent": _percent(clicks, delivered),
        "clicksperopenrate": _percent(clicks, opens),
        "unsubscribe_percent": _percent(unsubs, delivered),
        "complaints_percent": _percent(complaints, delivered),
        "spam_percent": _percent(complaints, delivered), "forward_percent": "0.0",
    }  # fmt: skip
    return {**{key: str(value) for key, value in counts.items()}, **percents}


def campaign_reports(call: ApiCall) -> dict[str, Any]:
    row = require_sent_campaign(call.store, call.get("campaignkey"))
    counts = report_counts(call.store, row["campaign_key"])
    report = {"campaign_name": row["campaign_name"], **counts}
    reach = {"total": counts["opens_count"], "emails": counts["opens_count"], "facebook": "0",
             "twitter": "0", "linkedin": "0", "other": "0"}  # fmt: skip
    return success(
        call.uri,
        message="success",
        **{
            "campaign-reports": [report],
            "campaign-details": [campaign_summary(row)],
            "campaign-reach": reach,
            "campaign-by-location": {},
        },
    )


def _recipient(row: sqlite3.Row) -> dict[str, str]:
    fields: dict[str, str] = json.loads(row["fields"])
    status = "active"
    if row["delivery"] == "hardbounce":
        status = "bounce"
    elif row["unsubscribed"]:
        status = "unsub"
    elif row["complained"]:
        status = "spam"
    return {
        "contactid": str(row["contact_id"]),
        "contactemailaddress": row["email"],
        "firstname": fields.get("firstname", ""),
        "lastname": fields.get("lastname", ""),
        "companyname": fields.get("companyname") or "null",
        "phone": fields.get("phone") or "null",
        "timezone": "null",
        "contactstatus": status,
        "sent_time": str(row["sent_ms"]),
        "sentdate": display_time(row["sent_ms"]),
    }


def get_campaign_recipients_data(call: ApiCall) -> dict[str, Any]:
    campaign_key, action = call.require("campaignkey", "action")
    action = action.lower().replace("leads", "contacts")
    condition = RECIPIENT_ACTIONS.get(action)
    if condition is None:
        raise ZohoApiError("903", "Mandatory fields are missing.")
    require_sent_campaign(call.store, campaign_key)
    fromindex, size = page_bounds(call)
    rows = call.store.all(
        "SELECT r.*, c.email, c.fields FROM campaign_recipients r"
        " JOIN contacts c ON c.email_norm = r.email_norm"
        f" WHERE r.campaign_key = ? AND {condition} ORDER BY r.contact_id LIMIT ? OFFSET ?",
        campaign_key,
        size,
        fromindex - 1,
    )
    return success(
        call.uri,
        requestdetails={"range": size, "action": action, "fromindex": fromindex},
        list_of_details=[_recipient(row) for row in rows],
    )


class ActivityRates(BaseModel):
    """Probabilities for ``simulate``; opens/unsubscribes/complaints are of delivered mail."""

    model_config = ConfigDict(extra="forbid")

    hard_bounce_rate: float = Field(0.02, ge=0, le=1)
    soft_bounce_rate: float = Field(0.03, ge=0, le=1)
    open_rate: float = Field(0.35, ge=0, le=1)
    click_rate: float = Field(0.3, ge=0, le=1)
    """Share of openers who click."""
    unsubscribe_rate: float = Field(0.01, ge=0, le=1)
    complaint_rate: float = Field(0.002, ge=0, le=1)
    seed: int | None = None


def simulate_activity(
    store: CampaignsStore, campaign_key: str, rates: ActivityRates
) -> dict[str, str]:
    """Give realistic activity to a sent campaign's recipients who have none yet.

    Hard bounces, unsubscribes and complaints also change the contacts' status on the
    campaign's lists (bounce / unsub / spam), as they would in Zoho Campaigns.
    """
    campaign = require_sent_campaign(store, campaign_key)
    rng = random.Random(rates.seed)
    recipients = store.all(
        "SELECT email_norm FROM campaign_recipients WHERE campaign_key = ? AND delivery = 'sent'"
        " AND opened = 0 AND unsubscribed = 0 AND complained = 0 ORDER BY contact_id",
        campaign_key,
    )
    updates: list[tuple[str, int, int, int, int, str]] = []
    list_status: list[tuple[str, str]] = []
    for row in recipients:
        key, roll = row["email_norm"], rng.random()
        if roll < rates.hard_bounce_rate:
            updates.append(("hardbounce", 0, 0, 0, 0, key))
            list_status.append(("bounce", key))
            continue
        if roll < rates.hard_bounce_rate + rates.soft_bounce_rate:
            updates.append(("softbounce", 0, 0, 0, 0, key))
            continue
        opened = rng.random() < rates.open_rate
        clicked = opened and rng.random() < rates.click_rate
        unsubscribed = rng.random() < rates.unsubscribe_rate
        complained = not unsubscribed and rng.random() < rates.complaint_rate
        updates.append(("sent", int(opened), int(clicked), int(unsubscribed), int(complained), key))
        if unsubscribed or complained:
            list_status.append(("unsub" if unsubscribed else "spam", key))
    listkeys = campaign_lists(campaign)
    with store.transaction() as conn:
        conn.executemany(
            "UPDATE campaign_recipients SET delivery = ?, opened = ?, clicked = ?,"
            " unsubscribed = ?, complained = ? WHERE campaign_key = ? AND email_norm = ?",
            [(d, o, c, u, s, campaign_key, k) for d, o, c, u, s, k in updates],
        )
        conn.executemany(
            "UPDATE list_members SET status = ?, updated_ms = ?"
            " WHERE email_norm = ? AND listkey = ?",
            [
                (status, now_ms(), key, listkey)
                for status, key in list_status
                for listkey in listkeys
            ],
        )
    return report_counts(store, campaign_key)


def add_routes(app: web.Application) -> None:
    add_method(app, "campaignreports", campaign_reports)
    add_method(app, "getcampaignrecipientsdata", get_campaign_recipients_data)
