"""Observe → plan → execute in vendor batches → record: one sync run, vendor-agnostic."""
