"""crmsync.dev/v1alpha1: every kind, in the order the CRDs are written."""

from crmsync.api.v1alpha1._base import API_VERSION, GROUP, VERSION, Resource
from crmsync.api.v1alpha1.connection import Connection
from crmsync.api.v1alpha1.contactsync import ContactSync
from crmsync.api.v1alpha1.emailcampaign import EmailCampaign
from crmsync.api.v1alpha1.fieldmapping import FieldMapping
from crmsync.api.v1alpha1.mailboxsync import MailboxSync
from crmsync.api.v1alpha1.optoutpolicy import OptOutPolicy

KINDS: tuple[type[Resource], ...] = (
    Connection,
    ContactSync,
    FieldMapping,
    OptOutPolicy,
    MailboxSync,
    EmailCampaign,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "Connection",
    "ContactSync",
    "EmailCampaign",
    "FieldMapping",
    "MailboxSync",
    "OptOutPolicy",
    "Resource",
]
