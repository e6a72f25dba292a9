"""Local stand-ins for Zoho CRM, Zoho Campaigns and Mailchimp.

Each server follows its vendor's public HTTP contract, keeps its data in SQLite, and
shares the fault switch and request counters defined in :mod:`crmsync_testbed.sim.common`.
"""
