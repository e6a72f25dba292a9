"""Finding CRM records by value: the way chosen by cost, and the COQL written for it."""

from __future__ import annotations

import pytest

from crmsync.providers import zoho_lookup as lookup
from crmsync.providers.zoho_lookup import Cost, Lookup


def test_search_costs_a_credit_per_ten_values() -> None:
    assert lookup.cost(Lookup.SEARCH, 10) == Cost(credits=1, calls=1)
    assert lookup.cost(Lookup.SEARCH, 100_000) == Cost(credits=10_000, calls=10_000)


def test_coql_packs_1800_values_a_call_and_pays_by_limit_tier() -> None:
    """The LIMIT leaves 10 % room for addresses several records share."""
    assert lookup.cost(Lookup.COQL, 180) == Cost(credits=1, calls=1)
    assert lookup.cost(Lookup.COQL, 182) == Cost(credits=2, calls=1)
    assert lookup.cost(Lookup.COQL, 1800) == Cost(credits=3, calls=1)
    assert lookup.cost(Lookup.COQL, 1900) == Cost(credits=3 + 1, calls=2)
    assert lookup.cost(Lookup.COQL, 100_000) == Cost(credits=56 * 3, calls=56)


def test_coql_that_must_read_the_records_by_id_pays_for_it() -> None:
    assert lookup.cost(Lookup.COQL, 5000, refetch=True) == Cost(credits=9 + 50, calls=3 + 50)


def test_listing_costs_a_page_per_200_records() -> None:
    assert lookup.cost(Lookup.LISTING, 0, module_size=20_000) == Cost(credits=100, calls=100)
    assert lookup.cost(Lookup.LISTING, 0, module_size=0) == Cost(credits=1, calls=1)


def test_a_few_values_keep_the_search() -> None:
    """A tie (one call either way) keeps today's search."""
    assert lookup.choose(10, coql=True, refetch=False, module_size=None) is Lookup.SEARCH
    assert lookup.choose(11, coql=True, refetch=False, module_size=None) is Lookup.COQL


def test_coql_wins_for_many_values_when_only_the_ids_are_wanted() -> None:
    assert lookup.choose(5000, coql=True, refetch=False, module_size=20_000) is Lookup.COQL
    assert lookup.choose(20_000, coql=True, refetch=False, module_size=20_000) is Lookup.COQL


def test_listing_wins_when_the_values_are_many_for_the_module() -> None:
    assert lookup.choose(20_000, coql=True, refetch=True, module_size=20_000) is Lookup.LISTING
    assert lookup.choose(5000, coql=True, refetch=True, module_size=100_000) is Lookup.COQL


def test_without_coql_it_is_search_or_listing() -> None:
    """Leads are read with converted leads, which COQL does not see."""
    assert lookup.choose(5000, coql=False, refetch=False, module_size=20_000) is Lookup.LISTING
    assert lookup.choose(500, coql=False, refetch=False, module_size=20_000) is Lookup.SEARCH


def test_the_module_is_counted_only_when_a_listing_could_be_cheaper() -> None:
    assert not lookup.size_matters(10, coql=True, refetch=False)
    assert not lookup.size_matters(900, coql=True, refetch=False)  # 2 credits: count + 1 page
    assert lookup.size_matters(910, coql=True, refetch=False)
    assert lookup.size_matters(30, coql=False, refetch=False)
    assert not lookup.size_matters(20, coql=False, refetch=False)


def test_limit_tiers() -> None:
    assert [lookup.coql_limit(n) for n in (1, 182, 909, 910, 1800)] == [
        200, 1000, 1000, 2000, 2000,
    ]  # fmt: skip
    assert [lookup.coql_credits(n) for n in (200, 1000, 2000)] == [1, 2, 3]


def test_quotes_are_doubled() -> None:
    assert lookup.coql_string("o'brien@example.com") == "'o''brien@example.com'"
    assert lookup.coql_string("''") == "''''''"


def test_a_backslash_is_not_sent_through_coql() -> None:
    assert lookup.coql_safe("a@example.com")
    assert not lookup.coql_safe("a\\b@example.com")


def test_criteria_past_two_are_grouped_in_pairs() -> None:
    assert lookup.either(["A"]) == "A"
    assert lookup.either(["A", "B"]) == "(A or B)"
    assert lookup.either(["A", "B", "C"]) == "((A or B) or C)"


def test_in_query_splits_values_into_clauses_of_100() -> None:
    values = [f"p{i}@example.com" for i in range(250)]
    query = lookup.coql_in_query(
        "Contacts", "Email", values, ["Email", "Modified_Time"], limit=1000
    )
    assert query.startswith("select Email, Modified_Time from Contacts where ((Email in ('p0@")
    assert query.count(" in (") == 3
    assert query.endswith(") limit 0, 1000")
    clauses = query.split(" in (")[1:]
    assert [c.count("@example.com") for c in clauses] == [100, 100, 50]


def test_in_query_pages_with_an_offset_and_escapes_values() -> None:
    query = lookup.coql_in_query(
        "Leads", "Email", ["o'hara@x.io"], ["Email"], limit=200, offset=200
    )
    assert query == "select Email from Leads where Email in ('o''hara@x.io') limit 200, 200"


def test_in_query_refuses_what_coql_would() -> None:
    with pytest.raises(ValueError, match="1 to 1800"):
        lookup.coql_in_query("Contacts", "Email", [], ["Email"], limit=200)
    with pytest.raises(ValueError, match="1 to 1800"):
        lookup.coql_in_query("Contacts", "Email", ["a"] * 1801, ["Email"], limit=2000)
    with pytest.raises(ValueError, match="not a COQL"):
        lookup.coql_in_query("Contacts", "Email) or (1", ["a"], ["Email"], limit=200)


def test_batches_of_1800() -> None:
    batches = lookup.coql_batches([str(i) for i in range(4000)])
    assert [len(b) for b in batches] == [1800, 1800, 400]
