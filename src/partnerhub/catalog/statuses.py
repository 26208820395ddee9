"""The statuses a wholesale customer goes through (the contract's ``status`` values), read by
the customers' state machine (:mod:`partnerhub.customers.service`) and by the wire models
that document them (:mod:`partnerhub.customers.schemas`)."""

from __future__ import annotations

CUSTOMER_STATUSES = (
    "provisioning",
    "provisioned",
    "provisioned_with_errors",
    "updating",
    "deleting",
    "error",
    "pending_rpl_review",
)
