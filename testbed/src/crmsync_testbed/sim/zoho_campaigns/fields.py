"""Contact fields: ``contact/allfields`` (alias ``getallcontactfields``) and ``custom/add``.

Docs: https://www.zoho.com/campaigns/help/developers/create-custom-field.html and
https://www.zoho.com/campaigns/help/developers/list-management.html (getallcontactfields).
The JSON shape of allfields, ``{"response": {"message", "code", "fieldname": [{"DISPLAY_NAME",
"FIELD_NAME", "no", "FIELD_ID"}]}}``, is the one Zoho documents for the same engine in
Marketing Automation (https://www.zoho.com/marketingautomation/help/developers/get-all-leads-fields.html).
``contactinfo`` keys are these display names.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_campaigns import errors
from crmsync_testbed.sim.zoho_campaigns.api import ApiCall, add_method
from crmsync_testbed.sim.zoho_campaigns.errors import ZohoApiError, success
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore

EMAIL_FIELD = "contact_email"
STANDARD_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("Contact Email", EMAIL_FIELD, "Email"),
    ("Title", "title", "Text"),
    ("First Name", "firstname", "Text"),
    ("Last Name", "lastname", "Text"),
    ("Job Title", "jobtitle", "Text"),
    ("Company Name", "companyname", "Text"),
    ("Phone", "phone", "Phone"),
    ("Secondary Email", "secondary_email", "Email"),
    ("Mobile", "mobile", "Phone"),
    ("Address", "address", "Text"),
    ("City", "city", "Text"),
    ("State", "state", "Text"),
    ("Zip Code", "zipcode", "Text"),
    ("Country", "country", "Text"),
    ("Website", "website", "URL"),
    ("Note", "note", "textarea"),
)
FIELD_TYPES = (
    "Text", "Integer", "Phone", "Date", "Picklist", "Email", "Checkbox", "LongInteger", "URL",
    "textarea", "RadioOption", "Multiselect", "DateTime", "Decimal", "Percent",
)  # fmt: skip
DEFAULT_FIELD_LENGTH = 20
_FIELD_NAME = re.compile(r"^[A-Za-z0-9 _]+$")


def ensure_standard_fields(store: CampaignsStore) -> int:
    """Create the standard fields once; returns how many fields exist."""
    for display, name, kind in STANDARD_FIELDS:
        if store.one("SELECT 1 FROM fields WHERE field_name = ?", name) is None:
            store.conn.execute(
                "INSERT INTO fields (field_id, field_name, display_name, field_type, field_length,"
                " is_custom) VALUES (?, ?, ?, ?, ?, 0)",
                (store.next_id("field"), name, display, kind, 100),
            )
    return int(store.scalar("SELECT COUNT(*) FROM fields"))


def all_fields(store: CampaignsStore) -> list[sqlite3.Row]:
    return store.all("SELECT * FROM fields ORDER BY is_custom, field_id")


def field_names_by_label(store: CampaignsStore) -> dict[str, str]:
    """Lower-cased display name *and* field name → field name (contactinfo accepts both)."""
    labels: dict[str, str] = {}
    for row in all_fields(store):
        labels[row["display_name"].lower()] = row["field_name"]
        labels[row["field_name"].lower()] = row["field_name"]
    return labels


def get_all_fields(call: ApiCall) -> dict[str, Any]:
    fieldname = [
        {
            "DISPLAY_NAME": row["display_name"],
            "FIELD_NAME": row["field_name"],
            "no": str(number),
            "FIELD_ID": str(row["field_id"]),
            "FIELD_TYPE": row["field_type"],
            "IS_CUSTOM": "true" if row["is_custom"] else "false",
        }
        for number, row in enumerate(all_fields(call.store), start=1)
    ]
    return {
        "response": {"message": "success", "code": "0", "fieldname": fieldname, "uri": call.uri}
    }


def add_custom_field(call: ApiCall) -> dict[str, Any]:
    display, kind = call.require("fieldname", "fieldtype")
    matched_type = next((t for t in FIELD_TYPES if t.lower() == kind.lower()), None)
    if matched_type is None or not _FIELD_NAME.match(display):
        raise ZohoApiError(errors.NO_FIELDS, "No fields found.")
    if call.store.one("SELECT 1 FROM fields WHERE display_name = ?", display) is not None:
        raise ZohoApiError(errors.DUPLICATE_FIELD, "Duplicate custom field found.")
    field_name = "cf_" + re.sub(r"[^a-z0-9]+", "_", display.lower()).strip("_")
    field_id = call.store.next_id("field")
    call.store.conn.execute(
        "INSERT INTO fields (field_id, field_name, display_name, field_type, field_length,"
        " is_custom) VALUES (?, ?, ?, ?, ?, 1)",
        (
            field_id,
            field_name,
            display,
            matched_type,
            call.integer("fieldlength", DEFAULT_FIELD_LENGTH, 1),
        ),
    )
    return success(
        call.uri,
        message="Success",
        mandatory_check="success",
        field_name=field_name,
        display_name=display,
        field_id=str(field_id),
    )


def add_routes(app: web.Application) -> None:
    add_method(app, "contact/allfields", get_all_fields)
    add_method(app, "getallcontactfields", get_all_fields, limit_name="contact/allfields")
    add_method(app, "custom/add", add_custom_field, http_methods=("POST",))
