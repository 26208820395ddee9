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


def N_(text: str) -> str:
    """Marks a text for the portal's translation catalogue (extracted by Babel), unchanged."""
    return text


# How the portal names each status (the English message id of its translation).
CUSTOMER_STATUS_LABELS = {
    "provisioning": N_("Provisioning"),
    "provisioned": N_("Provisioned"),
    "provisioned_with_errors": N_("Provisioned with errors"),
    "updating": N_("Updating"),
    "deleting": N_("Deleting"),
    "error": N_("Error"),
    "pending_rpl_review": N_("Waiting for approval"),
}
