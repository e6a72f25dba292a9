"""Whether a full read with criteria pushed down (COQL for the ids, then the records by
id) costs fewer credits than reading the whole module, decided while the ids come in.

Credits (api-limits.html, COQL-Overview.html): a COQL call with ``LIMIT 2000`` costs 3, a
read of 100 records by id 1, a listing page of 200 records 1, a Bulk Read job 50 (plus
about 4 calls: field metadata, status polls, the download). How many records match
is not known beforehand: one COQL call for the single row past the most matches that
still pay (``LIMIT n, 1``, 1 credit) tells; only then are the ids read, page by page, and
the read still falls back should more arrive (records added meanwhile). Past Zoho's
OFFSET ceiling (100,000) the ids are read without that call, falling back as soon as
they stop paying.
"""

from __future__ import annotations

import math

from crmsync.providers.zoho_bulk_choice import bulk_credits, bulk_read_wins, paging_credits
from crmsync.providers.zoho_lookup import COQL_CREDITS, COQL_MAX_LIMIT, IDS_PER_CALL, coql_credits

COQL_PAGE = COQL_MAX_LIMIT
COQL_TIERS = COQL_CREDITS
"""(largest LIMIT, credits) of one COQL call."""
COQL_PAGE_CREDITS = coql_credits(COQL_PAGE)
COQL_MAX_REACH = 100_000
"""OFFSET plus LIMIT."""
BULK_OVERHEAD_CREDITS = 4


def whole_read_credits(records: int, bulk_threshold: int | None) -> int:
    """What reading all ``records`` costs the way :mod:`.zoho_bulk_choice` reads them."""
    if bulk_read_wins(records, bulk_threshold):
        return bulk_credits(records) + BULK_OVERHEAD_CREDITS
    return paging_credits(records)


def by_id_credits(records: int) -> int:
    return math.ceil(records / IDS_PER_CALL)


def filtered_credits(records: int) -> int:
    """A filtered read of ``records`` matches from start to end."""
    pages = max(1, math.ceil(records / COQL_PAGE))
    return pages * COQL_PAGE_CREDITS + by_id_credits(records)


def still_cheaper(ids_read: int, more: bool, whole: int) -> bool:
    """After reading ``ids_read`` ids: whether what is left of the filtered read (another
    full page of ids when there are ``more``, then the records by id) costs less than
    reading the whole module."""
    if more:
        return COQL_PAGE_CREDITS + by_id_credits(ids_read + COQL_PAGE) < whole
    return by_id_credits(ids_read) < whole


def affordable_matches(whole: int) -> int:
    """The most matches a filtered read may find and still cost less than ``whole``
    credits; -1 when not even an empty one does."""
    if filtered_credits(0) >= whole:
        return -1
    low, high = 0, whole * IDS_PER_CALL
    while low < high:
        middle = (low + high + 1) // 2
        if filtered_credits(middle) < whole:
            low = middle
        else:
            high = middle - 1
    return low


def page_limit(affordable: int) -> int:
    """The LIMIT of each page of ids: the smallest tier that can show more than
    ``affordable`` matches, at most :data:`COQL_PAGE`."""
    return next((top for top, _ in COQL_TIERS if top > affordable), COQL_PAGE)


def probe_pays(affordable: int) -> bool:
    """Whether asking for the row past ``affordable`` first is worth its credit: the first
    page of ids would not show it, and Zoho's OFFSET reaches it."""
    return COQL_PAGE <= affordable < COQL_MAX_REACH
