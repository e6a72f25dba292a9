"""A batch subscribe's answer is read for the few keys its results need (issue 15: parsing
the full member objects was an eighth of an initial load's CPU)."""

from __future__ import annotations

import json

import pytest

from crmsync.providers.mailchimp import _batch_answer

MEMBER = {"email_address": "a@example.com", "merge_fields": {"FNAME": "A"}, "stats": {"x": 1}}


def test_only_the_keys_results_need_are_kept() -> None:
    body = {
        "new_members": [MEMBER],
        "updated_members": [{**MEMBER, "email_address": "b@example.com"}],
        "errors": [
            {
                "email_address": "c@x",
                "error": "bad",
                "error_code": "ERROR_GENERIC",
                "field": "email_address",
            }
        ],
        "total_created": 1,
    }
    answer = _batch_answer(json.dumps(body).encode())
    assert answer == {
        "new_members": [{"email_address": "a@example.com"}],
        "updated_members": [{"email_address": "b@example.com"}],
        "errors": [{"email_address": "c@x", "error": "bad", "error_code": "ERROR_GENERIC"}],
    }


def test_an_unexpected_shape_is_read_whole_and_bad_json_still_fails() -> None:
    odd = {"new_members": [{"email_address": 7}], "errors": "none"}
    assert _batch_answer(json.dumps(odd).encode()) == odd
    with pytest.raises(json.JSONDecodeError):
        _batch_answer(b'{"new_members": [')
