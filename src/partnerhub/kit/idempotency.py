"""``Idempotency-Key`` on POST endpoints (CONTRACT section 1, hub).

A client may send ``Idempotency-Key: <up to 255 characters>`` with a POST. The first request
with a key runs normally and its successful response is stored (PostgreSQL, 24 hours). A retry
with the same key and the same request (method, path, acting partner, JSON body compared
canonically) gets the stored response again, byte for byte, with ``Idempotency-Replayed:
true``; the same key with a different request gets 422 (errorCode 1403). Keys belong to the
partner the credential belongs to. Failed requests (4xx/5xx) are not stored: their
transaction rolls back, so a retry runs again.

Concurrent requests with one key are serialized by the unique index: the second waits for the
first transaction and then replays its response.

Use inside the request's unit of work, before any change::

    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        ...  # the work
        response = JSONResponse(...)
        await idempotency.remember(session, request, principal, response)
    # defer jobs here, only when not replayed
    return response
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.errors import InvalidValue, Unprocessable
from partnerhub.kit.repository import Work
from partnerhub.kit.scope import Principal
from partnerhub.models import IdempotencyKey
from partnerhub.models.base import utcnow

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Response headers worth replaying (TrackingID is the new request's own).
_KEPT_HEADERS = ("location", "link", "content-type")


def parse_key(raw: str | None) -> str | None:
    """The ``Idempotency-Key`` header's key (``None`` without one; 400 when malformed)."""
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidValue(
            f"{HEADER}: must be 1 to {MAX_KEY_LENGTH} printable characters", field=HEADER
        )
    return key


def key_of(request: Request) -> str | None:
    return parse_key(request.headers.get(HEADER))


def fingerprint(method: str, path: str, partner_id: object, raw: bytes) -> bytes:
    """What makes two requests with one key "the same request": method, path, acting
    partner and the JSON body compared canonically."""
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), str(partner_id).encode()):
        digest.update(part + b"\0")
    digest.update(body)
    return digest.digest()


async def _fingerprint(request: Request, principal: Principal) -> bytes:
    raw = await request.body()
    return fingerprint(request.method, request.url.path, principal.partner_id, raw)


def _session(work: AsyncSession | Work) -> AsyncSession:
    return work.session if isinstance(work, Work) else work


async def claim(
    work: AsyncSession | Work, request: Request, principal: Principal
) -> Response | None:
    """Reserve the request's key; the stored response when this is a replay, else None.
    Without a key, nothing is sent (a :class:`Work` stays without a session)."""
    key = key_of(request)
    if key is None:
        return None
    session = _session(work)
    request.state.idempotency_key = key
    fingerprint = await _fingerprint(request, principal)
    owner = principal.home_partner_id
    now = utcnow()
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.partner_id == owner,
            IdempotencyKey.key == key,
            IdempotencyKey.expires <= now,
        )
    )
    inserted = (
        await session.execute(
            insert(IdempotencyKey)
            .values(
                partner_id=owner,
                key=key,
                fingerprint=fingerprint,
                headers={},
                created=now,
                expires=now + TTL,
            )
            .on_conflict_do_nothing(constraint="uq_idempotency_keys_partner_key")
            .returning(IdempotencyKey.id)
        )
    ).scalar_one_or_none()
    if inserted is not None:
        request.state.idempotency_claimed = True
        return None
    row = (
        await session.execute(
            select(IdempotencyKey).where(
                IdempotencyKey.partner_id == owner, IdempotencyKey.key == key
            )
        )
    ).scalar_one()
    if row.fingerprint != fingerprint or row.status_code is None:
        raise Unprocessable(f"{HEADER}: the key '{key}' was already used with a different request")
    headers = dict(row.headers or {})
    headers["Idempotency-Replayed"] = "true"
    return Response(content=row.body or b"", status_code=row.status_code, headers=headers)


async def remember(
    work: AsyncSession | Work, request: Request, principal: Principal, response: Response
) -> None:
    """Store the response of a claimed key (no-op without a key)."""
    if not getattr(request.state, "idempotency_claimed", False):
        return
    session = _session(work)
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    headers.pop("content-length", None)
    await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.partner_id == principal.home_partner_id,
            IdempotencyKey.key == request.state.idempotency_key,
        )
        .values(status_code=response.status_code, headers=headers, body=bytes(response.body))
    )


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
