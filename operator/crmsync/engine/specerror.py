"""A spec the API server accepted but the operator cannot carry out."""

from __future__ import annotations


class SpecError(ValueError):
    """Names the field (``spec.trigger.schedule.timeZone``) and a CamelCase reason."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason
        self.message = f"{field}: {message}"
