"""Any body is either parsed or refused as :class:`MalformedRequestError` (a 4xx), never an error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.webhook_body import (
    MAX_JSON_DEPTH,
    MalformedRequestError,
    form_fields,
    json_object,
    nesting_exceeds,
)

JSON_ISH = st.lists(
    st.sampled_from(["[", "]", "{", "}", '"', "\\", ":", ",", "1", "e9", "nul", "a", "\x00"]),
    max_size=200,
).map("".join)


def _outcome(parse: Callable[[bytes], dict[str, Any]], raw: bytes) -> str | int:
    try:
        parsed = parse(raw)
    except MalformedRequestError as exc:
        return exc.status
    return "parsed" if isinstance(parsed, dict) else "not a dict"


@given(st.one_of(st.binary(max_size=500), JSON_ISH.map(str.encode)))
def test_any_json_body_is_an_object_or_malformed(raw: bytes) -> None:
    assert _outcome(json_object, raw) in {"parsed", 400}


@given(st.binary(max_size=500))
def test_any_form_body_is_fields_or_malformed(raw: bytes) -> None:
    assert _outcome(form_fields, raw) in {"parsed", 400}


@pytest.mark.parametrize(
    ("text", "exceeds"),
    [
        ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, False),
        ("[" * (MAX_JSON_DEPTH + 1), True),
        ('{"a": "' + "[" * 1000 + '"}', False),
        ('{"a": "\\"' + "[" * 1000 + '"}', False),
        ("[]" * 10_000, False),
        ('"unterminated [[[[', False),
    ],
)
def test_nesting_counts_brackets_outside_strings(text: str, exceeds: bool) -> None:
    assert nesting_exceeds(text) is exceeds


def test_the_nesting_limit_is_checked_before_parsing() -> None:
    with pytest.raises(MalformedRequestError, match="deeper"):
        json_object(b"[" * 100_000)
    assert json_object(json.dumps({"a": [[{"b": [1]}]]}).encode()) == {"a": [[{"b": [1]}]]}


def test_repeated_form_fields_keep_the_first() -> None:
    assert form_fields(b"type=subscribe&type=cleaned&x=%C3%A9") == {"type": "subscribe", "x": "é"}
