"""The account root (``GET /3.0/``) and the health check (``GET /3.0/ping``)."""

from __future__ import annotations

from crmsync_testbed.sim.mailchimp import rest

ACCOUNT_ID = "c7a3f0d2e1b9a8c6d5e4f3a21"
MEMBER_SINCE = "2024-01-15T09:30:00+00:00"


def get_root(call: rest.Call) -> rest.Reply:
    subscribers = call.db.execute(
        "SELECT COUNT(*) FROM members WHERE status = 'subscribed'"
    ).fetchone()[0]
    return rest.Reply(
        {
            "account_id": ACCOUNT_ID,
            "login_id": "104857600",
            "account_name": "crmsync demo",
            "email": "owner@crmsync.example.com",
            "first_name": "Demo",
            "last_name": "Owner",
            "username": "crmsync-demo",
            "avatar_url": "",
            "role": "owner",
            "member_since": MEMBER_SINCE,
            "pricing_plan_type": "monthly",
            "first_payment": MEMBER_SINCE,
            "account_timezone": "UTC",
            "account_industry": "Software",
            "contact": {
                "company": "crmsync demo",
                "addr1": "1 Demo Street",
                "addr2": "",
                "city": "Atlanta",
                "state": "GA",
                "zip": "30308",
                "country": "US",
            },
            "pro_enabled": False,
            "last_login": MEMBER_SINCE,
            "total_subscribers": subscribers,
            "industry_stats": {"open_rate": 0.21, "bounce_rate": 0.01, "click_rate": 0.03},
            "_links": [{"rel": "self", "href": call.link("/"), "method": "GET"}],
        }
    )


def ping(call: rest.Call) -> rest.Reply:
    return rest.Reply({"health_status": "Everything's Chimpy!"})


ROOT = rest.get("/", get_root)
ROUTES = [ROOT, rest.get("/ping", ping)]
