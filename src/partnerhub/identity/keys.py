"""The server secret and what is derived from it: encryption of stored secrets, signed links.

The secret is ``PARTNERHUB_SECRET_KEY`` when set (recommended in production: then a copy of the
database alone does not reveal the IdP client secrets); otherwise 32 random bytes generated on
first use and kept in the ``server_keys`` table, so every process of the installation agrees.
Each use derives its own key with HKDF-SHA256 (``purpose`` names the use), so a key for one
purpose is useless for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import runtime
from partnerhub.identity.repository import stored_server_secret

MAIN = "main"


class DecryptionFailed(Exception):
    """A stored secret cannot be decrypted (the server secret changed)."""


async def server_secret(session: AsyncSession) -> bytes:
    configured = runtime.settings().secret_key
    if configured:
        return configured.encode()
    return await stored_server_secret(session, MAIN, secrets.token_bytes(32))


def derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"partnerhub", info=purpose.encode()
    ).derive(secret)


async def encrypt(session: AsyncSession, purpose: str, plaintext: str) -> bytes:
    key = base64.urlsafe_b64encode(derive(await server_secret(session), "fernet:" + purpose))
    return Fernet(key).encrypt(plaintext.encode())


async def decrypt(session: AsyncSession, purpose: str, token: bytes) -> str:
    key = base64.urlsafe_b64encode(derive(await server_secret(session), "fernet:" + purpose))
    try:
        return Fernet(key).decrypt(bytes(token)).decode()
    except InvalidToken:
        raise DecryptionFailed(purpose) from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def sign(session: AsyncSession, purpose: str, payload: str) -> str:
    """``payload`` followed by ``.`` and its HMAC-SHA256 (base64url), for links in emails."""
    key = derive(await server_secret(session), "hmac:" + purpose)
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


async def unsign(session: AsyncSession, purpose: str, token: str) -> str | None:
    """The payload of a token made by :func:`sign` for ``purpose``; None if it was altered."""
    payload, _, mac = (token or "").rpartition(".")
    if not payload or not mac or len(token) > 2000:
        return None
    key = derive(await server_secret(session), "hmac:" + purpose)
    expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except ValueError:
        return None
    return payload if hmac.compare_digest(expected, given) else None
