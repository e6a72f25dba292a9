"""Bulk seed of the local Zoho CRM with realistic, messy data (straight SQL, no HTTP).

Accounts (default: one per 10 contacts), Contacts linked to accounts, Leads (some
converted: each converted lead also has its Contact, same email), Deals linked to a
contact and its account (default: one per 20 contacts), five Campaigns with members.
Messiness from :class:`crmsync_testbed.sim.vendor.SeedOptions`: invalid emails, duplicate emails
written differently, opted-out people (``Email_Opt_Out``), converted leads.
No notifications are sent for seeded records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crmsync_testbed.sim.fakedata import Company, FakeData, Messiness, Person, normalise_email
from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_crm.auth import install_client
from crmsync_testbed.sim.zoho_crm.context import minified_user
from crmsync_testbed.sim.zoho_crm.fields import CAMPAIGNS, DEAL_STAGES
from crmsync_testbed.sim.zoho_crm.related import MEMBER_STATUSES
from crmsync_testbed.sim.zoho_crm.store import CrmStore, NewRecord, now_ms, zoho_time
from crmsync_testbed.sim.zoho_crm.users import install_users

YEAR_MS = 365 * 24 * 3600 * 1000
BATCH = 5000
CAMPAIGN_NAMES = (
    "Spring Newsletter",
    "Product Launch Webinar",
    "Trade Show Invitations",
    "Customer Survey",
    "Winback Offer",
)
CAMPAIGN_MEMBER_RATE = 0.3


class Seeder:
    def __init__(self, store: CrmStore, options: SeedOptions) -> None:
        self.store = store
        self.options = options
        self.fake = FakeData(options.random_seed)
        self.rng = random.Random(options.random_seed + 1)
        self.now = now_ms()
        self.messiness = Messiness(
            invalid_email_rate=options.invalid_email_rate,
            duplicate_email_rate=options.duplicate_email_rate,
            opted_out_rate=options.opted_out_rate,
            converted_lead_rate=options.converted_lead_rate,
        )

    def _moment(self) -> int:
        return self.now - self.rng.randrange(YEAR_MS)

    def _system(self, at: int) -> dict[str, Any]:
        user, stamp = minified_user(), zoho_time(at)
        return {
            "Owner": user,
            "Created_By": user,
            "Modified_By": user,
            "Created_Time": stamp,
            "Modified_Time": stamp,
        }

    def _insert(self, rows: list[tuple[int, NewRecord]]) -> None:
        for start in range(0, len(rows), BATCH):
            with self.store.transaction():
                self.store.insert_many_with_ids(rows[start : start + BATCH])

    def _person_doc(self, person: Person, at: int, module: str) -> dict[str, Any]:
        doc = {
            **self._system(at),
            "First_Name": person.first_name,
            "Last_Name": person.last_name,
            "Email": person.email,
            "Phone": person.phone,
            "Mobile": person.mobile,
            "Lead_Source": person.lead_source,
            "Email_Opt_Out": person.opted_out,
            "Preferred_Language": self.rng.choice(("English", "Español", "Polski", "Français")),
            "Newsletter_Topics": self.rng.sample(("Product news", "Events", "Offers"), 2),
        }
        if person.opted_out:
            doc["Unsubscribed_Mode"] = "Unsubscribe link"
            doc["Unsubscribed_Time"] = zoho_time(at)
        if module == "Leads":
            doc.update(
                {
                    "Company": person.company.name if person.company else None,
                    "Designation": person.title,
                    "City": person.city,
                    "Country": person.country,
                    "Lead_Status": "Not Contacted",
                }
            )
        else:
            doc.update(
                {
                    "Title": person.title,
                    "Mailing_City": person.city,
                    "Mailing_Country": person.country,
                }
            )
        return doc

    def accounts(self, companies: list[Company]) -> list[tuple[int, str]]:
        ids = self.store.next_ids(len(companies))
        rows = []
        for record_id, company in zip(ids, companies, strict=True):
            at = self._moment()
            doc = {
                **self._system(at),
                "Account_Name": company.name,
                "Phone": company.phone,
                "Website": company.website,
                "Industry": company.industry,
                "Billing_City": company.city,
                "Billing_Country": company.country,
            }
            rows.append((record_id, NewRecord("Accounts", doc, None, at)))
        self._insert(rows)
        return [(i, c.name) for i, c in zip(ids, companies, strict=True)]

    def people(
        self, module: str, people: list[Person], accounts: list[tuple[int, str]]
    ) -> list[tuple[int, Person]]:
        ids = self.store.next_ids(len(people))
        rows = []
        for index, (record_id, person) in enumerate(zip(ids, people, strict=True)):
            at = self._moment()
            doc = self._person_doc(person, at, module)
            if module == "Contacts" and accounts:
                account_id, account_name = accounts[index % len(accounts)]
                doc["Account_Name"] = {"name": account_name, "id": str(account_id)}
            rows.append((record_id, NewRecord(module, doc, normalise_email(person.email), at)))
        self._insert(rows)
        return list(zip(ids, people, strict=True))

    def converted_leads(self, leads: list[tuple[int, Person]]) -> int:
        converted = [(i, p) for i, p in leads if p.converted]
        if not converted:
            return 0
        contacts = self.people("Contacts", [p for _, p in converted], [])
        with self.store.transaction():
            for (lead_id, _), (contact_id, _) in zip(converted, contacts, strict=True):
                record = self.store.get("Leads", lead_id)
                assert record is not None
                detail = {
                    "convert_user": minified_user(),
                    "contact": str(contact_id),
                    "account": None,
                    "deal": None,
                    "converted_time": record.doc["Modified_Time"],
                }
                self.store.mark_converted(
                    lead_id, {**record.doc, "$converted_detail": detail}, record.modified_ms
                )
        return len(converted)

    def deals(
        self, count: int, contacts: list[tuple[int, Person]], accounts: list[tuple[int, str]]
    ) -> int:
        ids = self.store.next_ids(count)
        rows = []
        for n, record_id in enumerate(ids):
            contact_id, person = contacts[(n * 7) % len(contacts)]
            at = self._moment()
            doc = {
                **self._system(at),
                "Deal_Name": f"{person.last_name} – {self.rng.choice(('Renewal', 'Upsell', 'New'))}",
                "Stage": self.rng.choice(DEAL_STAGES),
                "Amount": float(self.rng.randrange(500, 90_000)),
                "Closing_Date": zoho_time(at + YEAR_MS // 4)[:10],
                "Contact_Name": {"name": person.full_name, "id": str(contact_id)},
            }
            if accounts:
                account_id, name = accounts[((n * 7) % len(contacts)) % len(accounts)]
                doc["Account_Name"] = {"name": name, "id": str(account_id)}
            rows.append((record_id, NewRecord("Deals", doc, None, at)))
        self._insert(rows)
        return count

    def campaigns(self, members: list[int]) -> int:
        ids = self.store.next_ids(len(CAMPAIGN_NAMES))
        rows = []
        for record_id, name in zip(ids, CAMPAIGN_NAMES, strict=True):
            at = self._moment()
            doc = {
                **self._system(at),
                "Campaign_Name": name,
                "Type": "Email",
                "Status": self.rng.choice(CAMPAIGNS.by_name["Status"].picklist[1:]),
            }
            rows.append((record_id, NewRecord("Campaigns", doc, None, at)))
        self._insert(rows)

        def links() -> Iterator[tuple[int, str, int, dict[str, Any]]]:
            for member in members:
                if self.rng.random() < CAMPAIGN_MEMBER_RATE:
                    status = self.rng.choice(MEMBER_STATUSES)
                    yield member, "Campaigns", self.rng.choice(ids), {"Member_Status": status}

        with self.store.transaction():
            self.store.relate_many(links())
        return len(ids)


def seed(data_dir: Path, options: SeedOptions) -> dict[str, int]:
    store = CrmStore(data_dir / "crm.sqlite3")
    try:
        install_client(store)
        install_users(store)
        seeder = Seeder(store, options)
        n_accounts = options.accounts or (max(1, options.contacts // 10) if options.contacts else 0)
        companies = [seeder.fake.company() for _ in range(n_accounts)]
        accounts = seeder.accounts(companies)
        contact_people = seeder.fake.people(options.contacts, seeder.messiness)
        contacts = seeder.people("Contacts", contact_people, accounts)
        lead_people = seeder.fake.people(options.leads, seeder.messiness, companies or None)
        leads = seeder.people("Leads", lead_people, [])
        converted = seeder.converted_leads(leads)
        n_deals = options.deals or options.contacts // 20
        deals = seeder.deals(n_deals, contacts, accounts) if contacts else 0
        campaigns = seeder.campaigns([i for i, _ in contacts] + [i for i, _ in leads])
        return {
            "accounts": len(accounts),
            "contacts": len(contacts),
            "leads": len(leads),
            "converted_leads": converted,
            "contacts_from_conversions": converted,
            "deals": deals,
            "campaigns": campaigns,
        }
    finally:
        store.close()
