"""Module and field metadata: ``GET /settings/modules`` and ``GET /settings/fields``.

The definitions here are also the schema the record handlers validate against
(mandatory fields, data types, lookups, read-only system fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import minified_user
from crmsync_testbed.sim.zoho_crm.errors import invalid_module

JSON_TYPES: dict[str, str] = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "date": "string",
    "datetime": "string",
    "profileimage": "string",
    "autonumber": "string",
    "bigint": "string",
    "boolean": "boolean",
    "integer": "integer",
    "double": "double",
    "currency": "double",
    "multiselectpicklist": "jsonarray",
    "multiuserlookup": "jsonarray",
    "multiselectlookup": "jsonarray",
    "subform": "jsonarray",
    "fileupload": "jsonarray",
    "imageupload": "jsonarray",
    "lookup": "jsonobject",
    "capture": "jsonobject",
    "ownerlookup": "jsonobject",
    "userlookup": "jsonobject",
    "consent_lookup": "jsonobject",
}
"""``json_type`` per ``data_type`` (values from Zoho's field metadata)."""


@dataclass(frozen=True)
class FieldDef:
    api_name: str
    data_type: str
    label: str = ""
    mandatory: bool = False
    read_only: bool = False
    custom: bool = False
    lookup: str | None = None
    """Target module of a ``lookup`` field."""
    picklist: tuple[str, ...] = ()
    unique: bool = False
    length: int = 255

    @property
    def display_label(self) -> str:
        return self.label or self.api_name.replace("_", " ")

    @property
    def json_type(self) -> str:
        return JSON_TYPES[self.data_type]


@dataclass(frozen=True)
class ModuleDef:
    api_name: str
    singular: str
    module_id: int
    fields: tuple[FieldDef, ...]
    name_fields: tuple[str, ...]
    """Fields joined (space-separated) into a record's display name."""
    duplicate_check_fields: tuple[str, ...]
    """System-defined duplicate check of upsert when the request names none."""
    custom_module: bool = False
    email_field: str | None = "Email"
    by_name: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.api_name: f for f in self.fields})

    @property
    def plural(self) -> str:
        return self.api_name

    def display_name(self, doc: dict[str, Any]) -> str:
        parts = [str(doc[n]) for n in self.name_fields if doc.get(n)]
        return " ".join(parts)

    @property
    def mandatory(self) -> list[FieldDef]:
        return [f for f in self.fields if f.mandatory]


SE_MODULE = "se_module"
"""Lookup target Zoho names for a lookup into any module (a Note's ``Parent_Id``); the
SDKs test for it (``Constants.SE_MODULE``) before following a lookup."""


def _f(api_name: str, data_type: str, **kwargs: Any) -> FieldDef:
    return FieldDef(api_name, data_type, **kwargs)


SYSTEM_FIELDS: tuple[FieldDef, ...] = (
    _f("Owner", "ownerlookup", label="Record Owner"),
    _f("Created_By", "ownerlookup", read_only=True),
    _f("Modified_By", "ownerlookup", read_only=True),
    _f("Created_Time", "datetime", read_only=True),
    _f("Modified_Time", "datetime", read_only=True),
    _f("Last_Activity_Time", "datetime", read_only=True),
    _f("Tag", "text", read_only=True),
    _f("Last_Followed_By", "userlookup", label="Last followed by", read_only=True),
)
PERSON_CONSENT_FIELDS: tuple[FieldDef, ...] = (
    _f("Email_Opt_Out", "boolean"),
    _f(
        "Unsubscribed_Mode",
        "picklist",
        read_only=True,
        picklist=("Consent form", "Manual", "Unsubscribe link", "Zoho Campaigns"),
    ),
    _f("Unsubscribed_Time", "datetime", read_only=True),
    _f("Record_Image", "profileimage", label="Lead Image"),
    _f(
        "Data_Processing_Basis",
        "picklist",
        label="Data Processing Basis",
        picklist=(
            "Consent",
            "Contract",
            "Legal Obligation",
            "Legitimate Interests",
            "Not Applicable",
            "Obtained",
            "Pending",
            "Vital Interests",
        ),
    ),
    _f("Data_Processing_Basis_Details", "consent_lookup", read_only=True),
)
PERSON_CUSTOM_FIELDS: tuple[FieldDef, ...] = (
    _f(
        "Preferred_Language",
        "picklist",
        custom=True,
        picklist=("-None-", "English", "Español", "Polski", "Français", "Deutsch"),
    ),
    _f(
        "Newsletter_Topics",
        "multiselectpicklist",
        custom=True,
        picklist=("Product news", "Events", "Offers", "Research"),
    ),
    _f("Loyalty_Points", "integer", custom=True),
    _f("Customer_Since", "date", custom=True),
    _f("Signed_Consent_Form", "fileupload", custom=True),
    _f("Badge_Photo", "imageupload", custom=True),
    _f("Account_Managers", "multiuserlookup", custom=True),
    _f("Interested_Products", "multiselectlookup", custom=True),
    _f("Social_Profiles", "subform", custom=True),
)
LEAD_SOURCES = (
    "-None-",
    "Advertisement",
    "Cold Call",
    "Chat",
    "Partner",
    "Trade Show",
    "Web Download",
    "Web Research",
)
INDUSTRIES = (
    "-None-",
    "Technology",
    "Retail",
    "Manufacturing",
    "Education",
    "Healthcare",
    "Finance",
)

LEADS = ModuleDef(
    api_name="Leads",
    singular="Lead",
    module_id=5725767000000002175,
    name_fields=("First_Name", "Last_Name"),
    duplicate_check_fields=("Email",),
    fields=(
        _f("First_Name", "text", length=40),
        _f("Last_Name", "text", mandatory=True, length=80),
        _f("Email", "email", length=100),
        _f("Secondary_Email", "email", length=100),
        _f("Phone", "phone", length=30),
        _f("Mobile", "phone", length=30),
        _f("Company", "text", length=200),
        _f("Designation", "text", label="Title", length=100),
        _f("Lead_Source", "picklist", picklist=LEAD_SOURCES),
        _f(
            "Lead_Status",
            "picklist",
            picklist=("-None-", "Not Contacted", "Contacted", "Junk Lead", "Qualified"),
        ),
        _f("Industry", "picklist", picklist=INDUSTRIES),
        _f("Website", "website"),
        _f("Street", "text"),
        _f("City", "text"),
        _f("State", "text"),
        _f("Zip_Code", "text"),
        _f("Country", "text"),
        _f("Annual_Revenue", "currency"),
        _f("No_of_Employees", "integer"),
        _f("Description", "textarea", length=32000),
        *PERSON_CONSENT_FIELDS,
        *PERSON_CUSTOM_FIELDS,
        *SYSTEM_FIELDS,
    ),
)
CONTACTS = ModuleDef(
    api_name="Contacts",
    singular="Contact",
    module_id=5725767000000002179,
    name_fields=("First_Name", "Last_Name"),
    duplicate_check_fields=("Email",),
    fields=(
        _f("First_Name", "text", length=40),
        _f("Last_Name", "text", mandatory=True, length=80),
        _f("Email", "email", length=100),
        _f("Secondary_Email", "email", length=100),
        _f("Phone", "phone", length=30),
        _f("Mobile", "phone", length=30),
        _f("Title", "text", length=100),
        _f("Department", "text"),
        _f("Account_Name", "lookup", lookup="Accounts"),
        _f("Reporting_To", "lookup", lookup="Contacts"),
        _f("Lead_Source", "picklist", picklist=LEAD_SOURCES),
        _f("Date_of_Birth", "date"),
        _f("Mailing_Street", "text"),
        _f("Mailing_City", "text"),
        _f("Mailing_Zip", "text"),
        _f("Mailing_Country", "text"),
        _f("Description", "textarea", length=32000),
        *PERSON_CONSENT_FIELDS,
        *PERSON_CUSTOM_FIELDS,
        *SYSTEM_FIELDS,
    ),
)
ACCOUNTS = ModuleDef(
    api_name="Accounts",
    singular="Account",
    module_id=5725767000000002177,
    name_fields=("Account_Name",),
    duplicate_check_fields=("Account_Name",),
    email_field=None,
    fields=(
        _f("Account_Name", "text", mandatory=True, length=200),
        _f("Phone", "phone", length=30),
        _f("Website", "website"),
        _f("Industry", "picklist", picklist=INDUSTRIES),
        _f(
            "Account_Type",
            "picklist",
            picklist=("-None-", "Customer", "Partner", "Prospect", "Reseller", "Vendor"),
        ),
        _f("Employees", "integer"),
        _f("Annual_Revenue", "currency"),
        _f("Billing_City", "text"),
        _f("Billing_Country", "text"),
        _f("Parent_Account", "lookup", lookup="Accounts"),
        _f("Description", "textarea", length=32000),
        _f("Customer_Tier", "picklist", custom=True, picklist=("-None-", "Gold", "Silver")),
        *SYSTEM_FIELDS,
    ),
)
DEAL_STAGES = (
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
DEALS = ModuleDef(
    api_name="Deals",
    singular="Deal",
    module_id=5725767000000002181,
    name_fields=("Deal_Name",),
    duplicate_check_fields=("Deal_Name",),
    email_field=None,
    fields=(
        _f("Deal_Name", "text", mandatory=True, length=120),
        _f("Stage", "picklist", mandatory=True, picklist=DEAL_STAGES),
        _f("Amount", "currency"),
        _f("Closing_Date", "date"),
        _f("Account_Name", "lookup", lookup="Accounts"),
        _f("Contact_Name", "lookup", lookup="Contacts"),
        _f("Campaign_Source", "lookup", lookup="Campaigns"),
        _f("Pipeline", "picklist", picklist=("Standard (Standard)",)),
        _f("Probability", "integer"),
        _f("Lead_Source", "picklist", picklist=LEAD_SOURCES),
        _f("Type", "picklist", picklist=("-None-", "Existing Business", "New Business")),
        _f("Description", "textarea", length=32000),
        *SYSTEM_FIELDS,
    ),
)
CAMPAIGNS = ModuleDef(
    api_name="Campaigns",
    singular="Campaign",
    module_id=5725767000000002183,
    name_fields=("Campaign_Name",),
    duplicate_check_fields=("Campaign_Name",),
    email_field=None,
    fields=(
        _f("Campaign_Name", "text", mandatory=True, length=120),
        _f(
            "Type",
            "picklist",
            picklist=("-None-", "Email", "Webinar", "Conference", "Advertisement", "Others"),
        ),
        _f("Status", "picklist", picklist=("-None-", "Planning", "Active", "Inactive", "Complete")),
        _f("Start_Date", "date"),
        _f("End_Date", "date"),
        _f("Expected_Revenue", "currency"),
        _f("Budgeted_Cost", "currency"),
        _f("Actual_Cost", "currency"),
        _f("Expected_Response", "integer"),
        _f("Num_sent", "integer", label="Num sent"),
        _f("Description", "textarea", length=32000),
        *SYSTEM_FIELDS,
    ),
)
SUBSCRIBERS = ModuleDef(
    api_name="Subscribers",
    singular="Subscriber",
    module_id=5725767000000091001,
    name_fields=("Name",),
    duplicate_check_fields=("Email",),
    custom_module=True,
    fields=(
        _f("Name", "text", mandatory=True, label="Subscriber Name", length=120),
        _f("Email", "email", unique=True, length=100),
        _f("Phone", "phone", custom=True),
        _f("Email_Opt_Out", "boolean"),
        _f(
            "Signup_Source",
            "picklist",
            custom=True,
            picklist=("-None-", "Website", "Event", "Import"),
        ),
        _f(
            "Preferred_Language",
            "picklist",
            custom=True,
            picklist=("-None-", "English", "Español", "Polski", "Français", "Deutsch"),
        ),
        _f("Related_Contact", "lookup", custom=True, lookup="Contacts"),
        *SYSTEM_FIELDS,
    ),
)
NOTES = ModuleDef(
    api_name="Notes",
    singular="Note",
    module_id=5725767000000002185,
    name_fields=("Note_Title",),
    duplicate_check_fields=(),
    email_field=None,
    fields=(
        _f("Note_Title", "text"),
        _f("Note_Content", "textarea", mandatory=True, length=32000),
        _f("Parent_Id", "lookup", read_only=True, lookup=SE_MODULE),
        _f("$capture", "capture"),
        *SYSTEM_FIELDS[:5],
    ),
)

MODULES: dict[str, ModuleDef] = {
    m.api_name: m for m in (LEADS, CONTACTS, ACCOUNTS, DEALS, CAMPAIGNS, SUBSCRIBERS, NOTES)
}
RECORD_MODULES = ("Leads", "Contacts", "Accounts", "Deals", "Campaigns", "Subscribers")
"""Modules served by the generic record endpoints (Notes go through the related list)."""


def module_for(api_name: str, *, allow_notes: bool = False) -> ModuleDef:
    """The module by API name (Zoho matches it case-insensitively); INVALID_MODULE if none."""
    for name, module in MODULES.items():
        if name.lower() == api_name.lower() and (allow_notes or name in RECORD_MODULES):
            return module
    raise invalid_module()


def field_id(module: ModuleDef, index: int) -> str:
    return str(module.module_id + 1000 + index)


SUBFORM_MODULE_ID_OFFSET = 70000


def subform_module(parent: ModuleDef, index: int) -> dict[str, str]:
    """Minified module of the subform behind ``parent.fields[index]`` (see subforms.py)."""
    name = f"{parent.api_name}_{parent.fields[index].api_name}"
    return {"api_name": name, "id": str(parent.module_id + SUBFORM_MODULE_ID_OFFSET + index)}


def minified_module(module: ModuleDef) -> dict[str, Any]:
    return {"api_name": module.api_name, "id": str(module.module_id)}


def field_json(module: ModuleDef, index: int, fd: FieldDef) -> dict[str, Any]:
    """One entry of ``GET /settings/fields`` (key set per fields.json ``fields``)."""
    body: dict[str, Any] = {
        "api_name": fd.api_name,
        "id": field_id(module, index),
        "field_label": fd.display_label,
        "display_label": fd.display_label,
        "column_name": fd.api_name.upper(),
        "data_type": fd.data_type,
        "json_type": fd.json_type,
        "system_mandatory": fd.mandatory,
        "read_only": fd.read_only,
        "field_read_only": fd.read_only,
        "custom_field": fd.custom,
        "visible": True,
        "virtual_field": False,
        "length": fd.length,
        "decimal_place": 2 if fd.data_type in ("currency", "double") else None,
        "sortable": fd.data_type not in ("multiselectpicklist", "subform", "fileupload"),
        "searchable": fd.data_type in ("text", "email", "phone", "picklist"),
        "filterable": True,
        "mass_update": not fd.read_only,
        "webhook": True,
        "blueprint_supported": not fd.read_only,
        "businesscard_supported": True,
        "available_in_user_layout": True,
        "display_field": fd.api_name in module.name_fields,
        "pick_list_values_sorted_lexically": False,
        "separator": False,
        "enable_colour_code": False,
        "colour_code_enabled_by_system": False,
        "created_source": "custom" if fd.custom else "default",
        "type": "used",
        "ui_type": 1,
        "display_type": -1,
        "show_type": 0,
        "category": 0,
        "sequence_number": index + 1,
        "quick_sequence_number": str(index + 1),
        "operation_type": {
            "web_update": not fd.read_only,
            "api_create": not fd.read_only,
            "web_create": not fd.read_only,
            "api_update": not fd.read_only,
        },
        "view_type": {
            "view": True,
            "edit": not fd.read_only,
            "quick_create": fd.mandatory,
            "create": not fd.read_only,
        },
        "email_parser": {"fields_update_supported": False, "record_operations_supported": False},
        "hipaa_compliance_enabled": False,
        "hipaa_compliance": {"restricted_in_export": False, "restricted": False},
        "customizable_properties": [],
        "profiles": [],
        "pick_list_values": [
            {
                "display_value": v,
                "actual_value": v,
                "reference_value": v,
                "id": str(module.module_id + 5000 + i),
                "sequence_number": i + 1,
                "type": "used",
            }
            for i, v in enumerate(fd.picklist)
        ],
        "lookup": _lookup(module, index, fd),
        "unique": {"casesensitive": "false"} if fd.unique else None,
        "subform": (
            {"module": subform_module(module, index)["api_name"], "id": field_id(module, index)}
            if fd.data_type == "subform"
            else None
        ),
        "multiselectlookup": {} if fd.data_type == "multiselectlookup" else None,
        "currency": {"rounding_option": "normal", "precision": 2}
        if fd.data_type == "currency"
        else None,
        "formula": None,
        "auto_number": None,
        "multi_module_lookup": None,
        "rollup_summary": None,
        "additional_column": None,
        "created_time": None,
        "modified_time": None,
        "common.picklist": None,
        "static_field": False,
        "_update_existing_records": False,
        "number_separator": False,
    }
    if fd.data_type == "subform":
        body["associated_module"] = subform_module(module, index)
    if module.api_name == "Leads":
        body["convert_mapping"] = {
            target: mapping.get(fd.api_name) for target, mapping in LEAD_CONVERT_MAPPING.items()
        }
    return body


def _lookup(module: ModuleDef, index: int, fd: FieldDef) -> dict[str, Any] | None:
    target = MODULES.get(fd.lookup or "")
    if target is not None:
        label, minified = target.singular, minified_module(target)
    elif fd.lookup == SE_MODULE:
        label, minified = fd.display_label, {"api_name": SE_MODULE, "id": None}
    else:
        return None
    return {
        "display_label": label,
        "api_name": label if target is not None else fd.api_name,
        "module": minified,
        "id": field_id(module, index),
    }


LEAD_CONVERT_MAPPING: dict[str, dict[str, str]] = {
    "Contacts": {
        "First_Name": "First_Name",
        "Last_Name": "Last_Name",
        "Email": "Email",
        "Secondary_Email": "Secondary_Email",
        "Phone": "Phone",
        "Mobile": "Mobile",
        "Designation": "Title",
        "Lead_Source": "Lead_Source",
        "Street": "Mailing_Street",
        "City": "Mailing_City",
        "Zip_Code": "Mailing_Zip",
        "Country": "Mailing_Country",
        "Description": "Description",
        "Email_Opt_Out": "Email_Opt_Out",
        "Preferred_Language": "Preferred_Language",
        "Newsletter_Topics": "Newsletter_Topics",
        "Loyalty_Points": "Loyalty_Points",
        "Customer_Since": "Customer_Since",
        "Data_Processing_Basis": "Data_Processing_Basis",
    },
    "Accounts": {
        "Company": "Account_Name",
        "Phone": "Phone",
        "Website": "Website",
        "Industry": "Industry",
        "Annual_Revenue": "Annual_Revenue",
        "No_of_Employees": "Employees",
        "City": "Billing_City",
        "Country": "Billing_Country",
    },
    "Deals": {"Lead_Source": "Lead_Source"},
}
"""Which Lead field fills which field of the records a conversion creates."""


def module_json(module: ModuleDef) -> dict[str, Any]:
    """One entry of ``GET /settings/modules`` (keys per modules.json ``modules``)."""
    return {
        "id": str(module.module_id),
        "api_name": module.api_name,
        "module_name": module.api_name,
        "singular_label": module.singular,
        "plural_label": module.plural,
        "generated_type": "custom" if module.custom_module else "default",
        "api_supported": True,
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "visible": True,
        "convertable": module.api_name == "Leads",
        "show_as_tab": True,
        "quick_create": True,
        "recycle_bin_on_delete": True,
        "global_search_supported": True,
        "filter_supported": True,
        "triggers_supported": True,
        "feeds_required": False,
        "scoring_supported": False,
        "webform_supported": True,
        "kanban_view_supported": True,
        "chart_view_supported": True,
        "emailTemplate_support": module.email_field is not None,
        "email_parser_supported": False,
        "inventory_template_supported": False,
        "isBlueprintSupported": True,
        "presence_sub_menu": False,
        "description": None,
        "web_link": None,
        "modified_time": None,
        "modified_by": minified_user(),
        "parent_module": {},
        "sequence_number": list(MODULES).index(module.api_name) + 1,
        "visibility": 1,
        "profile_count": 1,
        "business_card_field_limit": 5,
        "per_page": 200,
        "arguments": [],
        "profiles": [],
        "track_current_data": False,
        "activity_badge": "Disabled",
    }


async def get_modules(request: web.Request) -> web.Response:
    """``GET /settings/modules``; modules.json ``Get Modules``."""
    modules = [module_json(MODULES[name]) for name in (*RECORD_MODULES, "Notes")]
    return web.json_response({"modules": modules})
