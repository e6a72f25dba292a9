"""``GET /automations`` (getAutomations): the account's classic automations.

The local account has none, so the answer is the spec's list shape
(``inline_response_200_5``) with no items; the filters are still checked as the spec types
them, so a malformed request is refused as it would be.
"""

from __future__ import annotations

from crmsync_testbed.sim.mailchimp import rest
from crmsync_testbed.sim.mailchimp.timefilters import time_clauses

STATUSES = ("save", "paused", "sending")
TIME_FILTERS = (
    ("since_create_time", "create_time >= ?"),
    ("before_create_time", "create_time <= ?"),
    ("since_start_time", "start_time >= ?"),
    ("before_start_time", "start_time <= ?"),
)


def list_automations(call: rest.Call) -> rest.Reply:
    rest.Page.of(call)
    rest.require_enum(call.query, "status", STATUSES)
    time_clauses(call, TIME_FILTERS)
    return rest.Reply(rest.collection("automations", [], 0))


ROUTES = [rest.get("/automations", list_automations)]
