"""One module per vendor, each behind the small Protocols in :mod:`crmsync.providers.base`."""
