"""Where a record's Account and Deal are found, and which of their changes are routed (Z3)."""

from __future__ import annotations

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.fieldmapping import RelatedRecord
from crmsync.engine.related import parent_source, related_source, routed_sources
from crmsync.engine.settings import SyncSettings


def settings_for(module: str, related: str) -> SyncSettings:
    spec = ContactSyncSpec.model_validate(
        {
            "crm": {"connectionRef": {"name": "crm"}, "module": module},
            "target": {"connectionRef": {"name": "mc"}, "listId": "l1"},
            "fieldMapping": [{"crmField": "Stage", "campaignField": "STAGE", "related": related}],
        }
    )
    return SyncSettings.resolve(spec, mapping=None, policy=None, target_provider="mailchimp")


def test_a_contacts_deal_is_found_from_the_deals_naming_it() -> None:
    deal = related_source("Contacts", RelatedRecord.DEAL)
    assert deal is not None
    assert (deal.module, deal.lookup_field, deal.back_link) == ("Deals", None, "Contact_Name")
    assert deal.events == ["Deals.create", "Deals.edit"]
    # A Contact has no Deal lookup to read: the Deal fields cost no extra Contact field.
    assert "Deal_Name" not in settings_for("Contacts", "Deal").record_fields
    assert "Account_Name" not in settings_for("Contacts", "Deal").record_fields


def test_other_modules_name_their_account_and_deal_in_lookups() -> None:
    assert "Account_Name" in settings_for("Contacts", "Account").record_fields
    assert "Deal_Name" in settings_for("Subscribers", "Deal").record_fields
    custom = related_source("Subscribers", RelatedRecord.DEAL)
    assert custom is not None and custom.lookup_field == "Deal_Name" and not custom.events
    assert related_source("Contacts", RelatedRecord.RECORD) is None


def test_only_contacts_route_their_related_changes() -> None:
    both = [RelatedRecord.DEAL, RelatedRecord.ACCOUNT, RelatedRecord.RECORD]
    assert [s.module for s in routed_sources("Contacts", both)] == ["Accounts", "Deals"]
    assert routed_sources("Leads", both) == []
    assert routed_sources("Subscribers", both) == []
    deals = parent_source("Contacts", "Deals")
    assert deals is not None and deals.back_link == "Contact_Name"
    assert parent_source("Leads", "Accounts") is None
    assert parent_source("Contacts", "Campaigns") is None


def test_a_mapping_of_records_the_module_cannot_reach_is_named() -> None:
    from crmsync.engine.related import unlinked

    deals = {RelatedRecord.DEAL: ["Deal_Name", "Contact_Name"]}
    both = [RelatedRecord.ACCOUNT, RelatedRecord.DEAL, RelatedRecord.RECORD]
    assert unlinked("Contacts", both, ["Email", "Account_Name"], deals) == []
    (leads,) = unlinked("Leads", [RelatedRecord.ACCOUNT], ["Email", "Company"], {})
    assert "Leads records name no Account (no Account_Name lookup)" in leads
    assert len(unlinked("Leads", both, ["Email"], deals)) == 2
    (moved,) = unlinked("Contacts", [RelatedRecord.DEAL], ["Email"], {RelatedRecord.DEAL: []})
    assert "no Deals field Contact_Name names the Contacts record" in moved
