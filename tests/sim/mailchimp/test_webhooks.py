"""Webhook callbacks reach a local receiver, form-encoded, in Mailchimp's documented shape."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.sim.mailchimp.conftest import email, member_body
from tests.sim.mailchimp.localserver import LocalMailchimp
from tests.sim.mailchimp.test_members import md5


class Receiver:
    """A plain HTTP endpoint recording what arrives, per path."""

    def __init__(self) -> None:
        self.gets: list[str] = []
        self.posts: list[tuple[str, str, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                self.send_response(200)
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.posts.append(
                    (self.path, self.headers["Content-Type"], dict(parse_qsl(body)))
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, path: str, count: int, timeout: float = 10) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [form for p, _, form in self.posts if p == path]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def test_callbacks_for_api_changes(api: httpx.Client, list_id: str, receiver: Receiver) -> None:
    hook = api.post(
        f"/lists/{list_id}/webhooks",
        json={
            "url": f"{receiver.url}/api-hook",
            "sources": {"user": True, "admin": True, "api": True},
        },
    )
    assert hook.status_code == 200
    assert receiver.gets == ["/api-hook"]  # Mailchimp's registration check
    address = email("hooked")
    path = f"/lists/{list_id}/members/{md5(address)}"
    api.put(path, json=member_body(address, merge_fields={"FNAME": "Zoë"})).raise_for_status()
    api.patch(path, json={"merge_fields": {"LNAME": "Łukasiewicz"}}).raise_for_status()
    api.patch(path, json={"status": "unsubscribed"}).raise_for_status()
    new_address = email("moved")
    api.patch(path, json={"email_address": new_address}).raise_for_status()
    events = receiver.events("/api-hook", 4)
    assert [e["type"] for e in events] == ["subscribe", "profile", "unsubscribe", "upemail"]
    subscribe, profile, unsubscribe, upemail = events
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", subscribe["fired_at"])
    assert subscribe["data[email]"] == address
    assert subscribe["data[list_id]"] == list_id
    assert subscribe["data[merges][FNAME]"] == "Zoë"
    assert subscribe["data[merges][EMAIL]"] == address
    assert profile["data[merges][LNAME]"] == "Łukasiewicz"
    assert unsubscribe["data[action]"] == "unsub"
    assert (upemail["data[old_email]"], upemail["data[new_email]"]) == (address, new_address)
    content_types = {content_type for p, content_type, _ in receiver.posts if p == "/api-hook"}
    assert content_types == {"application/x-www-form-urlencoded"}


def test_sources_filter_api_changes_but_not_people(
    mailchimp: LocalMailchimp, api: httpx.Client, list_id: str, receiver: Receiver
) -> None:
    api.post(
        f"/lists/{list_id}/webhooks", json={"url": f"{receiver.url}/people"}
    ).raise_for_status()
    address = email("person")
    api.put(
        f"/lists/{list_id}/members/{md5(address)}", json=member_body(address)
    ).raise_for_status()
    mailchimp.admin(
        "POST",
        f"/_admin/mailchimp/lists/{list_id}/events",
        json={
            "type": "unsubscribe",
            "email": address,
            "source": "user",
            "reason": "too many emails",
        },
    ).raise_for_status()
    events = receiver.events("/people", 1)
    time.sleep(0.3)  # an API-made subscribe, had it been sent, would have arrived by now
    events = receiver.events("/people", 1)
    assert [e["type"] for e in events] == ["unsubscribe"]
    assert events[0]["data[reason]"] == "too many emails"
    assert events[0]["data[email]"] == address


def test_registration_refuses_unreachable_url(api: httpx.Client, list_id: str) -> None:
    response = api.post(f"/lists/{list_id}/webhooks", json={"url": "http://127.0.0.1:9/nothing"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "url"
