"""The address syntax the local vendor servers accept, as the real services do
(docs/sim-mailchimp.md, docs/sim-zoho-campaigns.md: "Email addresses").

Common to both: RFC 5321's limits (local part 64, address 254, label 63), a dot-atom local
part (no quoted strings), a host-name domain with a top-level domain of letters (or an
``xn--`` A-label), and no control, format (zero-width, BOM, bidi) or space characters.
They differ on international addresses:

- Mailchimp: ASCII local part; UTF-8 (IDN) domains accepted, their punycode length counts.
- Zoho: the local part may hold Latin Extended-A letters (Ā–ž); ASCII domains only.
"""

from __future__ import annotations

import re
import unicodedata

ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
LATIN_EXTENDED_A = "\u0100-\u017f"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"(?:{LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})")
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254


def _local_part(extra: str) -> re.Pattern[str]:
    atom = f"[{ATEXT}{extra}]+"
    return re.compile(rf"{atom}(?:\.{atom})*")


MAILCHIMP_LOCAL = _local_part("")
ZOHO_LOCAL = _local_part(LATIN_EXTENDED_A)


def acceptable(address: str, *, local: re.Pattern[str], unicode_domain: bool) -> bool:
    """Whether the (trimmed) address passes the vendor's syntax check."""
    if address.isascii():
        # ASCII's control and separator characters are the unprintable ones and the space.
        if not address.isprintable() or " " in address:
            return False
    elif any(unicodedata.category(c)[0] in "CZ" for c in address):
        return False
    name, at, host = address.rpartition("@")
    if not at or len(name) > MAX_LOCAL_PART or not local.fullmatch(name):
        return False
    if not host.isascii():
        if not unicode_domain:
            return False
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    return DOMAIN.fullmatch(host) is not None and len(name) + 1 + len(host) <= MAX_ADDRESS


def mailchimp_accepts(address: str) -> bool:
    return acceptable(address, local=MAILCHIMP_LOCAL, unicode_domain=True)


def zoho_accepts(address: str) -> bool:
    return acceptable(address, local=ZOHO_LOCAL, unicode_domain=False)
