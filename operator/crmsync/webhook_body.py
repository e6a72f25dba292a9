"""Reading a notification body defensively: bounded in size, nesting and field count
before anything parses it, and every malformed body a 4xx (:class:`MalformedRequestError`)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import hdrs, web

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
"""Zoho CRM notifications nest two levels; anything deeper is not one."""
MAX_FORM_FIELDS = 2000
"""Mailchimp's form has a dozen fields plus one per merge field and interest group."""
JSON_TYPES = frozenset({"application/json", "text/json", "text/plain"})
FORM_TYPE = "application/x-www-form-urlencoded"
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')


class MalformedRequestError(Exception):
    """A request refused before or while parsing: the HTTP status and a short reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        return web.json_response({"error": self.message}, status=self.status)


def require_json(request: web.Request) -> None:
    """Zoho CRM posts JSON; a body declared as anything else (a form, multipart) is 415."""
    if hdrs.CONTENT_TYPE not in request.headers:
        return
    kind = request.content_type
    if kind not in JSON_TYPES and not kind.endswith("+json"):
        raise MalformedRequestError(415, f"a JSON body is expected, not {kind}")


def require_form(request: web.Request) -> None:
    """Mailchimp posts ``application/x-www-form-urlencoded``; anything else is 415."""
    if request.content_type != FORM_TYPE:
        raise MalformedRequestError(415, f"a {FORM_TYPE} body is expected")


async def read_body(request: web.Request) -> bytes:
    """The raw body, or 413 above the application's ``client_max_size`` (declared or
    actual; :data:`MAX_BODY_BYTES` for the notification endpoint)."""
    limit = request.client_max_size
    too_large = MalformedRequestError(413, f"the body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise too_large from exc


def nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text opens more than ``limit`` arrays/objects at once (strings skipped)."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object: UTF-8, not too deep, well-formed, an object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(400, "the body is not UTF-8") from exc
    if nesting_exceeds(text):
        raise MalformedRequestError(400, f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise MalformedRequestError(400, "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise MalformedRequestError(400, "a JSON object is expected")
    return body


def form_fields(raw: bytes) -> dict[str, str]:
    """The body as form fields (the first of repeated names), UTF-8 and bounded in count."""
    try:
        pairs = parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:
        raise MalformedRequestError(400, "the body is not a valid form") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
