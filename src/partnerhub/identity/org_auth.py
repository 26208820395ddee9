"""Platform identity of customer-organization users.

Users of organizations whose template chose platform authentication sign in with a password
of PartnerHub's own:

* **invitation**: a single-use, expiring link (signed with the server secret, its use recorded
  in ``identity_links``) lets the user set a password;
* **password reset** by email, with the same kind of link;
* **lock-out**: after ``PARTNERHUB_LOCKOUT_FAILURES`` consecutive failures the email address is
  locked for ``PARTNERHUB_LOCKOUT_MINUTES`` (answered 429 with ``Retry-After``), or until an
  administrator unlocks it; the same throttle as the partner administrators' (counted before
  the password is checked, for unknown addresses too: ``identity.service.sign_in_rules``);
* **TOTP** (optional): a second factor an administrator can turn on for their own account,
  with ten single-use recovery codes shown once at enrolment (stored hashed); turning it off or
  enrolling another authenticator needs a current code, or the password plus a recovery code
  (a stolen session has neither); a recovery code also stands in for a code at sign-in;
* a password reset, a password change and any change of the second factor end the user's
  other sessions;
* **sessions** of the customer portal (``org_sessions``, cookie ``partnerhub_org_session``).

Users of organizations that sign in through the partner's SAML or OIDC IdP have no password
here: the password form refuses them like a wrong password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids, runtime
from partnerhub.audit import service as audit
from partnerhub.errors import InvalidValue
from partnerhub.identity import keys
from partnerhub.identity.repository import CredentialRepository, Holder, OrgIdentityRepository
from partnerhub.identity.service import (
    MIN_PASSWORD,
    hash_password,
    hash_secret,
    log_admin_sign_in,
    sign_in_email_key,
    verify_password,
)
from partnerhub.kit import ratelimit
from partnerhub.kit.request_context import Origin
from partnerhub.kit.web import CsrfFailed
from partnerhub.models import Customer, IdentityLink, OrgCredential, OrgSession, OrgUser
from partnerhub.models.base import utcnow
from partnerhub.portal import session as portal_session

ORG_COOKIE = "partnerhub_org_session"
LINK_PURPOSE = "identity-link"
INVITATION = "invitation"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a link purpose, not a password
LINK_PATHS = {INVITATION: "/account/set-password", PASSWORD_RESET: "/account/reset-password"}
TOTP_PURPOSE = "totp-secret"


def auth_method(customer: Customer) -> str:
    auth: dict[str, Any] = (customer.settings or {}).get("authentication") or {}
    return str(auth.get("method") or "platform")


def usable(customer: Customer) -> bool:
    """An organization whose users may sign in (it exists and is not being removed)."""
    return customer.org_id is not None and customer.status not in ("deleting", "error")


# --- sessions -------------------------------------------------------------------------------


async def open_session(
    db: AsyncSession,
    org_user_id: uuid.UUID,
    via: str,
    *,
    second_factor_pending: bool = False,
    language: str = "en",
) -> str:
    """A new customer-portal session; returns the cookie value (shown once, stored hashed)."""
    cookie = secrets.token_urlsafe(32)
    settings = runtime.settings()
    repo = OrgIdentityRepository(db)
    repo.add(
        OrgSession(
            token_hash=hash_secret(cookie),
            org_user_id=org_user_id,
            csrf_token=secrets.token_urlsafe(32),
            language=language,
            second_factor_pending=second_factor_pending,
            data={"via": via},
            created=utcnow(),
            expires=utcnow() + timedelta(hours=settings.session_hours),
        )
    )
    await repo.flush()
    return cookie


@dataclass(frozen=True)
class OrgAccess:
    """A signed-in organization user: the session, the user, the organization."""

    session: OrgSession
    user: OrgUser
    customer: Customer


async def load_session(db: AsyncSession, cookie: str | None) -> OrgAccess | None:
    if not cookie or len(cookie) > 100:
        return None
    repo = OrgIdentityRepository(db)
    record = await repo.session_by_hash(hash_secret(cookie))
    if record is None or record.expires <= utcnow():
        return None
    row = await repo.user_and_customer(record.org_user_id)
    if row is None or not usable(row[1]):
        return None
    return OrgAccess(record, row[0], row[1])


async def close_session(db: AsyncSession, cookie: str | None) -> None:
    if cookie:
        await OrgIdentityRepository(db).delete_session(hash_secret(cookie))


async def end_sessions(
    db: AsyncSession, org_user_id: uuid.UUID, keep: OrgSession | None = None
) -> None:
    """End every customer-portal session of the user but ``keep`` (the one acting): after a
    password reset (all of them), a password change and any change of the second factor."""
    await OrgIdentityRepository(db).end_user_sessions(
        org_user_id, keep.token_hash if keep is not None else None
    )


def set_cookie(response: Response, request: Request, value: str) -> None:
    """The customer portal's session cookie, with the flags of the partner portal's."""
    portal_session.set_cookie(response, request, value, name=ORG_COOKIE)


def clear_cookie(response: Response) -> None:
    response.delete_cookie(ORG_COOKIE, path="/")


def check_csrf(record: OrgSession, form: Any) -> None:
    """Every form of the customer portal carries the session's CSRF token."""
    sent = str(form.get("csrf_token") or "")
    if not record.csrf_token or not hmac.compare_digest(sent.encode(), record.csrf_token.encode()):
        raise CsrfFailed()


# --- passwords and lock-out -----------------------------------------------------------------


def check_password_strength(password: str, email: str = "") -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidValue(
            f"password: at least {MIN_PASSWORD} characters are required", field="password"
        )
    if len(password) > 200:
        raise InvalidValue("password: at most 200 characters", field="password")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):  # NUL, newline...: untypable
        raise InvalidValue("password: control characters are not allowed", field="password")
    if email and password.strip().lower() == email.strip().lower():
        raise InvalidValue("password: must not be your email address", field="password")


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a password check (the attempt was counted and allowed beforehand)."""

    user: OrgUser | None = None
    customer: Customer | None = None
    credential: OrgCredential | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


async def _credential(
    db: AsyncSession, user_id: uuid.UUID, lock: bool = True
) -> OrgCredential | None:
    return await OrgIdentityRepository(db).credential(user_id, lock=lock)


async def password_login(db: AsyncSession, email: str, password: str) -> LoginOutcome:
    """Check a customer user's password: one argon2 verification whoever the address belongs
    to (a dummy hash when nobody, or nobody with a platform password). The attempt throttle
    and the lock-out (``identity.service.sign_in_rules``) were applied before."""
    now = utcnow()
    found = await OrgIdentityRepository(db).org_user_by_email((email or "").strip())
    credential = await _credential(db, found[0].id, lock=False) if found else None
    ok = verify_password(credential.password_hash if credential else None, password or "")
    if found is not None and credential is not None:
        user, customer = found
        if ok and auth_method(customer) == "platform" and usable(customer):
            credential.last_login = now
            log_sign_in(db, user, customer, "signin.success", {"method": "password"})
            return LoginOutcome(user=user, customer=customer, credential=credential)
    if found is not None:
        user, customer = found
        reason = "password" if not ok else "not_allowed"
        log_sign_in(db, user, customer, "signin.failed", {"method": "password", "reason": reason})
    else:
        audit.unknown_address_refused(db, email, {"method": "password"})
    return LoginOutcome()


def log_second_factor_refused(db: AsyncSession, user: OrgUser, customer: Customer) -> None:
    log_sign_in(db, user, customer, "signin.second_factor_failed", {"method": "totp"})


def log_sign_in(
    db: AsyncSession,
    user: OrgUser,
    customer: Customer,
    action: str,
    detail: dict[str, Any],
    by_them: bool | None = None,
    where: Origin | None = None,
) -> None:
    """A customer user's sign-in (or refused one) in the organization's audit log: by them
    when it succeeded or their password was right (a refused second factor), otherwise by an
    anonymous actor who gave their address (``by_them`` says otherwise; ``where``: the
    request's origin, for a job recording for it)."""
    if by_them is None:
        # A refused second factor: the password was right, so it is them, or not.
        by_them = action in ("signin.success", "signin.second_factor_failed")
    audit.record(
        db,
        audit.org_user_actor(user) if by_them else audit.Actor("anonymous", email=user.email),
        action,
        customer=customer,
        target_type="PEOPLE",
        target_id=ids.encode("PEOPLE", user.id, ids.region_of(customer.data_region)),
        target_name=user.email,
        detail=detail,
        where=where,
    )


# --- the throttle's refusals and reset requests in the audit log -----------------------------

TOO_MANY = "too_many_attempts"  # the detail ``reason`` of an attempt the throttle refused


def record_for_address(
    db: AsyncSession,
    holder: Holder,
    email: str,
    action: str,
    detail: dict[str, Any],
    *,
    org_users: bool = True,
    where: Origin | None = None,
) -> None:
    """``action`` of an anonymous person who typed ``email``, in the log of the address's
    holder (``CredentialRepository.holder``): a partner administrator's partner, a customer
    user's organization (when ``org_users``: the form is theirs too), or else the log of no
    organization (``audit.NO_TENANT``, detail ``reason`` ``unknown_address`` unless given).
    One row, whoever holds the address."""
    if holder.admin is not None:
        log_admin_sign_in(db, holder.admin, action, detail, by_them=False, where=where)
    elif org_users and holder.user is not None and holder.customer is not None:
        log_sign_in(db, holder.user, holder.customer, action, detail, by_them=False, where=where)
    else:
        detail = {"reason": "unknown_address", **detail}
        audit.unattributed_row(db, email, action, detail, where=where)


async def record_throttled(
    db: AsyncSession,
    email: str,
    method: str,
    *,
    action: str = "signin.throttled",
    org_users: bool = True,
) -> None:
    """An attempt the throttle refused (429) before anything was checked (a password sign-in,
    ``account.reset_throttled`` a reset request): one row, in the log of whoever holds the
    address typed (:func:`record_for_address`; ``org_users`` False at ``/login``, where
    a customer user's address is nobody's). Its cost is the same whoever holds the address,
    or nobody: one look-up (one indexed statement) and one row, in the transaction that
    counted the attempt; the answer stays the throttle's page."""
    holder = await CredentialRepository(db).holder(email)
    detail = {"method": method, "reason": TOO_MANY}
    record_for_address(db, holder, email, action, detail, org_users=org_users)


def record_second_factor_throttled(db: AsyncSession, user: OrgUser, customer: Customer) -> None:
    """A second-factor code the throttle refused at sign-in (the password was right: by them)."""
    detail = {"method": "totp", "reason": TOO_MANY}
    log_sign_in(db, user, customer, "signin.throttled", detail, by_them=True)


async def unlock(db: AsyncSession, org_user_id: uuid.UUID) -> bool:
    """Unlock an account (an administrator's action): forget the failed attempts of its email
    address; True when it was locked."""
    user = await OrgIdentityRepository(db).org_user(org_user_id)
    if user is None:
        return False
    return await ratelimit.clear(db, sign_in_email_key(user.email))


async def is_locked(db: AsyncSession, user: OrgUser) -> bool:
    return await ratelimit.is_locked(db, sign_in_email_key(user.email))


async def set_password(db: AsyncSession, user: OrgUser, password: str) -> None:
    check_password_strength(password, user.email)
    repo = OrgIdentityRepository(db)
    credential = await repo.credential(user.id)
    if credential is None:
        credential = OrgCredential(org_user_id=user.id, failed_logins=0, totp_enabled=False)
        repo.add(credential)
    credential.password_hash = hash_password(password)
    credential.password_changed = utcnow()
    await ratelimit.clear(db, sign_in_email_key(user.email))  # a new password unlocks
    await repo.flush()


async def change_password(
    db: AsyncSession, access: OrgAccess, current: str, password: str, confirm: str
) -> bool:
    """The signed-in user changes their password, proving the current one; every other
    session of theirs ends. False when ``current`` is wrong (a failure the caller counts)."""
    credential = await _credential(db, access.user.id)
    if not verify_password(credential.password_hash if credential else None, current or ""):
        return False
    if password != confirm:
        raise InvalidValue("The two passwords differ", field="confirm", reason="passwords_differ")
    await set_password(db, access.user, password)
    await end_sessions(db, access.user.id, keep=access.session)
    return True


# --- single-use links -----------------------------------------------------------------------


class LinkRefused(Exception):
    """A link that cannot be used: ``invalid`` (altered or unknown), ``expired`` or ``used``;
    ``link_id`` when the link is a genuine one of ours (signed by the server: expired or used),
    whose holder the refusal is recorded for."""

    def __init__(self, reason: str, link_id: uuid.UUID | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.link_id = link_id


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


async def issue_link(
    db: AsyncSession, org_user_id: uuid.UUID, purpose: str, lifetime: timedelta | None = None
) -> tuple[IdentityLink, str]:
    """A new single-use link: the row and the absolute URL to send."""
    settings = runtime.settings()
    if lifetime is None:
        lifetime = (
            timedelta(hours=settings.invitation_hours)
            if purpose == INVITATION
            else timedelta(minutes=settings.password_reset_minutes)
        )
    repo = OrgIdentityRepository(db)
    link = await write_link(repo, IdentityLink, purpose, lifetime, org_user_id=org_user_id)
    token = await sign_link_token(db, purpose, link.id, link.expires)
    return link, f"{settings.base_url()}{LINK_PATHS[purpose]}/{token}"


async def write_link(
    repo: Any, model: Any, purpose: str, lifetime: timedelta, **holder: uuid.UUID
) -> Any:
    """A new single-use link row of *model* (``IdentityLink`` or ``PartnerAdminLink``, its
    holder's column in *holder*), valid for *lifetime*, written through *repo*."""
    now = utcnow()
    link = model(id=uuid.uuid4(), purpose=purpose, created=now, expires=now + lifetime, **holder)
    repo.add(link)
    await repo.flush()
    return link


async def sign_link_token(
    db: AsyncSession,
    purpose: str,
    link_id: uuid.UUID,
    expires: datetime,
    key_purpose: str = LINK_PURPOSE,
) -> str:
    """The signed token of a single-use link: ``purpose:link id:expiry`` under the server key
    derived for ``key_purpose`` (so one kind of link is never another kind)."""
    payload = _b64(f"{purpose}:{link_id.hex}:{int(expires.timestamp())}")
    return await keys.sign(db, key_purpose, payload)


async def read_link_token(
    db: AsyncSession, token: str, purpose: str, key_purpose: str = LINK_PURPOSE
) -> uuid.UUID:
    """The link id of a token made by :func:`sign_link_token`; ``LinkRefused`` when it is
    forged, of another purpose or expired."""
    payload = await keys.unsign(db, key_purpose, token)
    if payload is None:
        raise LinkRefused("invalid")
    try:
        kind, link_hex, expires = _unb64(payload).split(":")
        link_id = uuid.UUID(hex=link_hex)
        until = datetime.fromtimestamp(int(expires), UTC)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise LinkRefused("invalid") from None
    if kind != purpose:
        raise LinkRefused("invalid")
    if until <= utcnow():
        raise LinkRefused("expired", link_id)
    return link_id


def usable_link(link: Any, purpose: str) -> Any:
    """*link* (a single-use link row: ``IdentityLink`` or ``PartnerAdminLink``; None when
    unknown) if it is of *purpose*, unused and unexpired; ``LinkRefused`` otherwise."""
    if link is None or link.purpose != purpose:
        raise LinkRefused("invalid")
    if link.used is not None:
        raise LinkRefused("used", link.id)
    if link.expires <= utcnow():
        raise LinkRefused("expired", link.id)
    return link


async def peek_link(db: AsyncSession, token: str, purpose: str) -> tuple[IdentityLink, OrgUser]:
    """The link and its user, if the link can still be used (nothing is consumed)."""
    link_id = await read_link_token(db, token, purpose)
    repo = OrgIdentityRepository(db)
    link: IdentityLink = usable_link(await repo.link(link_id), purpose)
    user = await repo.org_user(link.org_user_id)
    if user is None:
        raise LinkRefused("invalid")
    return link, user


async def consume_link(repo: Any, link_id: uuid.UUID, holder_id: uuid.UUID) -> None:
    """Use a single-use link (``LinkRefused("used")`` when a concurrent request was first);
    every other outstanding link of its holder stops working too. *repo* is the repository of
    the links' table (``take_link``, ``retire_links``)."""
    now = utcnow()
    if not await repo.take_link(link_id, now):
        raise LinkRefused("used", link_id)
    await repo.retire_links(holder_id, now)


async def use_link(db: AsyncSession, token: str, purpose: str, password: str) -> OrgUser:
    """Set the password through the link, once: a second use is refused (``used``)."""
    link, user = await peek_link(db, token, purpose)
    check_password_strength(password, user.email)
    await consume_link(OrgIdentityRepository(db), link.id, user.id)
    await set_password(db, user, password)
    await end_sessions(db, user.id)  # whoever was signed in with the old password is out
    found = await OrgIdentityRepository(db).user_and_customer(user.id)
    if found is not None:
        audit.record(
            db,
            audit.org_user_actor(user),
            "account.password_link",
            customer=found[1],
            target_type="PEOPLE",
            target_id=ids.encode("PEOPLE", user.id, ids.region_of(found[1].data_region)),
            target_name=user.email,
            detail={"link": purpose},
        )
    return user


async def record_link_refused(db: AsyncSession, refused: LinkRefused, purpose: str) -> None:
    """A refused use (a submitted form) of a genuine link (expired or used), in its holder's
    organization's log; an altered or unknown token names nobody and leaves no row."""
    if refused.link_id is None:
        return
    repo = OrgIdentityRepository(db)
    link = await repo.link(refused.link_id)
    found = await repo.user_and_customer(link.org_user_id) if link is not None else None
    if found is None:
        return
    user, customer = found
    audit.record(
        db,
        audit.Actor("anonymous", email=user.email),
        "signin.link_refused",
        customer=customer,
        target_type="PEOPLE",
        target_id=ids.encode("PEOPLE", user.id, ids.region_of(customer.data_region)),
        target_name=user.email,
        detail={"link": purpose, "reason": refused.reason},
    )


# --- TOTP -----------------------------------------------------------------------------------


RECOVERY_CODES = 10


def _recovery_hash(code: str) -> bytes:
    return hash_secret("".join(ch for ch in (code or "").lower() if ch.isalnum()))


async def totp_begin(db: AsyncSession, user: OrgUser, issuer: str) -> tuple[str, str]:
    """A new authenticator to enrol: ``(secret, otpauth:// URI)`` for the user's app. Kept
    aside (``totp_pending_encrypted``) until :func:`totp_confirm`: an enrolled factor stays
    on meanwhile. The caller proves the enrolled factor first (:func:`second_factor_proof`)."""
    repo = OrgIdentityRepository(db)
    credential = await repo.credential(user.id)
    if credential is None:
        credential = OrgCredential(org_user_id=user.id, failed_logins=0, totp_enabled=False)
        repo.add(credential)
    secret = pyotp.random_base32()
    credential.totp_pending_encrypted = await keys.encrypt(db, TOTP_PURPOSE, secret)
    await repo.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)
    return secret, uri


async def _matching_step(
    db: AsyncSession, encrypted: bytes, code: str, last_step: int | None
) -> int | None:
    """The time step whose code ``code`` is (one step of clock drift either way), if it is
    later than ``last_step`` (a code works once)."""
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(await keys.decrypt(db, TOTP_PURPOSE, encrypted))
    current = totp.timecode(utcnow())
    for drift in (0, -1, 1):
        step = current + drift
        if secrets.compare_digest(totp.generate_otp(step), code):
            return None if last_step is not None and step <= last_step else step
    return None


async def totp_confirm(db: AsyncSession, access: OrgAccess, code: str) -> list[str] | None:
    """Turn the authenticator being enrolled on with a first code of it: it replaces any
    enrolled one, new recovery codes replace the old ones, and every other session of the
    user ends. The recovery codes (shown once; only their hashes are kept), or None for a
    wrong code."""
    credential = await _credential(db, access.user.id)
    if credential is None or credential.totp_pending_encrypted is None:
        return None
    step = await _matching_step(db, credential.totp_pending_encrypted, code, None)
    if step is None:
        return None
    codes = [f"{secrets.token_hex(5)}-{secrets.token_hex(5)}" for _ in range(RECOVERY_CODES)]
    credential.totp_secret_encrypted = credential.totp_pending_encrypted
    credential.totp_pending_encrypted = None
    credential.totp_enabled = True
    credential.totp_last_step = step
    credential.totp_recovery_hashes = [_recovery_hash(c) for c in codes]
    await end_sessions(db, access.user.id, keep=access.session)
    return codes


async def totp_check(db: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    """Check a 6-digit code of the enrolled authenticator (one step of clock drift either
    way); a code works once."""
    credential = await _credential(db, user_id)
    if (
        credential is None
        or credential.totp_secret_encrypted is None
        or not credential.totp_enabled
    ):
        return False
    step = await _matching_step(
        db, credential.totp_secret_encrypted, code, credential.totp_last_step
    )
    if step is None:
        return False
    credential.totp_last_step = step
    return True


async def use_recovery_code(db: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    """Use one of the user's recovery codes (case, spaces and dashes ignored); each once."""
    credential = await _credential(db, user_id)
    if credential is None or not credential.totp_enabled or not (code or "").strip():
        return False
    wanted = _recovery_hash(code)
    left = list(credential.totp_recovery_hashes or [])
    if not any(hmac.compare_digest(wanted, bytes(h)) for h in left):
        return False
    credential.totp_recovery_hashes = [h for h in left if bytes(h) != wanted]
    return True


async def sign_in_code(db: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    """The second step of a sign-in: a code of the authenticator, or a recovery code (the
    way back in when the authenticator is lost)."""
    if await totp_check(db, user_id, code):
        return True
    return await use_recovery_code(db, user_id, code)


async def second_factor_proof(
    db: AsyncSession, user: OrgUser, code: str, password: str, recovery: str
) -> bool:
    """What turning the second factor off or enrolling a new authenticator needs while one
    is on: a current code of it, or the account's password plus an unused recovery code
    (used up by this). True when nothing is enrolled (nothing to prove)."""
    if not await totp_enabled(db, user.id):
        return True
    if (code or "").strip():
        return await totp_check(db, user.id, code)
    if not (password and (recovery or "").strip()):
        return False
    credential = await _credential(db, user.id)
    if not verify_password(credential.password_hash if credential else None, password):
        return False
    return await use_recovery_code(db, user.id, recovery)


async def totp_enabled(db: AsyncSession, user_id: uuid.UUID) -> bool:
    credential = await _credential(db, user_id, lock=False)
    return bool(credential and credential.totp_enabled)


async def totp_disable(db: AsyncSession, access: OrgAccess) -> None:
    """Turn the second factor off (after :func:`second_factor_proof`); every other session of
    the user ends."""
    credential = await _credential(db, access.user.id)
    if credential is not None:
        credential.totp_enabled = False
        credential.totp_secret_encrypted = None
        credential.totp_pending_encrypted = None
        credential.totp_last_step = None
        credential.totp_recovery_hashes = None
    await end_sessions(db, access.user.id, keep=access.session)


# --- emails ---------------------------------------------------------------------------------


async def sign_in_url(db: AsyncSession, org_user_id: uuid.UUID, customer: Customer) -> str:
    """Where an invitation email sends a new user of ``customer``.

    Platform authentication: a new single-use invitation link to set a password. Single
    sign-on: the sign-in page (the IdP knows the user; there is no password to set).
    """
    if auth_method(customer) == "platform":
        _, url = await issue_link(db, org_user_id, INVITATION)
        return url
    return f"{runtime.settings().base_url()}/signin"


def brand_of(customer: Customer) -> str:
    from partnerhub.notifications import service as notifications

    return notifications.brand_of(customer)


async def send_invitation(
    db: AsyncSession, user: OrgUser, customer: Customer, invited_by: str
) -> uuid.UUID | None:
    """Email a user added to an organization (by an administrator) how to sign in."""
    url = await sign_in_url(db, user.id, customer)
    return await _mail_user(
        db,
        user,
        customer,
        "user_invitation",
        f"org-user:{user.id}:invitation:{uuid.uuid4()}",
        invited_by=invited_by,
        sign_in_url=url,
        platform=auth_method(customer) == "platform",
        hours=runtime.settings().invitation_hours,
    )


async def _mail_user(
    db: AsyncSession,
    user: OrgUser,
    customer: Customer,
    kind: str,
    dedupe_key: str,
    **context: Any,
) -> uuid.UUID | None:
    """Queue an email of *kind* to an organization's user about their own account."""
    from partnerhub.notifications import service as notifications

    return await notifications.queue_for_customer(
        db,
        customer,
        kind=kind,
        to=user.email,
        dedupe_key=dedupe_key,
        context={"user_email": user.email, **context},
        language=user.language,  # the user's own pick first (None: the customer's)
    )


async def deliver_later(email_id: uuid.UUID | None) -> None:
    """Hand a queued email to the delivery job; call after its transaction committed."""
    from partnerhub.notifications import service as notifications
    from partnerhub.notifications import tasks as notification_tasks

    if email_id is not None and notifications.smtp_configured():
        await notification_tasks.enqueue(email_id)


async def request_password_reset(
    db: AsyncSession, email: str, where: Origin | None = None
) -> uuid.UUID | None:
    """Email a reset link when ``email`` is a platform user (the email's id); otherwise
    do nothing (None). Either way the request is recorded (``account.reset_request``, by an
    anonymous actor, ``where`` the request's origin): in the log of whoever holds the address,
    detail ``sent`` and, when nothing was sent, ``reason`` (``administrator``,
    ``another_sign_in_method``, ``organization_unavailable``); an address nobody has, in the
    log of no organization (``unknown_address``).

    The caller (a job) answered the same page before, so the answer reveals no account.
    """
    holder = await CredentialRepository(db).holder(email)
    user, customer = holder.user, holder.customer
    reason = None
    if holder.admin is not None:
        reason = "administrator"  # an administrator's password is not reset here
    elif user is None or customer is None:
        reason = "unknown_address"
    elif auth_method(customer) != "platform":
        reason = "another_sign_in_method"
    elif not usable(customer):
        reason = "organization_unavailable"
    detail: dict[str, Any] = {"method": "reset", "sent": reason is None}
    if reason is not None:
        detail["reason"] = reason
    record_for_address(db, holder, email, "account.reset_request", detail, where=where)
    if reason is not None or user is None or customer is None:
        return None
    link, url = await issue_link(db, user.id, PASSWORD_RESET)
    minutes = runtime.settings().password_reset_minutes
    key = f"identity-link:{link.id}"
    return await _mail_user(
        db, user, customer, "password_reset", key, reset_url=url, minutes=minutes
    )
