"""Subform modules: the modules behind ``subform`` fields, served by ``settings/fields``.

Zoho keeps a subform's rows in a module of its own, named in the field metadata
(``subform.module``; v8 also ``associated_module``). Zoho's v8 field-meta doc lists
subform modules among those ``GET /settings/fields?module=`` answers for, and the SDKs
read them to learn the row fields. A subform module's name is unique in an organisation,
so the local server names each after its parent: ``Contacts_Social_Profiles``.
"""

from __future__ import annotations

from crmsync_testbed.sim.zoho_crm.fields import MODULES, FieldDef, ModuleDef, subform_module

SOCIAL_NETWORKS = ("-None-", "LinkedIn", "X", "Facebook", "Instagram")


def _row_fields(parent: ModuleDef) -> tuple[FieldDef, ...]:
    return (
        FieldDef("Parent_Id", "lookup", read_only=True, lookup=parent.api_name),
        FieldDef("Network", "picklist", picklist=SOCIAL_NETWORKS),
        FieldDef("Handle", "text", length=120),
        FieldDef("Profile_URL", "website", label="Profile URL"),
    )


def _subform_modules() -> dict[str, ModuleDef]:
    found: dict[str, ModuleDef] = {}
    for parent in MODULES.values():
        for index, field in enumerate(parent.fields):
            if field.data_type != "subform":
                continue
            minified = subform_module(parent, index)
            found[minified["api_name"]] = ModuleDef(
                api_name=minified["api_name"],
                singular=field.display_label,
                module_id=int(minified["id"]),
                fields=_row_fields(parent),
                name_fields=(),
                duplicate_check_fields=(),
                email_field=None,
            )
    return found


SUBFORM_MODULES: dict[str, ModuleDef] = _subform_modules()


def subform_module_for(api_name: str) -> ModuleDef | None:
    """The subform module by API name, matched case-insensitively as Zoho does."""
    for name, module in SUBFORM_MODULES.items():
        if name.lower() == api_name.lower():
            return module
    return None
