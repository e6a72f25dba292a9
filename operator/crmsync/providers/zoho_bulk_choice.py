"""When a full read of a Zoho CRM module uses Bulk Read instead of listing pages.

Credits decide (https://www.zoho.com/crm/developer/docs/api/v8/api-limits.html): a listing
page of up to 200 records costs 1 credit, a Bulk Read job 50 and exports up to 200,000
records. Paging n records costs ceil(n / 200) credits, so the job wins above
50 × 200 = 10,000 records. The job's other calls (the count that makes this choice, the
field metadata, a few status polls, the download) cost about as many credits on both
sides of the line, so the threshold stays where the two main costs meet.

Only full reads qualify (no ``If-Modified-Since``: an incremental read is a few pages),
and not modules with lead conversion: a listing shows converted leads
(``converted=both``, for Z9), an export's handling of them is not documented.
"""

from __future__ import annotations

import math

PAGE_RECORDS = 200
"""Records per listing page (Zoho's maximum)."""
JOB_CREDITS = 50
JOB_RECORDS = 200_000
BULK_READ_THRESHOLD = JOB_CREDITS * PAGE_RECORDS
"""Full reads of more records than this use Bulk Read (the Connection may lower it; None
turns Bulk Read off)."""


def paging_credits(records: int) -> int:
    return max(1, math.ceil(records / PAGE_RECORDS))


def bulk_credits(records: int) -> int:
    return JOB_CREDITS * max(1, math.ceil(records / JOB_RECORDS))


def bulk_read_wins(records: int, threshold: int | None) -> bool:
    """Whether a full read of ``records`` records should be a Bulk Read."""
    return threshold is not None and records > threshold
