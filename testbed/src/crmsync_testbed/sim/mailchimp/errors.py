"""Mailchimp's problem-detail errors (https://mailchimp.com/developer/marketing/docs/errors/).

Titles and detail texts are the ones real responses carry (captured in public issue
threads, see docs/sim-mailchimp.md), because clients match on them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

ERROR_DOC_URL = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiError(Exception):
    """An API failure that becomes a problem-detail document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": ERROR_DOC_URL,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": str(uuid.uuid4()),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self, base_url: str) -> web.Response:
        body = self.document()
        headers = {
            "X-Request-Id": body["instance"],
            "Link": f'<{base_url}/schema/3.0/ProblemDetailDocument.json>; rel="describedBy"',
            **self.headers,
        }
        return web.Response(
            status=self.status,
            text=json.dumps(body),
            content_type=PROBLEM_CONTENT_TYPE,
            charset="utf-8",
            headers=headers,
        )


def not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", "The requested resource could not be found.")


def invalid_resource(detail: str, errors: list[dict[str, Any]] | None = None) -> ApiError:
    return ApiError(400, "Invalid Resource", detail, errors)


def field_errors(errors: list[dict[str, Any]]) -> ApiError:
    return invalid_resource(
        "The resource submitted could not be validated. "
        "For field-specific details, see the 'errors' array.",
        errors,
    )


def missing_fields(*names: str) -> ApiError:
    return field_errors(
        [{"field": "", "message": f"Required fields were not provided: {', '.join(names)}"}]
    )


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "Bad Request", detail)


def json_parse_error() -> ApiError:
    return ApiError(
        400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error."
    )


def method_not_allowed() -> ApiError:
    return ApiError(
        405,
        "Method Not Allowed",
        "The requested method and resource are not compatible. "
        "See the Allow header for this resource's available methods.",
    )


def api_key_missing() -> ApiError:
    return ApiError(401, "API Key Missing", "Your request did not include an API key.")


def api_key_invalid() -> ApiError:
    return ApiError(
        401,
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    )


def too_many_requests(detail: str) -> ApiError:
    return ApiError(429, "Too Many Requests", detail)


def member_exists(email: str) -> ApiError:
    return ApiError(
        400,
        "Member Exists",
        f"{email} is already a list member. Use PUT to insert or update list members.",
    )


def forgotten_email(email: str) -> ApiError:
    return ApiError(
        400,
        "Forgotten Email Not Subscribed",
        f"{email} was permanently deleted and cannot be re-imported. "
        "The contact must re-subscribe to get back on the list.",
    )


def compliance_state(email: str) -> ApiError:
    return ApiError(
        400,
        "Member In Compliance State",
        f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed.",
    )


def fake_email(email: str) -> ApiError:
    return invalid_resource(f"{email} looks fake or invalid, please enter a real email address.")


def invalid_email() -> ApiError:
    return invalid_resource("Please provide a valid email address.")
