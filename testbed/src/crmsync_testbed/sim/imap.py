"""A real IMAP server for the tests and the demo: Dovecot from Debian (``hack/apt.sh``).

Dovecot runs as a plain process on 127.0.0.1 with a config of its own in a temp dir:
users from a passwd-file (plain passwords, editable while it runs: Dovecot re-reads the
file when it changes), Maildir++ mailboxes in the temp dir, ``ssl = no`` so a Connection
with ``spec.imap.tls: false`` speaks plain IMAP on loopback, IDLE checking every second.
Mail mailboxes belong to the ``dovecot`` system user (Dovecot refuses to access mail as
root); messages written straight into a Maildir (see :meth:`Dovecot.bulk_deliver`) are
chowned to it.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

DOVECOT = "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mail_owner() -> tuple[int, int]:
    for name in ("dovecot", "mail", "nobody"):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    return os.getuid(), os.getgid()


CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_cache_size = 0
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = 1 mins
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
}}
"""


@dataclass
class Dovecot:
    root: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    host: str = "127.0.0.1"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self) -> None:
        uid, gid = mail_owner()
        user = pwd.getpwuid(uid).pw_name
        group = user
        self.root.chmod(0o755)  # Dovecot's auth process (not root) reads the passwd-file
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(self.root / "mail", uid, gid)
        self._write_passwd()
        self.config.write_text(
            CONFIG.format(root=self.root, port=self.port, uid=uid, gid=gid, user=user, group=group)
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "stderr.log").open("wb"),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        parts = [self.root / "dovecot.log", self.root / "stderr.log"]
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in parts if p.exists())

    # -- users ---------------------------------------------------------------------

    def _write_passwd(self) -> None:
        tmp = self.root / "passwd.tmp"
        tmp.write_text("".join(f"{u}:{p}::::::\n" for u, p in self.users.items()))
        tmp.replace(self.root / "passwd")
        # Dovecot re-reads the file when its mtime (whole seconds) or size changes.
        self._stamp = max(getattr(self, "_stamp", 0) + 1, int(time.time()))
        os.utime(self.root / "passwd", (self._stamp, self._stamp))

    def add_user(self, username: str, password: str) -> None:
        """Add a user or change a password; returns once Dovecot takes it (it looks at
        the passwd-file at most once a second)."""
        self.users[username] = password
        self._write_passwd()
        if self.process is None:
            return
        deadline = time.monotonic() + 5
        while True:
            try:
                self.imap(username).logout()
                return
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def set_password(self, username: str, password: str) -> None:
        self.add_user(username, password)

    # -- mail ----------------------------------------------------------------------

    def imap(self, username: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=30)
        client.login(username, self.users[username])
        return client

    def append(self, username: str, message: EmailMessage | bytes, folder: str = "INBOX") -> None:
        raw = message if isinstance(message, bytes) else message.as_bytes()
        client = self.imap(username)
        try:
            typ, data = client.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
            assert typ == "OK", data
        finally:
            client.logout()

    def maildir(self, username: str, folder: str = "INBOX") -> Path:
        base = self.root / "mail" / username
        return base if folder == "INBOX" else base / f".{folder}"

    def bulk_deliver(self, username: str, messages: Iterable[bytes], folder: str = "INBOX") -> int:
        """Write messages straight into the Maildir (fast: no IMAP round trips)."""
        uid, gid = mail_owner()
        box = self.maildir(username, folder)
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        count = 0
        base = int(time.time())
        for count, raw in enumerate(messages, start=1):
            path = box / "new" / f"{base}.M{count}P{os.getpid()}.crmsync-test"
            path.write_bytes(raw)
            os.chown(path, uid, gid)
        for dirpath, _dirs, _files in os.walk(self.root / "mail" / username):
            os.chown(dirpath, uid, gid)
        return count

    def delete_folder_contents(self, username: str, folder: str = "INBOX") -> None:
        shutil.rmtree(self.maildir(username, folder), ignore_errors=True)


def make_message(
    *,
    sender: str,
    to: list[str],
    subject: str,
    body: str = "Hello",
    cc: list[str] | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    attachments: dict[str, bytes] | None = None,
    date: Any = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(idstring=uuid.uuid4().hex[:8], domain="test")
    msg["Date"] = format_datetime(date) if date is not None else format_datetime_now()
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg.set_content(body)
    for name, data in (attachments or {}).items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg


def format_datetime_now() -> str:
    from datetime import UTC, datetime

    return format_datetime(datetime.now(UTC))


# --- ``crmsync sim imap``: Dovecot in the foreground, for the demo ------------------------


def main_imap(data_dir: Path, port: int, users: list[str]) -> int:
    """Run Dovecot on 127.0.0.1:``port`` (0: a free one) with ``users`` (``email:password``)
    and mailboxes under ``data_dir``; print one JSON line once it answers; stop it on
    SIGTERM or SIGINT. Exits non-zero when Dovecot dies."""
    import json
    import signal
    import sys

    server = Dovecot(data_dir.resolve(), port=port or free_port())
    for entry in users:
        name, sep, password = entry.partition(":")
        if not sep or not name or not password:
            print(f"--user wants EMAIL:PASSWORD, got {entry!r}", file=sys.stderr)
            return 2
        server.users[name] = password
    data_dir.mkdir(parents=True, exist_ok=True)
    for parent in data_dir.resolve().parents:
        if os.geteuid() == 0 and not parent.stat().st_mode & 0o001:
            print(
                f"{parent} is closed to other users (mode {parent.stat().st_mode & 0o777:o}): "
                f"Dovecot's own processes could not reach {data_dir}; pick a data dir "
                "whose parents are searchable",
                file=sys.stderr,
            )
            return 2
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    server.start()
    try:
        print(
            json.dumps({"host": server.host, "port": server.port, "users": sorted(server.users)}),
            flush=True,
        )
        while server.process is not None and server.process.poll() is None:
            if signal.sigtimedwait(stop_signals, 1.0) is not None:
                return 0
        print(f"dovecot exited: {server.log()}", file=sys.stderr)
        return 1
    finally:
        server.stop()
