"""Mailing lists: ``getmailinglists``, ``getlistadvanceddetails``, ``deletemailinglist``.

Docs: https://www.zoho.com/campaigns/help/developers/list-management.html and the method
pages linked from it (get-mailing-lists.html, list-advanced-details.html, delete-list.html).
Creating a list is ``addlistandcontacts`` (mode=newlist), served by :mod:`.contacts`
because it adds contacts too.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_campaigns import errors
from crmsync_testbed.sim.zoho_campaigns.api import (
    ApiCall,
    add_method,
    as_strings,
    page_bounds,
    sort_order,
)
from crmsync_testbed.sim.zoho_campaigns.errors import ZohoApiError, success
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore, now_ms, stable_key

DEFAULT_LIST_NAME = "crmsync demo"
DEFAULT_LIST_KEY = stable_key("list", DEFAULT_LIST_NAME)
OWNER = "crmsync sim"
ZUID = "60001234"
STATUS_COUNT_COLUMNS = {
    "active": "noofcontacts",
    "unsub": "noofunsubcnt",
    "bounce": "noofbouncecnt",
}


def create_list(
    store: CampaignsStore, name: str, description: str = "", is_public: bool = False
) -> str:
    """A new list; code 2205 if the name is taken. Returns its list key."""
    if store.one("SELECT 1 FROM lists WHERE listname = ?", name) is not None:
        raise ZohoApiError(errors.DUPLICATE_LIST_NAME, "Duplicate list name is found.")
    listkey = stable_key("list", name)
    if store.one("SELECT 1 FROM lists WHERE listkey = ?", listkey) is not None:
        listkey = stable_key("list", name, str(now_ms()))
    store.conn.execute(
        "INSERT INTO lists (listkey, listunino, listname, listdesc, is_public, created_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (listkey, store.next_id("list"), name, description, int(is_public), now_ms()),
    )
    return listkey


def ensure_default_list(store: CampaignsStore) -> str:
    if store.one("SELECT 1 FROM lists WHERE listkey = ?", DEFAULT_LIST_KEY) is None:
        create_list(store, DEFAULT_LIST_NAME, "Default list of the crmsync local server")
    return DEFAULT_LIST_KEY


def require_list(store: CampaignsStore, listkey: str) -> sqlite3.Row:
    """The list row; code 2501 ("Listkey is empty or invalid.") otherwise."""
    row = store.one("SELECT * FROM lists WHERE listkey = ?", listkey) if listkey else None
    if row is None:
        raise ZohoApiError(errors.LISTKEY_INVALID, "Listkey is empty or invalid.")
    return row


def status_counts(store: CampaignsStore, listkey: str) -> dict[str, int]:
    rows = store.all(
        "SELECT status, COUNT(*) AS n FROM list_members WHERE listkey = ? GROUP BY status", listkey
    )
    return {row["status"]: int(row["n"]) for row in rows}


def list_summary(store: CampaignsStore, row: sqlite3.Row) -> dict[str, Any]:
    """One entry of ``list_of_details`` (the fields of the documented sample and Airbyte's)."""
    counts = status_counts(store, row["listkey"])
    created = int(row["created_ms"])
    summary: dict[str, Any] = {
        "listkey": row["listkey"],
        "listname": row["listname"],
        "listunino": row["listunino"],
        "listdesc": row["listdesc"],
        "created_time": created,
        "created_time_gmt": created,
        "date": created,
        "is_public": bool(row["is_public"]),
        "lockstatus": "unlocked",
        "owner": OWNER,
        "zuid": ZUID,
        "listtype": "[normal]",
        "servicetype": "campaigns",
        "deletable": True,
        "editable": True,
        "issmart": False,
        "segments": {},
        "sentcnt": 0,
    }
    for status, column in STATUS_COUNT_COLUMNS.items():
        summary[column] = counts.get(status, 0)
    return as_strings(summary)


def get_mailing_lists(call: ApiCall) -> dict[str, Any]:
    direction, label = sort_order(call)
    fromindex, size = page_bounds(call)
    rows = call.store.all(
        f"SELECT * FROM lists ORDER BY created_ms {direction}, listunino {direction} "
        "LIMIT ? OFFSET ?",
        size,
        fromindex - 1,
    )
    if not rows and fromindex == 1:
        raise ZohoApiError(
            errors.NO_MAILING_LIST, "No mailing list has been created. Please create a list."
        )
    return success(
        call.uri,
        sort=label,
        range=str(size),
        fromindex=str(fromindex),
        list_of_details=[list_summary(call.store, row) for row in rows],
    )


def get_list_advanced_details(call: ApiCall) -> dict[str, Any]:
    row = require_list(call.store, call.get("listkey"))
    counts = status_counts(call.store, row["listkey"])
    campaigns_sent = call.store.scalar(
        "SELECT COUNT(*) FROM campaigns WHERE sent_ms IS NOT NULL AND list_details LIKE ?",
        f"%{row['listkey']}%",
    )
    return success(
        call.uri,
        list_details=as_strings(
            {
                "ispublic": bool(row["is_public"]),
                "noofcontacts": counts.get("active", 0),
                "listname": row["listname"],
            }
        ),
        list_dashboard_data={
            "contact_stats": as_strings(
                {
                    "no_of_active": counts.get("active", 0),
                    "no_of_unsub": counts.get("unsub", 0),
                    "no_of_bounce": counts.get("bounce", 0),
                    "sent_count": campaigns_sent,
                    "schedule_count": 0,
                }
            )
        },
    )


def delete_mailing_list(call: ApiCall) -> dict[str, Any]:
    """``deletecontacts=on`` deletes the list's contacts from the organisation too."""
    (listkey,) = call.require("listkey")
    require_list(call.store, listkey)
    with call.store.transaction() as conn:
        if call.get("deletecontacts").lower() == "on":
            conn.execute(
                "DELETE FROM contacts WHERE email_norm IN "
                "(SELECT email_norm FROM list_members WHERE listkey = ?)",
                (listkey,),
            )
        conn.execute("DELETE FROM lists WHERE listkey = ?", (listkey,))
    return success(call.uri, message="List(s) are deleted successfully!")


def add_routes(app: web.Application) -> None:
    add_method(app, "getmailinglists", get_mailing_lists)
    add_method(app, "getlistadvanceddetails", get_list_advanced_details)
    add_method(app, "deletemailinglist", delete_mailing_list)
