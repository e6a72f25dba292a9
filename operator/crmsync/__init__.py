"""crmsync: declarative CRM ↔ email-marketing sync for Kubernetes."""

from crmsync.absent_modules import remember_absent

remember_absent()
