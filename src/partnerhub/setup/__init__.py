"""The partner's "Set up customer" pages (``/customers/{id}/setup...``)."""
