"""Opaque ids (CONTRACT section 1).

A resource id is the unpadded base64url of ``partnerhub://<region>/<TYPE>/<uuid>``. Clients must
not parse them; the server accepts padded and unpadded forms. Provisioning ids are the
unpadded base64url of a random uuid (unguessable).
"""

from __future__ import annotations

import base64
import binascii
import uuid

# The region segment of resources that belong to the partner rather than to one customer
# (templates, partner administrators, identity providers, sub-partners).
HUB = "us"


def encode(kind: str, value: uuid.UUID, region: str) -> str:
    """The one wire id of a resource. ``region`` is the owning customer's data region
    (``region_of``) for everything a customer owns — the customer itself, its organization,
    locations, numbers, subscribers, people, imports, installation requests — and ``HUB`` for
    the partner's own resources, so one resource has exactly one id string on every endpoint
    and page."""
    raw = f"partnerhub://{region.lower()}/{kind.upper()}/{value}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(kind: str, token: str) -> uuid.UUID | None:
    """The uuid behind ``token`` when it is an id of ``kind``; None for anything else."""
    if not token or len(token) > 200:
        return None
    try:
        padded = token.strip() + "=" * (-len(token.strip()) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    parts = raw.split("/")
    # partnerhub: '' region TYPE uuid
    if len(parts) != 5 or parts[0] != "partnerhub:" or parts[1] != "" or parts[3] != kind.upper():
        return None
    try:
        return uuid.UUID(parts[4])
    except ValueError:
        return None


def region_of(data_region: str | None) -> str:
    """The region segment for a customer with this ``data_region`` (unset → ``us``)."""
    return (data_region or HUB).lower()


def new_provisioning_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
