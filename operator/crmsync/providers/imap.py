"""An IMAP mailbox (RFC 3501, IDLE per RFC 2177, Gmail's X-GM-EXT-1 when offered).

Built on the standard library's :mod:`imaplib`, which is blocking: the reconciler calls it
through ``asyncio.to_thread``, and :class:`IdleWatcher` runs IDLE in a thread of its own
on a second connection (a connection in IDLE cannot do anything else).
"""

from __future__ import annotations

import imaplib
import re
import select
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmsync.providers.http import AuthError, TransientError

TIMEOUT_SECONDS = 30.0
FETCH_BYTES = 262_144
"""Bytes of each message read: headers, the text body and the MIME headers of the parts
(attachment names) of everything but very large messages."""
FETCH_BATCH = 200
UID_RE = re.compile(rb"UID (\d+)")
THRID_RE = re.compile(rb"X-GM-THRID (\d+)")
ACTIVITY_RE = re.compile(rb"^\* \d+ (EXISTS|EXPUNGE|RECENT|FETCH)")
QUOTE_NEEDED = re.compile(r'[\s"(){%*\\\]]')


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    tls: bool
    username: str
    password: str = field(repr=False)
    smtp_host: str = ""
    smtp_port: int = 587

    @property
    def identity(self) -> str:
        """user@host:port: a different value is a different mailbox (G6)."""
        return f"{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class FolderStatus:
    name: str
    uid_validity: int
    uid_next: int
    exists: int


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    gm_thrid: str = ""


def quote(folder: str) -> str:
    if QUOTE_NEEDED.search(folder):
        return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return folder


def _check(result: tuple[str, Sequence[Any]], what: str) -> list[Any]:
    typ, data = result
    if typ != "OK":
        raise TransientError(f"imap: {what} failed: {data!r}", vendor="imap")
    return list(data)


class ImapMailbox:
    """One logged-in IMAP connection. Blocking; not thread-safe."""

    def __init__(self, account: ImapAccount) -> None:
        self.account = account
        self.client: imaplib.IMAP4 = self._connect()
        try:
            self.client.login(account.username, account.password)
        except imaplib.IMAP4.error as exc:
            self.close()
            raise AuthError(
                f"the IMAP server rejected the username or password: {exc}", vendor="imap"
            ) from None
        self.capabilities = {c.upper() for c in self.client.capabilities}

    def _connect(self) -> imaplib.IMAP4:
        a = self.account
        if a.tls:
            return imaplib.IMAP4_SSL(a.host, a.port, timeout=TIMEOUT_SECONDS)
        client = imaplib.IMAP4(a.host, a.port, timeout=TIMEOUT_SECONDS)
        if "STARTTLS" in client.capabilities:
            client.starttls(ssl.create_default_context())
        return client

    @property
    def supports_idle(self) -> bool:
        return "IDLE" in self.capabilities

    @property
    def gmail(self) -> bool:
        return "X-GM-EXT-1" in self.capabilities

    def close(self) -> None:
        try:
            self.client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    # -- folders -------------------------------------------------------------------

    def sent_folder(self) -> str | None:
        """The folder LIST marks ``\\Sent`` (RFC 6154), e.g. Gmail's ``[Gmail]/Sent Mail``."""
        for line in _check(self.client.list(), "LIST"):
            if isinstance(line, bytes) and b"\\Sent" in line:
                name = line.rsplit(b" ", 1)[-1].decode()
                match = re.search(r'"((?:[^"\\]|\\.)*)"\s*$', line.decode())
                return match.group(1) if match else name
        return None

    def select(self, folder: str) -> FolderStatus:
        data = _check(self.client.select(quote(folder), readonly=True), f"SELECT {folder}")
        exists = int(data[0]) if data and isinstance(data[0], bytes) else 0
        validity = self.client.response("UIDVALIDITY")[1]
        uid_next = self.client.response("UIDNEXT")[1]
        return FolderStatus(
            name=folder,
            uid_validity=int(validity[0]) if validity and validity[0] else 0,
            uid_next=int(uid_next[0]) if uid_next and uid_next[0] else 0,
            exists=exists,
        )

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` in the selected folder, ascending."""
        data = _check(self.client.uid("SEARCH", f"UID {last_uid + 1}:*"), "UID SEARCH")
        raw = data[0] if data and isinstance(data[0], bytes) else b""
        # "n:*" always includes the last message, even when its UID is below n.
        return sorted(u for u in (int(x) for x in raw.split()) if u > last_uid)

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        if not uids:
            return []
        items = f"(UID BODY.PEEK[]<0.{FETCH_BYTES}>{' X-GM-THRID' if self.gmail else ''})"
        data = _check(self.client.uid("FETCH", ",".join(str(u) for u in uids), items), "UID FETCH")
        found: list[FetchedMessage] = []
        for item in data:
            if not isinstance(item, tuple) or len(item) < 2:
                continue
            head, body = item[0], item[1]
            uid = UID_RE.search(head)
            if uid is None or not isinstance(body, bytes):
                continue
            thrid = THRID_RE.search(head)
            found.append(
                FetchedMessage(
                    uid=int(uid.group(1)),
                    raw=body,
                    gm_thrid=thrid.group(1).decode() if thrid else "",
                )
            )
        return sorted(found, key=lambda m: m.uid)

    def append(self, folder: str, raw: bytes, flags: str = "(\\Seen)") -> None:
        _check(
            self.client.append(quote(folder), flags, imaplib.Time2Internaldate(time.time()), raw),
            f"APPEND {folder}",
        )

    # -- IDLE ----------------------------------------------------------------------

    def idle(self, folder: str, timeout: float, stop: threading.Event) -> bool:
        """Wait in IDLE on ``folder`` until it changes (True), ``timeout`` passes or
        ``stop`` is set (False). RFC 2177 asks clients to re-issue IDLE within 29 min."""
        self.select(folder)
        client = self.client
        tag: bytes = client._new_tag()  # imaplib has no IDLE before Python 3.14
        client.send(tag + b" IDLE\r\n")
        line = client.readline()
        if not line.startswith(b"+"):
            raise TransientError(f"imap: IDLE refused: {line!r}", vendor="imap")
        sock = client.socket()
        deadline = time.monotonic() + min(timeout, 29 * 60)
        activity = False
        while not stop.is_set() and time.monotonic() < deadline:
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not pending:
                ready, _, _ = select.select([sock], [], [], 0.5)
                if not ready:
                    continue
            line = client.readline()
            if not line:
                raise TransientError("imap: connection closed during IDLE", vendor="imap")
            if ACTIVITY_RE.match(line):
                activity = True
                break
        client.send(b"DONE\r\n")
        while True:
            line = client.readline()
            if not line:
                raise TransientError("imap: connection closed ending IDLE", vendor="imap")
            if line.startswith(tag):
                break
        return activity


class IdleWatcher:
    """A thread with its own connection, in IDLE on one folder, calling ``on_activity``
    when the folder changes. Reconnects after errors; ``stop()`` ends it within a second."""

    def __init__(
        self,
        account: ImapAccount,
        folder: str,
        on_activity: Callable[[], None],
        timeout: float = 600.0,
    ) -> None:
        self.account = account
        self.folder = folder
        self.on_activity = on_activity
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"imap-idle-{folder}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        box: ImapMailbox | None = None
        while not self._stop.is_set():
            try:
                if box is None:
                    box = ImapMailbox(self.account)
                    if not box.supports_idle:
                        return
                if box.idle(self.folder, self.timeout, self._stop):
                    self.on_activity()
            except (imaplib.IMAP4.error, OSError, AuthError, TransientError):
                if box is not None:
                    box.close()
                box = None
                self._stop.wait(5.0)
        if box is not None:
            box.close()
