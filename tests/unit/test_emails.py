"""The address check that skips what the vendors refuse (``invalid_email``, issue 12.6)."""

from __future__ import annotations

import pytest

from crmsync.engine.emails import (
    ASCII_ONLY,
    MAILCHIMP,
    ZOHO_CAMPAIGNS,
    AddressRules,
    email_problem,
    is_valid_email,
    rules_for,
)

ALL_RULES = (MAILCHIMP, ZOHO_CAMPAIGNS, ASCII_ONLY)

REFUSED_EVERYWHERE = {
    "NUL": "ann\x00@example.com",
    "BEL": "ann\x07@example.com",
    "DEL": "ann\x7f@example.com",
    "C1 control": "ann\x85x@example.com",
    "tab inside": "ann\t@example.com",
    "space inside": "ann lee@example.com",
    "no-break space inside": "ann\u00a0lee@example.com",
    "zero-width space": "ann\u200b@example.com",
    "zero-width joiner": "an\u200dn@example.com",
    "zero-width non-joiner in the domain": "ann@exam\u200cple.com",
    "byte order mark": "\ufeffann@example.com",
    "left-to-right mark": "ann@example.com\u200e",
    "right-to-left override": "\u202eann@example.com",
    "soft hyphen": "an\u00adn@example.com",
    "65-character local part": "a" * 65 + "@example.com",
    "300 characters": "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com",
    "255 characters": "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".shop",
    "63+ character label": "ann@" + "b" * 64 + ".com",
    "no at": "ann.example.com",
    "two ats": "ann@lee@example.com",
    "empty local part": "@example.com",
    "no domain": "ann@",
    "single-label domain": "ann@localhost",
    "numeric top-level domain": "ann@10.0.0.1",
    "address literal": "ann@[10.0.0.1]",
    "leading dot": ".ann@example.com",
    "trailing dot": "ann.@example.com",
    "double dot": "an..n@example.com",
    "empty domain label": "ann@example..com",
    "trailing dot in the domain": "ann@example.com.",
    "hyphen at a label start": "ann@-example.com",
    "underscore in the domain": "ann@ex_ample.com",
    "quoted local part": '"ann lee"@example.com',
    "comma": "ann,lee@example.com",
    "angle brackets": "<ann@example.com>",
    "non-Latin local part": "анна@example.com",
    "accented local part (Latin-1)": "dirección@example.com",
    "fullwidth at": "ann\uff20example.com",
}


@pytest.mark.parametrize("rules", ALL_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("address", REFUSED_EVERYWHERE.values(), ids=REFUSED_EVERYWHERE.keys())
def test_refused_by_every_vendor(address: str, rules: AddressRules) -> None:
    assert email_problem(address, rules) is not None
    assert not is_valid_email(address, rules)


@pytest.mark.parametrize("rules", ALL_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("value", [["x@y.com"], ("x@y.com",), {"email": "x@y.com"}, 42, 1.5, True])
def test_a_value_that_is_not_text_is_invalid_not_its_str(
    value: object, rules: AddressRules
) -> None:
    assert email_problem(value, rules) == f"not text ({type(value).__name__})"


ACCEPTED_EVERYWHERE = [
    "ann@example.com",
    "Ann.Lee+news@Example.COM",
    "  ann@example.com\n",
    "o'brien@example.ie",
    "a!#$%&'*+-/=?^_`{|}~z@example.com",
    "ann@sub-domain.example.co.uk",
    "ann@xn--o1234-ntabq.com",
    "a" * 64 + "@example.com",
    "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".com",
]


@pytest.mark.parametrize("rules", ALL_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("address", ACCEPTED_EVERYWHERE)
def test_accepted_by_every_vendor(address: str, rules: AddressRules) -> None:
    assert email_problem(address, rules) is None


def test_the_longest_accepted_address_is_254_characters() -> None:
    longest = "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".com"
    assert len(longest) == 254
    assert is_valid_email(longest, MAILCHIMP)
    assert not is_valid_email("a" + longest, MAILCHIMP)


def test_mailchimp_accepts_idn_domains_but_no_utf8_local_part() -> None:
    assert is_valid_email("test@ñoñó1234.com", MAILCHIMP)
    assert is_valid_email("ann@bücher.de", MAILCHIMP)
    assert not is_valid_email("direcciónelectrónica@domain.com", MAILCHIMP)
    assert not is_valid_email("šťastný@example.cz", MAILCHIMP)


def test_the_idn_length_counts_the_punycode_form() -> None:
    domain = ".".join(["ü" * 30] * 8) + ".de"
    assert len("a@" + domain) < 254
    assert email_problem("a@" + domain, MAILCHIMP) is not None


def test_zoho_accepts_latin_extended_a_local_parts_but_only_ascii_domains() -> None:
    assert is_valid_email("Šťastna@example.cz", ZOHO_CAMPAIGNS)
    assert is_valid_email("łukasz.żółć@example.pl".replace("ó", "o"), ZOHO_CAMPAIGNS)
    assert not is_valid_email("dirección@example.com", ZOHO_CAMPAIGNS)
    assert not is_valid_email("test@ñoñó1234.com", ZOHO_CAMPAIGNS)
    assert is_valid_email("test@xn--o1234-ntabq.com", ZOHO_CAMPAIGNS)


def test_rules_follow_the_target_provider() -> None:
    assert rules_for("mailchimp") is MAILCHIMP
    assert rules_for("zoho-campaigns") is ZOHO_CAMPAIGNS
    assert rules_for("something-else") is ASCII_ONLY


def test_the_ascii_fast_path_judges_every_ascii_character_as_the_unicode_rule_does() -> None:
    from crmsync.engine.emails import _has_invisible, _invisible

    for char in map(chr, range(128)):
        address = f"a{char}b@example.com"
        assert _has_invisible(address) == any(_invisible(c) for c in address), repr(char)
