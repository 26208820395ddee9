"""Wholesale billing reports over the usage ledger (CONTRACT section 5, docs/billing.md)."""
