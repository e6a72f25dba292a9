"""Zoho's error envelope: ``{"code", "status": "error", "message", "details"}``.

Top-level errors are raised as :class:`ZohoError` and turned into responses by the
app's error middleware; per-record errors inside ``data[]`` are built with
:func:`error_body`. Messages come from the spec's ``API_Exception.message`` enum
(record.json) wherever it has one.
"""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


class ZohoError(Exception):
    """An error answered with ``status`` and Zoho's envelope as the whole body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.body = error_body(code, message, details)
        self.headers = headers or {}


def invalid_module() -> ZohoError:
    return ZohoError(400, "INVALID_MODULE", "The module name given seems to be invalid", {})


def required_param_missing_body(param: str) -> dict[str, Any]:
    """Details carry both ``param_name`` and ``param``: common.json ``ParamDetails``
    requires both, and the other files each name one of them."""
    return error_body(
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        {"param_name": param, "param": param},
    )


def required_param_missing(param: str) -> ZohoError:
    error = ZohoError(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing")
    error.body = required_param_missing_body(param)
    return error


def discrete_pagination_limit(limit: int) -> ZohoError:
    """Zoho's answer as captured in Airbyte #30977 (``page`` past the first ``limit``)."""
    return ZohoError(
        400,
        "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        f"You can only get the first {limit} records without using page_token param",
        {"limit": limit},
    )


def invalid_param(param: str, message: str = "invalid data") -> ZohoError:
    return ZohoError(400, "INVALID_DATA", message, {"param_name": param})


def invalid_id(record_id: str) -> ZohoError:
    return ZohoError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": record_id})


def invalid_body(message: str = "body") -> ZohoError:
    return ZohoError(400, "INVALID_DATA", message, {})
