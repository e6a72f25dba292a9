"""Topics: ``GET /topics`` (list) and ``POST /topics`` (create), and contacts' topics.

Docs: https://www.zoho.com/campaigns/help/developers/get-topics.html and
https://www.zoho.com/campaigns/help/developers/create-topics.html. Both take a ``details``
parameter in Zoho's unquoted JSON form (``{topic_name:aaa,topic_desc:bbb}``,
``{from_index:0,range:1}``) and answer with ``"code": "200"``. A contact joins a topic
through ``listsubscribe``'s ``topic_id`` and leaves it through ``listunsubscribe``'s.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_campaigns import errors
from crmsync_testbed.sim.zoho_campaigns.api import ApiCall, add_method, parse_lenient_json
from crmsync_testbed.sim.zoho_campaigns.errors import ZohoApiError
from crmsync_testbed.sim.zoho_campaigns.lists import ensure_default_list
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore, now_ms

DEFAULT_TOPIC_NAME = "Newsletter"
DEFAULT_TOPIC_ID = "169443000000044001"
_SPECIAL = re.compile(r"[<>\"'{}\[\];]")


def _topic_body(uri: str, **fields: Any) -> dict[str, Any]:
    return {"code": "200", "message": "Success", "uri": uri, **fields}


def create_topic(
    store: CampaignsStore, name: str, description: str, topic_id: str | None = None
) -> str:
    if not name:
        raise ZohoApiError(errors.TOPIC_NAME_EMPTY, "Topic name cannot be empty")
    if not description:
        raise ZohoApiError(errors.TOPIC_DESC_EMPTY, "Topic description cannot be empty")
    if _SPECIAL.search(name):
        raise ZohoApiError("4011", "Topic name cannot contain special characters")
    if store.one("SELECT 1 FROM topics WHERE topic_name = ?", name) is not None:
        raise ZohoApiError(errors.TOPIC_NAME_EXISTS, "Topic name already exists")
    new_id = topic_id or str(store.next_id("topic"))
    store.conn.execute(
        "INSERT INTO topics (topic_id, topic_name, topic_desc, primary_list) VALUES (?, ?, ?, ?)",
        (new_id, name, description, ensure_default_list(store)),
    )
    return new_id


def ensure_default_topic(store: CampaignsStore) -> str:
    if store.one("SELECT 1 FROM topics WHERE topic_id = ?", DEFAULT_TOPIC_ID) is None:
        create_topic(
            store, DEFAULT_TOPIC_NAME, "Default topic of the crmsync local server", DEFAULT_TOPIC_ID
        )
    return DEFAULT_TOPIC_ID


def require_topics(store: CampaignsStore, topic_ids: str) -> list[str]:
    """Comma-separated topic ids (empty → none); code 4014 for an unknown one."""
    ids = [part.strip() for part in topic_ids.split(",") if part.strip()]
    for topic_id in ids:
        if store.one("SELECT 1 FROM topics WHERE topic_id = ?", topic_id) is None:
            raise ZohoApiError(errors.TOPIC_INVALID, f"Topic ID {topic_id} is invalid")
    return ids


def set_topic_status(
    store: CampaignsStore, topic_ids: list[str], email_norm: str, status: str
) -> None:
    store.conn.executemany(
        "INSERT INTO topic_members (topic_id, email_norm, status, updated_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (topic_id, email_norm) DO UPDATE SET status = excluded.status, "
        "updated_ms = excluded.updated_ms",
        [(topic_id, email_norm, status, now_ms()) for topic_id in topic_ids],
    )


def contact_topics(store: CampaignsStore, email_norm: str) -> dict[str, str]:
    rows = store.all("SELECT topic_id, status FROM topic_members WHERE email_norm = ?", email_norm)
    return {row["topic_id"]: row["status"] for row in rows}


def _details(call: ApiCall) -> dict[str, Any]:
    raw = call.get("details")
    if not raw:
        return {}
    try:
        parsed = parse_lenient_json(raw)
    except ValueError as exc:
        raise ZohoApiError(errors.BAD_JSON, "Please enter correct XML(or)JSON format.") from exc
    return parsed if isinstance(parsed, dict) else {}


def get_topics(call: ApiCall) -> dict[str, Any]:
    details = _details(call)
    start = int(details.get("from_index", call.integer("from_index", 0)) or 0)
    size = int(details.get("range", call.integer("range", 100)) or 100)
    rows = call.store.all(
        "SELECT * FROM topics ORDER BY rowid LIMIT ? OFFSET ?", max(size, 1), max(start, 0)
    )
    topics = [
        {
            "topicId": row["topic_id"],
            "primaryList": int(
                call.store.scalar(
                    "SELECT listunino FROM lists WHERE listkey = ?", row["primary_list"]
                )
                or 0
            ),
            "topicName": row["topic_name"],
            "topicDesc": row["topic_desc"],
        }
        for row in rows
    ]
    return _topic_body(call.uri, topicDetails=topics)


def post_topic(call: ApiCall) -> dict[str, Any]:
    details = _details(call)
    name = str(details.get("topic_name", "")).strip()
    description = str(details.get("topic_desc", "")).strip()
    return _topic_body(call.uri, topic_id=create_topic(call.store, name, description))


def add_routes(app: web.Application) -> None:
    add_method(app, "topics", get_topics, http_methods=("GET",))
    add_method(app, "topics", post_topic, http_methods=("POST",))
