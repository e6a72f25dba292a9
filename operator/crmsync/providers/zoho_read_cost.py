"""Whether a full read with criteria pushed down (COQL for the ids, then the records by
id) costs fewer credits than reading the whole module, decided while the ids come in.

Credits (api-limits.html, COQL-Overview.html): a COQL call with ``LIMIT 2000`` costs 3, a
read of 100 records by id 1, a listing page of 200 records 1, a Bulk Read job 50 (plus
about 4 calls: field metadata, status polls, the download). The matching records are
only known as the ids arrive, so the ids are read while the filtered read still promises
to cost less than the whole one, assuming each page that says "more" is followed by a
full one; past that the read falls back (its ids read so far are the only loss).
"""

from __future__ import annotations

import math

from crmsync.providers.zoho_bulk_choice import bulk_credits, bulk_read_wins, paging_credits

COQL_PAGE = 2000
COQL_PAGE_CREDITS = 3
IDS_PER_CALL = 100
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
