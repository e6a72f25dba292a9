"""The operator's webhook never answers 500 (issue 12.5): it authenticates before it parses,
bounds size and nesting first, and answers every malformed request with a 4xx. Requests go
over HTTP to the real endpoint (:class:`crmsync.webhook.NotificationServer`)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from crmsync.reconcile.contactsync import SyncSignals
from crmsync.webhook import NotificationServer
from crmsync.webhook_body import MAX_BODY_BYTES

TOKEN = "tok-" + "x" * 36
SECRET = "s" * 40
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Endpoint:
    server: NotificationServer
    client: httpx.AsyncClient
    signals: SyncSignals

    @property
    def zoho(self) -> str:
        return self.server.notify_url("ns", "crm", "Leads")

    @property
    def mailchimp(self) -> str:
        return self.server.audience_hook_url("ns", "sync", SECRET)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(url, content=body, headers=headers)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    server = NotificationServer(port=0, host="127.0.0.1")
    await server.start()
    signals = SyncSignals()
    server.register("ns", "sync", signals=signals, connection="crm", module="Leads")
    server.open_channel(("ns", "crm", "Leads"), token=TOKEN, channel_id="1")
    server.register_audience_hook("ns", "sync", secret=SECRET, signals=signals)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            yield Endpoint(server, client, signals)
    finally:
        await server.stop()


def _valid_zoho() -> bytes:
    return f'{{"channel_id":"1","token":"{TOKEN}","module":"Leads","ids":["7"]}}'.encode()


# -- Zoho CRM notifications ------------------------------------------------------------


async def test_100000_nested_brackets_without_the_token_are_refused_unparsed(
    endpoint: Endpoint,
) -> None:
    response = await endpoint.post(endpoint.zoho, b"[" * 100_000, JSON)
    assert response.status_code == 401
    assert endpoint.server.counters["rejected_token"] == 1
    assert not endpoint.signals.notified


MALFORMED_WITH_TOKEN: dict[str, bytes] = {
    "deep arrays": b"[" * 100_000 + f'"{TOKEN}"'.encode(),
    "deep inside an object": f'{{"token":"{TOKEN}","x":'.encode() + b"[" * 100_000,
    "deep objects": f'{{"token":"{TOKEN}",'.encode() + b'{"a":' * 50_000,
    "33 levels": f'{{"token":"{TOKEN}","x":'.encode() + b"[" * 32 + b"]" * 32 + b"}",
    "5,000-digit number": f'{{"token":"{TOKEN}","n":{"9" * 5000}}}'.encode(),
    "not UTF-8": b'\xff\xfe{"token":"' + TOKEN.encode() + b'"}',
    "truncated": f'{{"token":"{TOKEN}","ids":["1"'.encode(),
    "trailing garbage": _valid_zoho() + b"}",
    "a string": f'"{TOKEN}"'.encode(),
    "an array": f'["{TOKEN}"]'.encode(),
    "a number with the token after": b"1 " + TOKEN.encode(),
    "NaN": f'{{"token":"{TOKEN}","x":NaN'.encode(),
    "lone surrogate escape, unterminated": f'{{"token":"{TOKEN}","x":"\\ud800'.encode(),
}


@pytest.mark.parametrize("body", MALFORMED_WITH_TOKEN.values(), ids=MALFORMED_WITH_TOKEN.keys())
async def test_malformed_json_holding_the_token_is_400(endpoint: Endpoint, body: bytes) -> None:
    response = await endpoint.post(endpoint.zoho, body, JSON)
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert not endpoint.signals.notified


@pytest.mark.parametrize(
    "body",
    [
        f'{{"token":["{TOKEN}"]}}'.encode(),
        f'{{"token":"{TOKEN}x"}}'.encode(),
        f'{{"x":"{TOKEN}"}}'.encode(),
        b"",
        b"{}",
    ],
)
async def test_a_token_that_is_not_exactly_the_channel_token_is_401(
    endpoint: Endpoint, body: bytes
) -> None:
    assert (await endpoint.post(endpoint.zoho, body, JSON)).status_code == 401


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "image/png"],
)
async def test_a_body_that_is_not_json_is_415(endpoint: Endpoint, content_type: str) -> None:
    response = await endpoint.post(endpoint.zoho, _valid_zoho(), {"Content-Type": content_type})
    assert response.status_code == 415


async def test_a_body_over_1_mib_is_413_declared_or_streamed(endpoint: Endpoint) -> None:
    big = b'{"token":"' + TOKEN.encode() + b'","pad":"' + b"a" * MAX_BODY_BYTES + b'"}'
    assert (await endpoint.post(endpoint.zoho, big, JSON)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = await endpoint.client.post(endpoint.zoho, content=chunks(), headers=JSON)
    assert streamed.status_code == 413


async def test_a_well_formed_notification_still_wakes_the_sync(endpoint: Endpoint) -> None:
    response = await endpoint.post(endpoint.zoho, _valid_zoho(), JSON)
    assert response.status_code == 200
    assert endpoint.signals.notified
    assert endpoint.server.take_ids("ns", "sync") == {"7"}
    plain = await endpoint.client.post(endpoint.zoho, content=_valid_zoho())
    assert plain.status_code == 200


def _mutations(seed: bytes, count: int) -> Iterator[bytes]:
    """Random edits of a body: bytes dropped, repeated, flipped, brackets and quotes added."""
    rng = random.Random(12)
    alphabet = b'[]{}",:\\0123456789.eE-+ tfn\x00\xff\xc3'
    for _ in range(count):
        body = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(body) + 1)
            edit = rng.randrange(4)
            if edit == 0 and at < len(body):
                del body[at]
            elif edit == 1:
                body[at:at] = bytes([rng.choice(alphabet)]) * rng.choice((1, 2, 40, 5000))
            elif edit == 2 and at < len(body):
                body[at] = rng.randrange(256)
            else:
                body[at:at] = body[at : at + rng.randint(1, 30)]
        yield bytes(body)


async def test_fuzzed_bodies_never_get_a_5xx(endpoint: Endpoint) -> None:
    statuses: set[int] = set()
    for body in _mutations(_valid_zoho(), 400):
        response = await endpoint.post(endpoint.zoho, body, JSON)
        assert response.status_code < 500, (body[:200], response.text)
        statuses.add(response.status_code)
    assert {400, 401} <= statuses


# -- Mailchimp list webhooks -----------------------------------------------------------


async def test_a_mailchimp_form_wakes_the_sync(endpoint: Endpoint) -> None:
    body = b"type=unsubscribe&fired_at=2026-01-01+10%3A00%3A00&data%5Bemail%5D=a%40b.co"
    response = await endpoint.post(endpoint.mailchimp, body, FORM)
    assert response.status_code == 200
    assert endpoint.server.take_audience_events("ns", "sync") == {"unsubscribe": 1}


MALFORMED_FORMS: dict[str, tuple[bytes, str, int]] = {
    "JSON instead of a form": (b'{"type":"subscribe"}', "application/json", 415),
    "multipart": (
        b'--x\r\nContent-Disposition: form-data; name="type"\r\n\r\nsubscribe\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
        415,
    ),
    "broken multipart": (b"--x\r\n\r\n", "multipart/form-data; boundary=x", 415),
    "no content type": (b"type=subscribe", "", 415),
    "bad percent-encoding": (b"type=subscribe&data%5Bemail%5D=%ff%fe", FORM["Content-Type"], 400),
    "raw non-ASCII bytes": (b"type=subscribe&x=\xc3\xa9\xff", FORM["Content-Type"], 400),
    "100,000 fields": (b"&".join([b"a=1"] * 100_000), FORM["Content-Type"], 400),
    "unknown event type": (b"type=%5B" * 1000, FORM["Content-Type"], 400),
    "empty": (b"", FORM["Content-Type"], 400),
    "100,000 nested brackets": (b"[" * 100_000, FORM["Content-Type"], 400),
    "over 1 MiB": (b"type=subscribe&x=" + b"a" * MAX_BODY_BYTES, FORM["Content-Type"], 413),
}


@pytest.mark.parametrize(
    ("body", "content_type", "status"), MALFORMED_FORMS.values(), ids=MALFORMED_FORMS.keys()
)
async def test_malformed_mailchimp_requests_are_4xx(
    endpoint: Endpoint, body: bytes, content_type: str, status: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await endpoint.post(endpoint.mailchimp, body, headers)
    assert response.status_code == status, response.text
    assert endpoint.server.take_audience_events("ns", "sync") == {}


async def test_a_wrong_secret_is_refused_before_the_body_is_read(endpoint: Endpoint) -> None:
    url = endpoint.server.audience_hook_url("ns", "sync", "wrong" * 8)
    response = await endpoint.post(url, b"[" * 100_000, JSON)
    assert response.status_code == 401


async def test_fuzzed_forms_never_get_a_5xx(endpoint: Endpoint) -> None:
    seed = b"type=profile&fired_at=2026-01-01&data%5Bmerges%5D%5BFNAME%5D=Ann&data%5Bid%5D=1"
    for body in _mutations(seed, 200):
        response = await endpoint.post(endpoint.mailchimp, body, FORM)
        assert response.status_code < 500, (body[:200], response.text)


async def test_an_edited_parent_is_kept_apart_from_the_sync_module_records(
    endpoint: Endpoint,
) -> None:
    """Z3: the channel of a Contacts sync also carries Account edits; their ids are the
    Accounts', kept by module for the loop to resolve to its Contacts."""
    server = endpoint.server
    needs = ("Contacts.all", "Accounts.edit")
    server.register(
        "ns", "sync", signals=endpoint.signals, connection="crm", module="Contacts", needs=needs
    )
    own_only = SyncSignals()  # maps no Account field: Account edits are not its business
    server.register("ns", "own", signals=own_only, connection="crm", module="Contacts")
    server.open_channel(("ns", "crm", "Contacts"), token=TOKEN, channel_id="1")
    url = server.notify_url("ns", "crm", "Contacts")
    for module, ids in (("Contacts", ["7"]), ("Accounts", ["90", "91"]), ("Accounts", ["92"])):
        body = {"channel_id": "1", "token": TOKEN, "module": module, "ids": ids}
        response = await endpoint.client.post(url, json=body)
        assert response.status_code == 200, response.text
    assert endpoint.signals.notified
    assert server.take_ids("ns", "sync") == {"7"}
    assert server.take_parent_ids("ns", "sync") == {"Accounts": {"90", "91", "92"}}
    assert server.take_parent_ids("ns", "sync") == {}
    assert server.take_ids("ns", "own") == {"7"} and server.take_parent_ids("ns", "own") == {}


async def test_a_delivery_reaches_every_sync_on_the_channel_and_no_other(
    endpoint: Endpoint,
) -> None:
    """14.3: one channel per Connection and module; its ids go to each sync on it (whose
    loop decides whether they concern it), never to a sync on another channel."""
    server = endpoint.server
    others = [SyncSignals() for _ in range(3)]
    server.register("ns", "a", signals=others[0], connection="crm", module="Leads")
    server.register("ns", "b", signals=others[1], connection="crm", module="Leads")
    server.register("ns", "c", signals=others[2], connection="crm2", module="Leads")
    response = await endpoint.post(endpoint.zoho, _valid_zoho(), JSON)
    assert response.status_code == 200, response.text
    assert [s.notified for s in others] == [True, True, False]
    assert endpoint.signals.notified
    assert server.take_ids("ns", "a") == server.take_ids("ns", "sync") == {"7"}
    assert server.take_ids("ns", "c") == set()
    assert server.needs(("ns", "crm", "Leads")) == [(), (), ()]

    server.unregister("ns", "a")
    server.close_channel(("ns", "crm", "Leads"))
    assert server.members(("ns", "crm", "Leads")) == {"b", "sync"}
    response = await endpoint.post(endpoint.zoho, _valid_zoho(), JSON)
    assert response.status_code == 404  # closed: nothing is subscribed any more
