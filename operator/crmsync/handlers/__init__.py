"""The only modules that import kopf: parse, delegate to :mod:`crmsync.reconcile`, return.

Importing this package registers every handler.
"""

from crmsync.handlers import (
    connection,
    contactsync,
    emailcampaign,
    mailboxsync,
    metrics,
    startup,
)

__all__ = [
    "connection",
    "contactsync",
    "emailcampaign",
    "mailboxsync",
    "metrics",
    "startup",
]
