"""Shared building blocks: schema base, pagination, tenant scope."""
