"""``since_*`` / ``before_*`` query filters, compared as instants.

Every stored timestamp has one shape (UTC, ``+00:00``, whole seconds; ``store.now_iso``),
so a filter value is normalised to that shape first and the SQL comparison of text is then
a comparison of instants: ``2024-05-01T14:00:00+02:00`` and ``2024-05-01T12:00:00Z`` select
the same rows. Boundaries are included, as for members (``>=`` / ``<=``).
"""

from __future__ import annotations

from collections.abc import Sequence

from crmsync_testbed.sim.mailchimp import errors, rest
from crmsync_testbed.sim.mailchimp.store import normalise_timestamp

TimeFilter = tuple[str, str]
"""(query parameter, SQL clause with one ``?`` for the normalised value)."""


def timestamp_param(call: rest.Call, name: str) -> str:
    try:
        return normalise_timestamp(call.query[name])
    except ValueError as exc:
        raise errors.field_errors([{"field": name, "message": "Invalid date-time"}]) from exc


def time_clauses(call: rest.Call, filters: Sequence[TimeFilter]) -> tuple[list[str], list[str]]:
    """The clauses and arguments of the filters the query names."""
    clauses, args = [], []
    for name, clause in filters:
        if call.query.get(name):
            clauses.append(clause)
            args.append(timestamp_param(call, name))
    return clauses, args
