"""The pure parts of mailbox capture (crmsync.engine.mail)."""

from __future__ import annotations

from email.message import EmailMessage

from crmsync.engine.mail import (
    AddressIndex,
    CaptureContext,
    RecordRef,
    captured_ids,
    decide,
    excerpt_of,
    note_for,
    parse_message,
    thread_key,
)
from crmsync.providers.imap import quote


def message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Bonjour,\n\nmerci pour votre   commande.\n\nCordialement")
    return msg


def test_parse_addresses_dates_and_excerpt() -> None:
    msg = message(
        From='"Zoé Dupont" <Zoe.Dupont@Example.FR>',
        To="ana@mailbox.test, Marek <marek@firma.pl>",
        Cc="  BOSS@firma.pl ",
        Subject="=?utf-8?q?Zam=C3=B3wienie?=",
        Message_ID="<abc@example.fr>",
        Date="Tue, 05 Mar 2024 10:00:00 +0100",
    )
    facts = parse_message(msg.as_bytes(), excerpt_length=500)
    assert facts.sender == "zoe.dupont@example.fr"
    assert facts.sender_name == "Zoé Dupont"
    assert facts.to == ("ana@mailbox.test", "marek@firma.pl")
    assert facts.cc == ("boss@firma.pl",)
    assert facts.subject == "Zamówienie"
    assert facts.message_id == "<abc@example.fr>"
    assert facts.date is not None and facts.date.utcoffset() is not None
    assert facts.excerpt == "Bonjour,\n\nmerci pour votre commande.\n\nCordialement"
    assert facts.thread_id == "<abc@example.fr>"
    assert facts.participants[0] == "zoe.dupont@example.fr"


def test_excerpt_cuts_on_a_word_and_html_becomes_text() -> None:
    assert excerpt_of("one two three four", 9) == "one two…"
    msg = EmailMessage()
    msg["From"] = "a@b.c"
    msg["Message-ID"] = "<h@b.c>"
    msg.set_content("<html><style>p{}</style><p>Hello <b>there</b></p></html>", subtype="html")
    assert parse_message(msg.as_bytes()).excerpt == "Hello there"


def test_attachment_names() -> None:
    msg = message(From="a@b.c", Message_ID="<att@b.c>")
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="devis.pdf")
    msg.add_attachment(b"x", maintype="image", subtype="png", filename="zdjęcie.png")
    assert parse_message(msg.as_bytes()).attachments == ("devis.pdf", "zdjęcie.png")


def test_missing_message_id_gets_a_stable_one() -> None:
    raw = b"From: a@b.c\r\nSubject: x\r\nDate: Tue, 05 Mar 2024 10:00:00 +0000\r\n\r\nbody\r\n"
    first, second = parse_message(raw), parse_message(raw)
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@crmsync.invalid>")


def test_threading_prefers_gmail_then_references_root_then_reply_to() -> None:
    assert thread_key("<c>", ["<a>", "<b>"], ["<b>"], gm_thrid="123") == "gm:123"
    assert thread_key("<c>", ["<a>", "<b>"], ["<b>"]) == "<a>"
    assert thread_key("<c>", [], ["<b>"]) == "<b>"
    assert thread_key("<c>", [], []) == "<c>"
    reply = message(From="a@b.c", Message_ID="<r@b.c>", In_Reply_To="<q@b.c>", References="<q@b.c>")
    assert parse_message(reply.as_bytes()).thread_id == "<q@b.c>"


def test_index_matches_leads_contacts_and_deals_through_their_contact() -> None:
    index = AddressIndex()
    index.set_email("Contacts", "c1", " Buyer@Acme.test ")
    index.set_email("Leads", "l1", "lead@acme.test")
    index.set_deal("d1", "c1")
    refs = index.match(
        ["buyer@acme.test", "lead@acme.test", "me@mailbox.test"],
        ["Leads", "Contacts", "Deals"],
        ignore=["Me@Mailbox.test"],
    )
    assert refs == [
        RecordRef("Contacts", "c1", "buyer@acme.test"),
        RecordRef("Deals", "d1", "buyer@acme.test"),
        RecordRef("Leads", "l1", "lead@acme.test"),
    ]
    assert index.match(["buyer@acme.test"], ["Leads"]) == []
    assert index.match(["buyer@acme.test"], ["Deals"]) == [
        RecordRef("Deals", "d1", "buyer@acme.test")
    ]


def test_address_change_moves_the_record_and_removal_forgets_it() -> None:
    index = AddressIndex()
    index.set_email("Contacts", "c1", "old@acme.test")
    index.set_email("Contacts", "c1", "new@acme.test")
    assert index.match(["old@acme.test"], ["Contacts"]) == []
    assert index.match(["new@acme.test"], ["Contacts"])[0].record_id == "c1"
    index.remove("Contacts", "c1")
    assert index.match(["new@acme.test"], ["Contacts"]) == []
    index.set_deal("d1", "c2")
    index.set_deal("d1", None)
    assert index.deals_of_contact["c2"] == set()


def test_decide_and_ledger_from_notes() -> None:
    refs = [RecordRef("Contacts", "c1", "x@y.z"), RecordRef("Deals", "d1", "x@y.z")]
    assert decide([], "<m>", {}).outcome == "unmatched"
    assert decide(refs, "<m>", {}).new == tuple(refs)
    partly = decide(refs, "<m>", {"c1": {"<m>"}})
    assert (partly.outcome, partly.new) == ("captured", (refs[1],))
    assert decide(refs, "<m>", {"c1": {"<m>"}, "d1": {"<m>"}}).outcome == "duplicate"
    notes = [
        {"$capture": {"message_id": "<a@x>"}},
        {"Note_Content": "Received email\nMessage-ID: <b@x>\nThread: <b@x>\n"},
        {"Note_Content": "a note someone typed"},
    ]
    assert captured_ids(notes) == {"<a@x>", "<b@x>"}


def test_note_round_trips_its_message_id_and_carries_visibility() -> None:
    msg = message(From="ana@mailbox.test", To="c@acme.test", Subject="Offre", Message_ID="<n@m>")
    msg.add_attachment(b"x", maintype="application", subtype="pdf", filename="offre.pdf")
    facts = parse_message(msg.as_bytes())
    ctx = CaptureContext("ana@imap.test", "42", "private", ("ana@mailbox.test",), "Sent")
    note = note_for(facts, RecordRef("Contacts", "c1", "c@acme.test"), ctx)
    assert note["Parent_Id"] == {"module": {"api_name": "Contacts"}, "id": "c1"}
    assert note["Owner"] == {"id": "42"}
    assert note["Note_Title"] == "Offre"
    capture = note["$capture"]
    assert isinstance(capture, dict)
    assert capture["direction"] == "sent" and capture["visibility"] == "private"
    assert "Attachments: offre.pdf" in str(note["Note_Content"])
    without_capture = {"Note_Content": note["Note_Content"]}
    assert captured_ids([without_capture]) == {"<n@m>"}


def test_imap_folder_quoting() -> None:
    assert quote("INBOX") == "INBOX"
    assert quote("[Gmail]/Sent Mail") == '"[Gmail]/Sent Mail"'
    assert quote('a"b') == '"a\\"b"'
