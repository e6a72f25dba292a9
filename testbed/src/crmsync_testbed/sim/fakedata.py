"""Deterministic, realistic (and realistically messy) people and companies.

Every local vendor server seeds from here, so the same ``random_seed`` gives the same
people everywhere. The API is small on purpose:

- :class:`FakeData` ``(seed)`` — the generator.
- :meth:`FakeData.company` → :class:`Company`.
- :meth:`FakeData.person` ``(company=None)`` → :class:`Person` (clean data).
- :meth:`FakeData.people` ``(count, messiness)`` → ``list[Person]`` with the rates of
  :class:`Messiness` applied: invalid emails, duplicate emails written differently
  (case / surrounding whitespace), opted-out people, converted leads.
- :func:`normalise_email` — the identity key (trimmed, lower-cased).

Names include non-ASCII spellings ("Zoë Łukasiewicz", "José Núñez"); email local parts
are transliterated to ASCII the way people really do it.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field, replace

FIRST_NAMES = (
    "Zoë",
    "José",
    "Łucja",
    "Søren",
    "Ana",
    "François",
    "Ingrid",
    "Mateo",
    "Chloé",
    "Björn",
    "Aiko",
    "Priya",
    "Olivia",
    "Liam",
    "Noah",
    "Emma",
    "Agnieszka",
    "Dvořák",
    "Renée",
    "Jürgen",
    "Siobhán",
    "Mía",
    "Hélène",
    "Tomasz",
    "Amara",
    "Kenji",
    "Fatima",
    "Lars",
    "Inès",
    "Marco",
    "Grace",
    "Oskar",
    "Nadia",
    "Pedro",
    "Élodie",
    "Wojciech",
    "Sofia",
    "Ethan",
    "Léa",
    "Ravi",
)
LAST_NAMES = (
    "Łukasiewicz",
    "Núñez",
    "Müller",
    "García",
    "O'Brien",
    "Smith",
    "Kowalski",
    "Dubois",
    "Jørgensen",
    "Rossi",
    "Tanaka",
    "Patel",
    "Nguyen",
    "Schröder",
    "Fernández",
    "Lefèvre",
    "Wiśniewska",
    "Johansson",
    "Brown",
    "Costa",
    "Kim",
    "Novák",
    "Martin",
    "Silva",
    "Bernard",
    "Zieliński",
    "Andersson",
    "Moreau",
    "Hernández",
    "Walker",
    "Ó Súilleabháin",
    "van der Berg",
)
COMPANY_STEMS = (
    "Acme",
    "Nordwind",
    "Solaris",
    "Bluefin",
    "Kraków Soft",
    "Lumière",
    "Brightpath",
    "Zenit",
    "Orchard",
    "Vértice",
    "Polaris",
    "Riverside",
    "Ironbark",
    "Cobalt",
    "Sakura",
    "Atlas",
)
COMPANY_SUFFIXES = ("Ltd", "GmbH", "S.A.", "Sp. z o.o.", "SARL", "Inc.", "LLC", "AB", "K.K.")
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "example.co.uk", "example.pl")
CITIES = (
    ("Kraków", "Poland", "+48"),
    ("Madrid", "Spain", "+34"),
    ("Lyon", "France", "+33"),
    ("München", "Germany", "+49"),
    ("København", "Denmark", "+45"),
    ("São Paulo", "Brazil", "+55"),
    ("Osaka", "Japan", "+81"),
    ("Chennai", "India", "+91"),
    ("Austin", "United States", "+1"),
    ("Dublin", "Ireland", "+353"),
    ("Göteborg", "Sweden", "+46"),
    ("Zürich", "Switzerland", "+41"),
)
INDUSTRIES = ("Technology", "Retail", "Manufacturing", "Education", "Healthcare", "Finance")
LEAD_SOURCES = ("Web Download", "Cold Call", "Advertisement", "Partner", "Trade Show", "Chat")
INVALID_EMAIL_SHAPES = ("{local}@", "{local}.{domain}", "{local}@@{domain}", "{local} @{domain}")


def normalise_email(email: str | None) -> str | None:
    """The identity key used everywhere: trimmed and lower-cased (``None`` stays ``None``)."""
    if email is None:
        return None
    key = email.strip().lower()
    return key or None


def ascii_slug(text: str) -> str:
    """``"Zoë Łukasiewicz"`` → ``"zoe.lukasiewicz"`` (for email local parts)."""
    text = text.replace("Ł", "L").replace("ł", "l").replace("ø", "o").replace("Ø", "O")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = "".join(c if c.isalnum() else "." for c in plain.lower())
    return ".".join(part for part in cleaned.split(".") if part)


@dataclass(frozen=True)
class Messiness:
    """Rates (0..1) of the data problems real CRMs have."""

    invalid_email_rate: float = 0.0
    duplicate_email_rate: float = 0.0
    """Share of people whose email repeats an earlier person's, cased or spaced differently."""
    opted_out_rate: float = 0.0
    converted_lead_rate: float = 0.0


@dataclass(frozen=True)
class Company:
    name: str
    industry: str
    city: str
    country: str
    phone: str
    website: str


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str
    mobile: str
    city: str
    country: str
    title: str
    lead_source: str
    company: Company | None = None
    opted_out: bool = False
    converted: bool = False
    email_valid: bool = True
    duplicate_of: int | None = None
    """Index (in the same ``people()`` list) of the person whose email this one repeats."""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


TITLES = ("CEO", "CTO", "Marketing Manager", "Sales Rep", "Engineer", "Office Manager", "")


class FakeData:
    """Deterministic generator: the same seed always yields the same sequence."""

    def __init__(self, seed: int = 42) -> None:
        self.rng = random.Random(seed)
        self._serial = 0

    def _phone(self, prefix: str) -> str:
        digits = "".join(str(self.rng.randint(0, 9)) for _ in range(9))
        return f"{prefix} {digits[:3]} {digits[3:6]} {digits[6:]}"

    def company(self) -> Company:
        city, country, prefix = self.rng.choice(CITIES)
        stem = self.rng.choice(COMPANY_STEMS)
        self._serial += 1
        name = f"{stem} {self.rng.choice(COMPANY_SUFFIXES)} {self._serial}"
        return Company(
            name=name,
            industry=self.rng.choice(INDUSTRIES),
            city=city,
            country=country,
            phone=self._phone(prefix),
            website=f"https://www.{ascii_slug(stem).replace('.', '')}{self._serial}.example.com",
        )

    def person(self, company: Company | None = None) -> Person:
        first = self.rng.choice(FIRST_NAMES)
        last = self.rng.choice(LAST_NAMES)
        city, country, prefix = self.rng.choice(CITIES)
        self._serial += 1
        local = f"{ascii_slug(first)}.{ascii_slug(last)}{self._serial}"
        return Person(
            first_name=first,
            last_name=last,
            email=f"{local}@{self.rng.choice(EMAIL_DOMAINS)}",
            phone=self._phone(prefix),
            mobile=self._phone(prefix),
            city=city,
            country=country,
            title=self.rng.choice(TITLES),
            lead_source=self.rng.choice(LEAD_SOURCES),
            company=company,
        )

    def _messy_variant(self, email: str) -> str:
        """The same address as a person would type it again: other case and/or spaces."""
        variants = (email.upper(), email.title(), f" {email}", f"{email} ", email.capitalize())
        return self.rng.choice([v for v in variants if v != email] or [f" {email}"])

    def _invalid(self, email: str) -> str:
        local, _, domain = email.partition("@")
        return self.rng.choice(INVALID_EMAIL_SHAPES).format(local=local, domain=domain)

    def people(
        self,
        count: int,
        messiness: Messiness | None = None,
        companies: list[Company] | None = None,
    ) -> list[Person]:
        """``count`` people; each gets a company from ``companies`` (round robin) if given."""
        mess = messiness or Messiness()
        result: list[Person] = []
        for index in range(count):
            company = companies[index % len(companies)] if companies else None
            person = self.person(company)
            roll = self.rng.random
            if result and roll() < mess.duplicate_email_rate:
                original = self.rng.randrange(len(result))
                first_spelling = result[original].duplicate_of
                original = original if first_spelling is None else first_spelling
                source = result[original].email
                person = replace(
                    person,
                    email=self._messy_variant(source),
                    email_valid=result[original].email_valid,
                    duplicate_of=original,
                )
            elif roll() < mess.invalid_email_rate:
                person = replace(person, email=self._invalid(person.email), email_valid=False)
            person = replace(
                person,
                opted_out=roll() < mess.opted_out_rate,
                converted=roll() < mess.converted_lead_rate,
            )
            result.append(person)
        return result
