"""The tests' mail servers: Dovecot (shared with the demo, :mod:`crmsync_testbed.sim.imap`) and an
SMTP sink (aiosmtpd) keeping what it receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync_testbed.sim.imap import Dovecot, free_port, mail_owner, make_message

__all__ = ["Dovecot", "SmtpSink", "free_port", "mail_owner", "make_message"]


@dataclass
class SmtpSink:
    """aiosmtpd on loopback, keeping every message it receives."""

    port: int = field(default_factory=free_port)
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                sink.received.append(
                    (str(envelope.mail_from), list(envelope.rcpt_tos), bytes(envelope.content))
                )
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
