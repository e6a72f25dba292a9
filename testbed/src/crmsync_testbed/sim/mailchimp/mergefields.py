"""Audience merge fields: definitions (``/lists/{list_id}/merge-fields``) and value checks."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from crmsync_testbed.sim.mailchimp import errors, rest
from crmsync_testbed.sim.mailchimp.lookups import require_list
from crmsync_testbed.sim.mailchimp.store import dump, load

TYPES = (
    "text",
    "number",
    "address",
    "phone",
    "date",
    "url",
    "imageurl",
    "radio",
    "dropdown",
    "birthday",
    "zip",
)
DEFAULT_FIELDS = (("FNAME", "First Name", "text"), ("LNAME", "Last Name", "text"))
ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")
ADDRESS_KEYS = ("addr1", "addr2", "city", "state", "zip", "country")
US_PHONE = re.compile(r"^\(?\d{3}\)?[-. ]?\d{3}[-. ]?\d{4}$")
ANY_PHONE = re.compile(r"^[+\d][\d\s().\-/]*(\s*(x|ext\.?)\s*\d+)?$")
US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")


def default_options(field_type: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if field_type == "text":
        options["size"] = 25
    elif field_type == "address":
        options["default_country"] = 164
    elif field_type == "phone":
        options["phone_format"] = "none"
    elif field_type == "date":
        options["date_format"] = "MM/DD/YYYY"
    elif field_type == "birthday":
        options["date_format"] = "MM/DD"
    elif field_type in ("dropdown", "radio"):
        options["choices"] = []
    options.update({k: v for k, v in (given or {}).items() if k != "size"})
    return options


def definitions(db: sqlite3.Connection, list_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT doc FROM merge_fields WHERE list_id = ? ORDER BY merge_id", (list_id,)
    ).fetchall()
    return [load(row["doc"]) for row in rows]


def _derive_tag(db: sqlite3.Connection, list_id: str, name: str, merge_id: int) -> str:
    base = re.sub(r"[^A-Z0-9]", "", name.upper())[:10] or f"MMERGE{merge_id}"
    tag, suffix = base, 1
    while db.execute(
        "SELECT 1 FROM merge_fields WHERE list_id = ? AND tag = ?", (list_id, tag)
    ).fetchone():
        suffix += 1
        tag = f"{base[: 10 - len(str(suffix))]}{suffix}"
    return tag


def add_field(db: sqlite3.Connection, list_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Create a merge field (also used by list creation and seeding)."""
    rest.require(body, "name", "type")
    rest.require_enum(body, "type", TYPES)
    row = db.execute(
        "SELECT COALESCE(MAX(merge_id), 0) + 1 AS next FROM merge_fields WHERE list_id = ?",
        (list_id,),
    ).fetchone()
    merge_id = int(row["next"])
    tag = str(body.get("tag") or "").upper() or _derive_tag(db, list_id, body["name"], merge_id)
    if (
        tag == "EMAIL"
        or db.execute(
            "SELECT 1 FROM merge_fields WHERE list_id = ? AND tag = ?", (list_id, tag)
        ).fetchone()
    ):
        raise errors.invalid_resource(
            f'A Merge Field with the tag "{tag}" already exists for this list.'
        )
    doc = {
        "merge_id": merge_id,
        "tag": tag,
        "name": body["name"],
        "type": body["type"],
        "required": bool(body.get("required", False)),
        "default_value": str(body.get("default_value", "")),
        "public": bool(body.get("public", True)),
        "display_order": int(body.get("display_order", merge_id + 1)),
        "options": default_options(body["type"], body.get("options")),
        "help_text": str(body.get("help_text", "")),
        "list_id": list_id,
    }
    db.execute(
        "INSERT INTO merge_fields (list_id, merge_id, tag, doc) VALUES (?, ?, ?, ?)",
        (list_id, merge_id, tag, dump(doc)),
    )
    return doc


# --- value validation -------------------------------------------------------------------


class InvalidValueError(ValueError):
    pass


def _text(value: Any, _: Mapping[str, Any]) -> Any:
    if isinstance(value, dict | list):
        raise InvalidValueError("Please enter a text value.")
    text = str(value)
    if len(text) > 255:
        raise InvalidValueError("Please enter a value of 255 characters or fewer.")
    return text


def _number(value: Any, _: Mapping[str, Any]) -> Any:
    if isinstance(value, bool):
        raise InvalidValueError("Please enter a number.")
    if isinstance(value, int | float):
        return value
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise InvalidValueError("Please enter a number.") from exc
    return int(number) if number.is_integer() else number


def _address(value: Any, options: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        parts = [part.strip() for part in value.split("  ")]
        value = dict(zip(ADDRESS_KEYS, parts, strict=False))
    if not isinstance(value, dict):
        raise InvalidValueError("Please enter a complete address.")
    if any(not str(value.get(key, "")).strip() for key in ADDRESS_REQUIRED):
        raise InvalidValueError("Please enter a complete address.")
    address = {key: str(value.get(key, "")) for key in ADDRESS_KEYS}
    address["country"] = address["country"] or "US"
    return address


def _phone(value: Any, options: Mapping[str, Any]) -> Any:
    text = str(value).strip()
    pattern = US_PHONE if options.get("phone_format") == "US" else ANY_PHONE
    if not pattern.match(text):
        raise InvalidValueError("Please enter a valid phone number.")
    return text


def _date(value: Any, options: Mapping[str, Any]) -> Any:
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text).isoformat()
        first, second, year = (int(part) for part in text.split("/"))
        day_first = str(options.get("date_format", "MM/DD/YYYY")).startswith("DD")
        month, day = (second, first) if day_first else (first, second)
        return date(year, month, day).isoformat()
    except ValueError as exc:
        raise InvalidValueError(
            f"Please enter the date in the format {options.get('date_format')}."
        ) from exc


def _birthday(value: Any, options: Mapping[str, Any]) -> Any:
    text = str(value).strip()
    try:
        first, second = (int(part) for part in text.split("/"))
        day_first = str(options.get("date_format", "MM/DD")).startswith("DD")
        month, day = (second, first) if day_first else (first, second)
        date(2000, month, day)  # a leap year, so 02/29 is a valid birthday
    except ValueError as exc:
        raise InvalidValueError(
            f"Please enter the date in the format {options.get('date_format')}."
        ) from exc
    return f"{month:02d}/{day:02d}"


def _choice(value: Any, options: Mapping[str, Any]) -> Any:
    choices = options.get("choices") or []
    if value not in choices:
        raise InvalidValueError(f"Please choose one of: {', '.join(map(str, choices))}.")
    return value


def _url(value: Any, _: Mapping[str, Any]) -> Any:
    text = str(value).strip()
    if not re.match(r"^https?://[^\s/]+", text):
        raise InvalidValueError("Please enter a valid URL.")
    return text


def _zip(value: Any, _: Mapping[str, Any]) -> Any:
    text = str(value).strip()
    if not US_ZIP.match(text):
        raise InvalidValueError("Please enter a valid zip code.")
    return text


VALIDATORS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "text": _text,
    "number": _number,
    "address": _address,
    "phone": _phone,
    "date": _date,
    "url": _url,
    "imageurl": _url,
    "radio": _choice,
    "dropdown": _choice,
    "birthday": _birthday,
    "zip": _zip,
}


def validate_values(
    defs: list[dict[str, Any]],
    current: Mapping[str, Any],
    given: Any,
    *,
    check_required: bool,
) -> dict[str, Any]:
    """``current`` merged with ``given``, every value checked against its field's type.

    Unknown tags are ignored, as Mailchimp does. Empty strings clear a value.
    """
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise errors.field_errors(
            [
                {
                    "field": "merge_fields",
                    "message": "Schema describes object, other type found instead",
                }
            ]
        )
    merged = dict(current)
    problems: list[dict[str, Any]] = []
    for field in defs:
        tag = field["tag"]
        if tag not in given:
            merged.setdefault(tag, "")
            continue
        value = given[tag]
        if value in ("", None):
            merged[tag] = ""
            continue
        try:
            merged[tag] = VALIDATORS[field["type"]](value, field.get("options", {}))
        except InvalidValueError as exc:
            problems.append({"field": tag, "message": str(exc)})
    if check_required:
        problems += [
            {"field": field["tag"], "message": "This value should not be blank."}
            for field in defs
            if field["required"] and merged.get(field["tag"]) in ("", None)
        ]
    if problems:
        raise errors.invalid_resource("Your merge fields were invalid.", problems)
    return merged


# --- endpoints ----------------------------------------------------------------------------


def _render(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "_links": []}


def _get_field(call: rest.Call) -> dict[str, Any]:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    row = call.db.execute(
        "SELECT doc FROM merge_fields WHERE list_id = ? AND merge_id = ?",
        (list_id, call.params["merge_id"]),
    ).fetchone()
    if row is None:
        raise errors.not_found()
    return dict(load(row["doc"]))


def list_fields(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    fields = definitions(call.db, list_id)
    if "type" in call.query:
        fields = [f for f in fields if f["type"] == call.query["type"]]
    if "required" in call.query:
        fields = [f for f in fields if f["required"] == call.flag("required")]
    page = rest.Page.of(call)
    window = fields[page.offset : page.offset + page.count]
    items = [_render(f) for f in window]
    return rest.Reply(rest.collection("merge_fields", items, len(fields), list_id=list_id))


def create_field(call: rest.Call) -> rest.Reply:
    list_id = call.params["list_id"]
    require_list(call.db, list_id)
    return rest.Reply(_render(add_field(call.db, list_id, call.object_body())))


def get_field(call: rest.Call) -> rest.Reply:
    return rest.Reply(_render(_get_field(call)))


def update_field(call: rest.Call) -> rest.Reply:
    doc = _get_field(call)
    body = call.object_body()
    for key in ("name", "required", "default_value", "public", "display_order", "help_text"):
        if key in body:
            doc[key] = body[key]
    if "options" in body and isinstance(body["options"], dict):
        doc["options"] = {**doc["options"], **body["options"]}
    if body.get("tag"):
        doc["tag"] = str(body["tag"]).upper()
    call.db.execute(
        "UPDATE merge_fields SET tag = ?, doc = ? WHERE list_id = ? AND merge_id = ?",
        (doc["tag"], dump(doc), doc["list_id"], doc["merge_id"]),
    )
    return rest.Reply(_render(doc))


def delete_field(call: rest.Call) -> rest.Reply:
    doc = _get_field(call)
    call.db.execute(
        "DELETE FROM merge_fields WHERE list_id = ? AND merge_id = ?",
        (doc["list_id"], doc["merge_id"]),
    )
    return rest.no_content()


ROUTES = [
    rest.get("/lists/{list_id}/merge-fields", list_fields),
    rest.post("/lists/{list_id}/merge-fields", create_field),
    rest.get("/lists/{list_id}/merge-fields/{merge_id}", get_field),
    rest.patch("/lists/{list_id}/merge-fields/{merge_id}", update_field),
    rest.delete("/lists/{list_id}/merge-fields/{merge_id}", delete_field),
]
