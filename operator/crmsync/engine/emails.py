"""Which email addresses the campaign vendors accept (``invalid_email`` before the call).

Both vendors keep to RFC 5321's limits and refuse control and invisible characters; they
differ on international addresses (docs/email-addresses.md):

- Mailchimp: no UTF-8 in the local part, UTF-8 (IDN) domains accepted
  (mailchimp.com/help/international-characters-in-mailchimp).
- Zoho: ASCII letters and Latin Extended-A (Ā–ž) in the local part, ASCII domains only
  (help.zoho.com "How do we validate email addresses in Zoho").

An address that is not text (a list, a number …) is invalid, never its ``str()``.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass

MAX_ADDRESS = 254
"""RFC 5321 §4.5.3.1.3: a path is at most 256 octets, angle brackets included."""
MAX_LOCAL_PART = 64
"""RFC 5321 §4.5.3.1.1."""
MAX_DOMAIN = 255
"""RFC 5321 §4.5.3.1.2."""
MAX_LABEL = 63
"""RFC 1035 §2.3.4."""

ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
"""RFC 5322 §3.2.3: the characters of a dot-atom (quoted local parts are not accepted)."""
ATEXT_OR_DOT = ATEXT | {"."}
LDH = frozenset(string.ascii_lowercase + string.digits + "-")
LATIN_EXTENDED_A = frozenset(chr(c) for c in range(0x0100, 0x0180))


@dataclass(frozen=True)
class AddressRules:
    """What one vendor accepts beyond plain ASCII."""

    name: str
    local_extra: frozenset[str] = frozenset()
    """Non-ASCII characters allowed in the local part."""
    unicode_domain: bool = False
    """Internationalised domain names (U-labels) are accepted."""


MAILCHIMP = AddressRules("mailchimp", unicode_domain=True)
ZOHO_CAMPAIGNS = AddressRules("zoho-campaigns", local_extra=LATIN_EXTENDED_A)
ASCII_ONLY = AddressRules("ascii")
"""What every vendor accepts: the rules when the vendor is not known."""

RULES_BY_PROVIDER = {MAILCHIMP.name: MAILCHIMP, ZOHO_CAMPAIGNS.name: ZOHO_CAMPAIGNS}


def rules_for(provider: str) -> AddressRules:
    return RULES_BY_PROVIDER.get(provider, ASCII_ONLY)


def email_problem(raw: object, rules: AddressRules = ASCII_ONLY) -> str | None:
    """Why the vendor would refuse ``raw`` (surrounding whitespace aside), or None."""
    if not isinstance(raw, str):
        return f"not text ({type(raw).__name__})"
    address = raw.strip()
    if _has_invisible(address):
        return "control, invisible or whitespace character"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "not local-part@domain"
    if (problem := _local_problem(local, rules)) is not None:
        return problem
    ascii_domain = _ascii_domain(domain, rules)
    if ascii_domain is None:
        return "invalid domain"
    if len(ascii_domain) > MAX_DOMAIN:
        return f"domain longer than {MAX_DOMAIN} characters"
    if len(local) + 1 + len(ascii_domain) > MAX_ADDRESS:
        return f"longer than {MAX_ADDRESS} characters"
    return None


def is_valid_email(raw: object, rules: AddressRules = ASCII_ONLY) -> bool:
    return email_problem(raw, rules) is None


def _has_invisible(address: str) -> bool:
    if address.isascii():
        # ASCII's invisible characters are its controls (not printable) and the space.
        return not address.isprintable() or " " in address
    return any(_invisible(c) for c in address)


def _invisible(char: str) -> bool:
    """Control (C0, C1, DEL), format (zero-width, BOM, bidi), separators, unassigned."""
    return char.isspace() or unicodedata.category(char)[0] in "CZ"


def _local_problem(local: str, rules: AddressRules) -> str | None:
    if len(local) > MAX_LOCAL_PART:
        return f"local part longer than {MAX_LOCAL_PART} characters"
    if not set(local) <= (ATEXT_OR_DOT | rules.local_extra):
        return "character not accepted in the local part"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "misplaced dot in the local part"
    return None


def _ascii_domain(domain: str, rules: AddressRules) -> str | None:
    """The domain as A-labels (punycode) if it is a valid host name, else None."""
    if not domain.isascii():
        if not rules.unicode_domain:
            return None
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = domain.lower().split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return None
    for label in labels:
        if not 0 < len(label) <= MAX_LABEL or label[0] == "-" or label[-1] == "-":
            return None
        if not set(label) <= LDH:
            return None
    return ".".join(labels)
