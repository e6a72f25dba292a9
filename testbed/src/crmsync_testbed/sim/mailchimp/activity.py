"""Campaign activity (sent, open, click, bounce, unsub): counting it and making it up.

Rows live in ``campaign_activity``; ``actions/send`` writes the ``sent`` rows and
:func:`simulate` (behind ``POST /_admin/mailchimp/campaigns/{id}/simulate``) adds what
recipients then do, changing member status for hard bounces and unsubscribes the way
Mailchimp does (and firing the matching webhooks).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync_testbed.sim.mailchimp import rest
from crmsync_testbed.sim.mailchimp.lookups import find_member
from crmsync_testbed.sim.mailchimp.member_view import ListContext
from crmsync_testbed.sim.mailchimp.members import MemberWriter
from crmsync_testbed.sim.mailchimp.webhooks import UNSOURCED

UNSUBSCRIBE_REASONS = (
    "I no longer want to receive these emails",
    "I never signed up for this mailing list",
    "The emails are inappropriate",
    "The emails are spam and should be reported",
    "N/A (Unsubscribed from campaign)",
)
DEFAULT_LINKS = (
    "https://www.example.com/offer",
    "https://www.example.com/blog",
    "https://www.example.com/pricing",
)


@dataclass(frozen=True)
class Totals:
    opens: int = 0
    unique_opens: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    unsubscribed: int = 0
    last_open: str = ""
    last_click: str = ""


def totals(db: sqlite3.Connection, campaign_id: str) -> Totals:
    rows = db.execute(
        "SELECT action, type, COUNT(*) AS n, COUNT(DISTINCT hash) AS people, MAX(timestamp) AS last"
        " FROM campaign_activity WHERE campaign_id = ? AND action != 'sent' GROUP BY action, type",
        (campaign_id,),
    ).fetchall()
    found = {(row["action"], row["type"]): row for row in rows}

    def count(action: str, kind: str = "", key: str = "n") -> int:
        row = found.get((action, kind))
        return int(row[key]) if row else 0

    def last(action: str) -> str:
        row = found.get((action, ""))
        return str(row["last"]) if row else ""

    return Totals(
        opens=count("open"),
        unique_opens=count("open", key="people"),
        clicks=count("click"),
        unique_clicks=count("click", key="people"),
        hard_bounces=count("bounce", "hard"),
        soft_bounces=count("bounce", "soft"),
        unsubscribed=count("unsub"),
        last_open=last("open"),
        last_click=last("click"),
    )


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def summary(db: sqlite3.Connection, campaign_id: str, emails_sent: int) -> dict[str, Any]:
    """A campaign's ``report_summary``."""
    t = totals(db, campaign_id)
    delivered = emails_sent - t.hard_bounces - t.soft_bounces
    return {
        "opens": t.opens,
        "unique_opens": t.unique_opens,
        "open_rate": rate(t.unique_opens, delivered),
        "clicks": t.clicks,
        "subscriber_clicks": t.unique_clicks,
        "click_rate": rate(t.unique_clicks, delivered),
    }


@dataclass(frozen=True)
class SimulationRates:
    open_rate: float = 0.35
    click_rate: float = 0.08
    """Share of all recipients who click (clickers always open first)."""
    hard_bounce_rate: float = 0.01
    soft_bounce_rate: float = 0.02
    unsubscribe_rate: float = 0.005
    seed: int | None = None

    @classmethod
    def from_body(cls, body: Any) -> SimulationRates:
        if not isinstance(body, dict):
            return cls()
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def simulate(
    call: rest.Call, campaign_id: str, list_id: str, send_time: str, rates: SimulationRates
) -> dict[str, int]:
    """Generate what the recipients of a sent campaign did; returns counts per action."""
    rng = random.Random(rates.seed)
    start = datetime.fromisoformat(send_time)
    window_seconds = max(int((datetime.now(UTC) - start).total_seconds()), 1)
    recipients = [
        row["hash"]
        for row in call.db.execute(
            "SELECT hash FROM campaign_activity WHERE campaign_id = ? AND action = 'sent'",
            (campaign_id,),
        )
    ]
    context = ListContext.load(call.db, list_id)
    people = MemberWriter(call.db, context, call.events, source="user")
    system = MemberWriter(call.db, context, call.events, source=UNSOURCED)
    rows: list[tuple[Any, ...]] = []
    counts = {"open": 0, "click": 0, "bounce": 0, "unsub": 0}

    def record(hash_: str, action: str, kind: str = "", url: str = "") -> datetime:
        moment = start + timedelta(seconds=rng.randint(0, window_seconds))
        ip = f"198.51.100.{rng.randint(1, 254)}"
        rows.append((campaign_id, list_id, hash_, action, kind, url, ip, moment.isoformat()))
        counts[action] += 1
        return moment

    for hash_ in recipients:
        roll = rng.random()
        if roll < rates.hard_bounce_rate + rates.soft_bounce_rate:
            hard = roll < rates.hard_bounce_rate
            record(hash_, "bounce", "hard" if hard else "soft")
            member = find_member(call.db, list_id, hash_)
            if hard and member is not None and member["status"] == "subscribed":
                system.set_status_as(member, "cleaned", "hard", campaign_id)
            continue
        if rng.random() >= rates.open_rate:
            continue
        for _ in range(rng.randint(1, 3)):
            record(hash_, "open")
        if rng.random() < rates.click_rate / max(rates.open_rate, 1e-9):
            record(hash_, "click", url=rng.choice(DEFAULT_LINKS))
        if rng.random() < rates.unsubscribe_rate / max(rates.open_rate, 1e-9):
            record(hash_, "unsub")
            member = find_member(call.db, list_id, hash_)
            if member is not None and member["status"] == "subscribed":
                people.set_status_as(
                    member, "unsubscribed", rng.choice(UNSUBSCRIBE_REASONS), campaign_id
                )
    call.db.executemany(
        "INSERT INTO campaign_activity (campaign_id, list_id, hash, action, type, url, ip, timestamp)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return counts
