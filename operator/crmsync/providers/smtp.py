"""Sending mail for a CRM record (G4): SMTP submission, then a copy in the Sent folder.

Gmail's SMTP server files what it sends into ``[Gmail]/Sent Mail`` by itself; most other
servers do not, so the copy is appended over IMAP (RFC 6409 §8 leaves it to the client)
unless the server already has it. The copy is what mailbox capture then finds: the CRM
gets the mail from the Sent folder, once.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from crmsync.providers.http import AuthError, ConfigError
from crmsync.providers.imap import ImapAccount, ImapMailbox

SMTP_TIMEOUT_SECONDS = 30.0
IMPLICIT_TLS_PORT = 465


@dataclass(frozen=True)
class Outgoing:
    sender: str
    to: tuple[str, ...]
    subject: str
    body: str
    cc: tuple[str, ...] = ()


def build_message(mail: Outgoing, domain: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to)
    if mail.cc:
        message["Cc"] = ", ".join(mail.cc)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=domain)
    message["X-Mailer"] = "crmsync"
    message.set_content(mail.body)
    return message


def submit(account: ImapAccount, message: EmailMessage) -> None:
    """Hand the message to the account's SMTP server (STARTTLS and AUTH when offered)."""
    if not account.smtp_host:
        raise ConfigError(
            "the mailbox Connection has no spec.imap.smtpHost: sending is disabled", vendor="smtp"
        )
    smtp: smtplib.SMTP
    if account.smtp_port == IMPLICIT_TLS_PORT:
        smtp = smtplib.SMTP_SSL(account.smtp_host, account.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    else:
        smtp = smtplib.SMTP(account.smtp_host, account.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if smtp.has_extn("auth"):
            try:
                smtp.login(account.username, account.password)
            except smtplib.SMTPAuthenticationError as exc:
                raise AuthError(
                    f"the SMTP server refused the login: {exc}", vendor="smtp"
                ) from None
        smtp.send_message(message)


def send_and_file(account: ImapAccount, message: EmailMessage) -> str:
    """Send, then append the copy to the Sent folder; returns the folder used."""
    submit(account, message)
    box = ImapMailbox(account)
    try:
        folder = box.sent_folder() or "Sent"
        box.append(folder, message.as_bytes())
        return folder
    finally:
        box.close()
