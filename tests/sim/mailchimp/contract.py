"""Checks requests and responses against Mailchimp's OpenAPI document (3.0.76).

The document is read from ``mailchimp/`` in the specs folder (``tests/specs.py``; without
it the tests skip). Two places where the real API contradicts its own generated spec are
relaxed, and only those:

- ``merge_fields`` values: the generator typed them ``object``; the spec's own text and
  every real response carry strings (numbers, address objects) keyed by tag.
- ``date-time`` strings may be empty: real responses carry ``""`` for a timestamp that was
  never set (``timestamp_signup``, a draft campaign's ``send_time``...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests import specs

SPEC_NAME = "mailchimp-marketing-3.0.76.openapi.yaml"
SPEC_HOST = "https://server.api.mailchimp.com"
EMPTY_OR_DATE_TIME = r"^$|^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.load(
        (specs.require("mailchimp") / SPEC_NAME).read_text(), Loader=yaml.CSafeLoader
    )
    for schema in _walk(spec):
        if schema.get("format") == "date-time" and schema.get("type") == "string":
            del schema["format"]
            schema["pattern"] = EMPTY_OR_DATE_TIME
        merge_fields = schema.get("properties", {}).get("merge_fields")
        if isinstance(merge_fields, dict) and "additionalProperties" in merge_fields:
            merge_fields["additionalProperties"] = {}
    return spec


class Contract:
    def __init__(self) -> None:
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        self.openapi = OpenAPI.from_dict(load_spec(), config=config)
        self.checked: set[tuple[str, str]] = set()

    def check(self, response: httpx.Response, *, request_is_valid: bool = True) -> None:
        """Validate one exchange made with an httpx client; raises on any mismatch.

        ``request_is_valid=False`` is for requests sent wrong on purpose (error tests).
        """
        request = response.request
        path = request.url.path
        body = request.content or None
        mock_request = MockRequest(
            SPEC_HOST,
            request.method.lower(),
            path,
            args=dict(request.url.params),
            headers={"Authorization": request.headers.get("Authorization", "")},
            data=body,
            content_type="application/json",
        )
        if request_is_valid and request.method in ("POST", "PUT", "PATCH") and body:
            self.openapi.validate_request(mock_request)
        content_type = response.headers.get("Content-Type", "application/json").split(";")[0]
        mock_response = MockResponse(
            response.content, status_code=response.status_code, content_type=content_type
        )
        if response.status_code != 204:
            self.openapi.validate_response(mock_request, mock_response)
        self.checked.add((request.method, path))


class CheckedClient:
    """An httpx client whose every exchange is validated against the contract."""

    def __init__(self, client: httpx.Client, contract: Contract) -> None:
        self.client = client
        self.contract = contract

    def request(
        self, method: str, path: str, *, json_body: Any = None, valid: bool = True, **kwargs: Any
    ) -> httpx.Response:
        if json_body is not None:
            kwargs["content"] = json.dumps(json_body)
            kwargs["headers"] = {"Content-Type": "application/json"}
        response = self.client.request(method, path, **kwargs)
        self.contract.check(response, request_is_valid=valid)
        return response
