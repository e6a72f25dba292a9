"""crmsync: declarative CRM ↔ email-marketing sync for Kubernetes."""
