"""Criteria push-down (issue 14.3): what a sync's criteria become in COQL and Bulk Read
criteria, what is left to the local filter, and that hostile values never leave their
string. The pushed condition must hold for every record the local filter keeps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.api.v1alpha1.contactsync import Criterion, CriterionOperator
from crmsync.engine.criteria import matches
from crmsync.providers import zoho_criteria as zc
from crmsync.providers.zoho_filtered_read import ids_query
from crmsync.providers.zoho_read_cost import (
    affordable_matches,
    filtered_credits,
    page_limit,
    probe_pays,
    still_cheaper,
    whole_read_credits,
)

TYPES = {
    "City": "text",
    "Email": "email",
    "Lead_Source": "picklist",
    "Score": "integer",
    "Revenue": "currency",
    "Active": "boolean",
    "Birth": "date",
    "Last_Visit": "datetime",
    "Account_Name": "lookup",
    "Tags_Multi": "multiselectpicklist",
    "Big": "bigint",
}


def crit(field: str, op: str, *values: str) -> Criterion:
    return Criterion(field=field, operator=CriterionOperator(op), values=list(values) or None)


def where(*criteria: Criterion) -> str:
    return zc.coql_where(zc.pushed(criteria, TYPES))


def test_text_equals_in_and_starts_with_become_contains() -> None:
    assert where(crit("City", "equals", "Berlin")) == "City like '%berlin%'"
    assert where(crit("Lead_Source", "starts_with", "Web")) == "Lead_Source like '%web%'"
    assert where(crit("City", "in", "Rome", "Oslo")) == (
        "(City like '%rome%' or City like '%o%lo%')"
    )


def test_numbers_booleans_and_dates_are_compared() -> None:
    assert where(crit("Score", "greater_than", "10")) == "Score > 10"
    assert where(crit("Revenue", "less_than", "99.5")) == "Revenue < 99.5"
    assert where(crit("Score", "in", "1", "2")) == "Score in (1, 2)"
    assert where(crit("Score", "equals", "7")) == "Score = 7"
    assert where(crit("Active", "equals", "True")) == "Active = true"
    assert where(crit("Active", "in", "true", "false", "maybe")) == "Active in (true, false)"
    assert where(crit("Birth", "greater_than", "2020-01-31")) == "Birth > '2020-01-31'"
    assert where(crit("Birth", "equals", "2020-01-31")) == "Birth = '2020-01-31'"


def test_is_not_empty_on_any_field() -> None:
    assert where(crit("Account_Name", "is_not_empty")) == "Account_Name is not null"
    assert where(crit("Last_Visit", "is_not_empty")) == "Last_Visit is not null"


@pytest.mark.parametrize(
    "criterion",
    [
        crit("City", "not_equal", "Berlin"),
        crit("City", "is_empty"),
        crit("City", "greater_than", "M"),  # numbers in text compare as numbers locally
        crit("City", "equals", "ss"),  # nothing literal is left of it
        crit("Score", "equals", "seven"),
        crit("Score", "greater_than", "1e3"),
        crit("Score", "not_equal", "3"),
        crit("Active", "equals", "yes"),
        crit("Active", "starts_with", "t"),
        crit("Birth", "greater_than", "2020"),
        crit("Last_Visit", "greater_than", "2020-01-01T00:00:00Z"),
        crit("Account_Name", "equals", "Acme"),
        crit("Tags_Multi", "in", "a"),
        crit("Big", "equals", "12"),
        crit("Unknown_Field", "equals", "x"),
    ],
)
def test_what_is_left_to_the_local_filter(criterion: Criterion) -> None:
    assert zc.pushed([criterion], TYPES) == []


def test_more_than_two_criteria_are_grouped_in_pairs_within_the_budget() -> None:
    criteria = [crit("Score", "greater_than", "1"), crit("Active", "equals", "true")]
    criteria.append(crit("City", "in", *[f"c{i}" for i in range(30)]))  # 30 > budget: left
    criteria.append(crit("Birth", "less_than", "2001-01-01"))
    text = where(*criteria)
    assert text == "((Score > 1 and Active = true) and Birth < '2001-01-01')"
    assert "City" not in text
    assert len(zc.pushed(criteria, TYPES, budget=2)) == 2


@pytest.mark.parametrize(
    "hostile",
    [
        "x' or id is not null or Email like '",
        "\\' or 1=1 --",
        "a%' )) or (( '",
        "Robert'); drop",
        "\\\\'",
        "'''",
    ],
)
def test_hostile_values_never_leave_their_string(hostile: str) -> None:
    text = where(crit("City", "equals", hostile), crit("Score", "greater_than", "3"))
    literals = re.findall(r"'([^']*)'", text)
    outside = re.sub(r"'[^']*'", "''", text)
    assert outside in ("(City like '' and Score > 3)", "Score > 3")
    assert all("\\" not in lit and "'" not in lit for lit in literals)


def test_identifiers_are_checked() -> None:
    with pytest.raises(ValueError, match="not a COQL field"):
        zc.coql(zc.Compare("Email or 1", "is not null"))
    with pytest.raises(ValueError, match="not a Zoho record id"):
        ids_query("Contacts", "Email is not null", "1 or 1")
    assert ids_query("Contacts", "Score > 1", "42") == (
        "select Modified_Time from Contacts where (Score > 1 and id > 42) "
        "order by id asc limit 2000"
    )


def test_bulk_read_criteria() -> None:
    conditions = zc.pushed(
        [
            crit("City", "equals", "Bern"),
            crit("Score", "in", "1", "2"),
            crit("Account_Name", "is_not_empty"),  # no Bulk Read comparator: left out
            crit("Lead_Source", "in", "Web", "Ads"),
        ],
        TYPES,
    )
    assert zc.bulk_criteria(conditions) == {
        "group_operator": "and",
        "group": [
            {"field": {"api_name": "City"}, "comparator": "contains", "value": "bern"},
            {"field": {"api_name": "Score"}, "comparator": "in", "value": [1.0, 2.0]},
            {
                "group_operator": "or",
                "group": [
                    {
                        "field": {"api_name": "Lead_Source"},
                        "comparator": "contains",
                        "value": "web",
                    },
                    {"field": {"api_name": "Lead_Source"}, "comparator": "contains", "value": "ad"},
                ],
            },
        ],
    }
    customer = zc.pushed([crit("City", "equals", "Customer")], TYPES)
    assert zc.bulk_criteria(customer) == {
        "group_operator": "and",
        "group": [
            {"field": {"api_name": "City"}, "comparator": "contains", "value": "cu"},
            {"field": {"api_name": "City"}, "comparator": "contains", "value": "omer"},
        ],
    }
    assert zc.bulk_criteria(zc.pushed([crit("City", "is_not_empty")], TYPES)) is None


def like(pattern: str, text: str) -> bool:
    """COQL ``like`` as Zoho documents it: case-insensitive, ``%`` any run, ``_`` one."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text.lower(), re.DOTALL) is not None


SPECIAL = st.sampled_from(["ß", "ẞ", "ſ", "ﬁ", "ﬆ", "ς", "Σ", "İ", "K", "µ", "ŉ", "%", "_", "'"])
# Lone surrogates cannot travel in UTF-8 JSON, so no CRM record or spec holds one.
CHARACTERS = st.characters(exclude_categories=("Cs",))
TEXT = st.lists(st.one_of(CHARACTERS, SPECIAL), max_size=12).map("".join)


@given(value=TEXT, record=TEXT, padding=st.sampled_from(["", " ", "\t "]))
def test_a_record_the_local_filter_keeps_matches_the_pushed_pattern(
    value: str, record: str, padding: str
) -> None:
    for op in ("equals", "starts_with"):
        if not value:
            continue
        criterion = crit("City", op, value)
        stored = padding + record + padding
        if not matches(criterion, {"City": stored}):
            continue
        condition = zc.translate(criterion, TYPES)
        if isinstance(condition, zc.Contains):
            assert like("%" + "%".join(condition.pieces) + "%", stored)


@given(value=TEXT)
def test_the_record_that_is_the_value_matches_in_other_cases(value: str) -> None:
    condition = zc.translate(crit("City", "equals", value or "x"), TYPES)
    for shown in (value, value.upper(), value.casefold(), value.swapcase()):
        if matches(crit("City", "equals", value or "x"), {"City": shown}):
            assert isinstance(condition, zc.Contains | type(None))
            if isinstance(condition, zc.Contains):
                assert like("%" + "%".join(condition.pieces) + "%", shown)


def test_cost_decides_while_the_ids_come_in() -> None:
    whole = whole_read_credits(20_000, None)  # 100 listing pages
    assert whole == 100
    assert whole_read_credits(20_000, 10_000) == 54  # one Bulk Read job and its calls
    assert filtered_credits(200) == 5
    assert still_cheaper(200, more=False, whole=whole)
    assert still_cheaper(2000, more=True, whole=whole)  # 3 + 40 by id so far
    assert not still_cheaper(8000, more=True, whole=whole)  # 3 + 100
    assert not still_cheaper(10_000, more=False, whole=whole)


def test_the_most_matches_that_pay_and_the_pages_of_ids() -> None:
    assert affordable_matches(3) == -1  # one COQL call costs as much as the whole read
    assert affordable_matches(10) == 600  # 3 + 6 by id < 10; 3 + 7 is not
    assert (
        filtered_credits(affordable_matches(100))
        < 100
        <= filtered_credits(affordable_matches(100) + 1)
    )
    assert page_limit(150) == 200 and page_limit(600) == 1000 and page_limit(5000) == 2000
    assert not probe_pays(600) and probe_pays(8000) and not probe_pays(150_000)
