"""Rules for credentials: argon2 passwords, hashed API tokens, server-side sessions."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import AsyncConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.audit import service as audit
from partnerhub.catalog.roles import ALL_SCOPES, PARTNER_ROLES, implied
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidValue,
    MissingField,
    NotFound,
    Unauthorized,
)
from partnerhub.identity.repository import (
    AdminRepository,
    CredentialRepository,
    IdentityEmailRepository,
    authenticate_and_count,
    touch_token_direct,
)
from partnerhub.kit import ratelimit
from partnerhub.kit.ratelimit import refuse_over, window_of
from partnerhub.kit.request_context import Origin
from partnerhub.kit.scope import Principal
from partnerhub.models import ApiToken, Partner, PartnerAdmin, PortalSession
from partnerhub.models.base import utcnow
from partnerhub.models.identity_email import PARTNER_ADMIN
from partnerhub.portal.i18n import N_

_hasher = PasswordHasher()  # argon2-cffi's default cost (RFC 9106, low memory)


def use_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash passwords (and the dummy hash) with ``hasher`` in this process; returns the one it
    replaces. Only the test suite calls it (argon2's cheapest parameters: it makes a partner
    administrator in most of its tests); a hash names its own parameters, so hashes of either
    cost verify under the other."""
    global _hasher
    previous, _hasher = _hasher, hasher
    _dummy_hash.cache_clear()
    return previous


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password: verifying against it costs the same as a real check, so
    that unknown emails take as long as wrong passwords. Made on first use (an argon2 hash
    costs most of a second of CPU: not at every process start)."""
    return _hasher.hash(secrets.token_urlsafe(16))


TOKEN_PREFIX = "ph_"  # noqa: S105 - a public marker that makes leaked tokens greppable


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def hash_secret(secret: str) -> bytes:
    """Tokens and session ids are 256-bit random: a SHA-256 is the right stored form."""
    return hashlib.sha256(secret.encode()).digest()


def principal_for_admin(admin: PartnerAdmin, kind: str = "admin") -> Principal:
    role = PARTNER_ROLES[admin.role]
    return Principal(
        kind=kind,
        partner_id=admin.partner_id,
        home_partner_id=admin.partner_id,
        actor_id=admin.id,
        actor_email=admin.email,
        role=admin.role,
        scopes=role.scopes,
    )


# --- one identity per e-mail address ----------------------------------------------------

EMAIL_TAKEN_CODE = 10022  # CONTRACT section 6: the email already belongs to a user
ADMIN_EMAIL_TAKEN_CODE = 1204  # hub: the email already belongs to a partner administrator
# The database's guarantee behind the rule (migration 0007, ``identity_emails``).
IDENTITY_CONSTRAINT = "uq_identity_emails_one_kind"
# A person of a domain another partner family's identity provider claims (migration 0011).
DOMAIN_FAMILY_CONSTRAINT = "uq_sso_domains_one_family"
DOMAIN_CLAIMED_CODE = 1222  # as sso.service: the same refusal seen from the other side


class EmailTaken(Conflict):
    code = EMAIL_TAKEN_CODE


def refuse_other_identity(
    creating: str, email: str, held_by: str | None, field: str = "email"
) -> None:
    """The one-identity rule: an address belongs to partner administrators or to users of
    customer organizations, never to both, so that no tenant's record can shadow another
    person at sign-in. ``creating`` is the kind about to hold ``email`` (``"partner_admin"``
    or ``"org_user"``), ``held_by`` the kind holding it now (``identity_emails``; None: free).

    A partner administrator with an address any organization user holds, or an organization
    user with a partner administrator's address → 409 ``10022``. (Two partner administrators
    with one address → 409 ``1204``, checked by :func:`check_identity_free`; two organization
    users: the subscribers rules.) Every creation path calls this, through
    :func:`check_identity_free` or with the kind its own facts read; the database refuses the
    same (``uq_identity_emails_one_kind``) when two creations race.
    """
    if held_by is None or held_by == creating:
        return
    if creating == PARTNER_ADMIN:
        raise EmailTaken(f"{field}: '{email}' already belongs to a user", field=field)
    raise EmailTaken(f"{field}: '{email}' already belongs to a partner administrator", field=field)


async def check_identity_free(
    session: AsyncSession, email: str, creating: str, field: str = "email"
) -> None:
    """:func:`refuse_other_identity` for a new holder of ``email``, read from the database;
    for a new partner administrator also refuses an address another administrator (of any
    partner) holds (409 ``1204``). Partner and sub-partner creation must call it with
    ``creating="partner_admin"`` for the first administrator's address."""
    held_by = await IdentityEmailRepository(session).kind(email)
    refuse_other_identity(creating, email, held_by, field)
    if creating == PARTNER_ADMIN and held_by == PARTNER_ADMIN:
        raise Conflict(
            f"{field}: '{email}' is already an administrator",
            code=ADMIN_EMAIL_TAKEN_CODE,
            field=field,
        )


def domain_of_another_family(email: str | None, field: str = "email") -> Conflict:
    """The refusal of a person whose e-mail domain another partner family's identity provider
    claims (they could never sign in: ``/signin`` sends their domain to that IdP). It names
    the address, never who claims its domain."""
    whose = f"the domain of '{email}'" if email else "the address's domain"
    return Conflict(
        f"{field}: {whose} signs in through another partner's identity provider",
        code=DOMAIN_CLAIMED_CODE,
        field=field,
        reason=OTHER_FAMILY,
        params={"value": email or ""},
    )


OTHER_FAMILY = "other_family"  # the refusal's reason (portal.messages: "1222/other_family")


def refuse_domain_of_another_family(
    email: str, claimed_elsewhere: bool, field: str = "email"
) -> None:
    """The domain-family rule, for every new person (a partner administrator, a user of a
    customer organization: a subscriber, a customer's first administrator, an imported row):
    an address whose domain an identity provider of a partner outside the new person's
    partner family claims is refused, 409 ``1222`` (:func:`domain_of_another_family`).
    ``claimed_elsewhere`` is the fact, read with the creation's other facts
    (``identity.repository.other_family_claim``, the test of migration 0011's trigger, which
    still refuses the same when a claim races the creation). Requests and their prechecks
    apply this one rule, so that a precheck answers what the request would."""
    if claimed_elsewhere:
        raise domain_of_another_family(email, field)


def identity_clash(exc: IntegrityError, email: str, field: str = "email") -> ApiError | None:
    """The clean error for a lost race on an address (``None``: another constraint)."""
    diag = getattr(exc.orig, "diag", None)
    name = str(getattr(diag, "constraint_name", None) or "")
    if name == IDENTITY_CONSTRAINT:
        return EmailTaken(f"{field}: '{email}' already belongs to another account", field=field)
    if name == DOMAIN_FAMILY_CONSTRAINT:
        return domain_of_another_family(email, field)
    if name == "uq_partner_admins_email":
        return Conflict(
            f"{field}: '{email}' is already an administrator",
            code=ADMIN_EMAIL_TAKEN_CODE,
            field=field,
        )
    return None


# --- API tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def parse_scopes(raw: list[str] | str) -> list[str]:
    items = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    scopes = sorted({s.strip() for s in items if s.strip()})
    if not scopes:
        raise MissingField("scopes: at least one scope is required", field="scopes")
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise InvalidValue(
            f"scopes: unknown scope '{unknown[0]}'; valid scopes: {', '.join(ALL_SCOPES)}",
            field="scopes",
        )
    return scopes


def create_token(
    session: AsyncSession,
    partner_id: uuid.UUID,
    name: str,
    scopes: list[str] | str,
    expires_in: timedelta | None,
    created_by: PartnerAdmin | None = None,
) -> NewToken:
    """A new bearer token; an administrator can only grant scopes their role holds."""
    name = (name or "").strip()
    if not name:
        raise MissingField("name: a token name is required", field="name")
    if len(name) > 200:
        raise InvalidValue("name: at most 200 characters", field="name")
    granted = parse_scopes(scopes)
    if created_by is not None:
        allowed = PARTNER_ROLES[created_by.role].scopes
        beyond = [s for s in granted if s not in allowed]
        if beyond:
            raise Forbidden(f"scopes: your role cannot grant '{beyond[0]}'")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidValue("expires: must be in the future", field="expires")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=uuid.uuid4(),
        partner_id=partner_id,
        created_by=created_by.id if created_by else None,
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[:10],
        scopes=granted,
        created=utcnow(),
        expires=utcnow() + expires_in if expires_in else None,
    )
    session.add(token)
    audit.record(
        session,
        audit.admin_actor(created_by) if created_by is not None else OPERATOR,
        "token.create",
        partner_id=partner_id,
        target_type="API_TOKEN",
        target_id=str(token.id),
        target_name=name,
        detail={
            "scopes": granted,
            "expires": token.expires.isoformat() if token.expires else None,
            "secretShown": True,
        },
    )
    return NewToken(token, secret)


# The operator at the command line (``partnerhub token create``, ...): no administrator.
OPERATOR = audit.Actor("system", name="operator (CLI)")


def parse_duration(text: str | None) -> timedelta | None:
    """``30d``, ``12h``, ``90m`` or ``never``."""
    if text is None or text.strip().lower() in ("", "never", "none"):
        return None
    text = text.strip().lower()
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    try:
        value = int(text[:-1]) if text[-1] in units else int(text)
    except ValueError:
        raise InvalidValue(f"expires: '{text}' is not like 30d, 12h, 90m or never") from None
    unit = units.get(text[-1], "days")
    return timedelta(**{unit: value})


def bearer_secret(authorization: str | None) -> str:
    """The secret of an ``Authorization: Bearer <token>`` header (401 if there is none)."""
    if not authorization:
        raise Unauthorized("Authorization header with a Bearer token is required")
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return secret


async def authenticate_bearer(
    db: Database,
    authorization: str | None,
    address_key: str,
    per_address: int,
    per_token: int,
) -> Principal:
    """The bearer token's principal; counts the request against the client address and the
    token (401 for a missing, invalid, expired or revoked token — still counted against the
    address; 429 with ``Retry-After`` over a limit). One autocommit statement."""
    pool = await db.autocommit()
    async with pool.connection() as conn:
        return await authenticate_on(conn, authorization, address_key, per_address, per_token)


async def authenticate_on(
    conn: AsyncConnection[Any],
    authorization: str | None,
    address_key: str,
    per_address: int,
    per_token: int,
) -> Principal:
    """:func:`authenticate_bearer` on a connection of the autocommit pool the caller holds
    (the caller may reuse it for the request's other statements)."""
    try:
        secret: str | None = bearer_secret(authorization)
    except Unauthorized:
        secret = None
    now = utcnow()
    found = await authenticate_and_count(
        conn, hash_secret(secret) if secret else None, address_key, window_of(now), now
    )
    if found.token_id is not None and (
        found.last_used is None or now - found.last_used > timedelta(minutes=1)
    ):
        await touch_token_direct(conn, found.token_id, now)
    refuse_over([(found.address_hits, per_address)], now)
    if secret is None:
        bearer_secret(authorization)  # raises the precise 401
    if found.token_id is None or found.partner_id is None:
        raise Unauthorized("The access token is invalid, expired or revoked")
    refuse_over([(found.token_hits, per_token)], now)
    scopes = token_scopes(found.scopes, found.has_creator, found.creator_role, found.creator_active)
    if scopes is None:
        raise Unauthorized("The access token is invalid, expired or revoked")
    return Principal(
        kind="token",
        partner_id=found.partner_id,
        home_partner_id=found.partner_id,
        actor_id=found.token_id,
        actor_email=None,
        role=None,
        scopes=scopes,
        suspended=found.sub_partner and found.provisioning_state == "suspended",
    )


def token_scopes(
    granted: list[str], has_creator: bool, creator_role: str | None, creator_active: bool
) -> frozenset[str] | None:
    """What a token may do now: its scopes ∩ the current scopes of the administrator who made
    it (a ``_write`` scope of either side grants its ``_read``), so demoting the administrator
    narrows the token at once; ``None`` (401) when that administrator is inactive. A token
    the operator made with the CLI has no creator: its own scopes (the operator's authority
    over the installation). The one rule for every bearer check (every route alike,
    both through :func:`authenticate_on`)."""
    if not has_creator:
        return frozenset(granted)
    if not creator_active or creator_role not in PARTNER_ROLES:
        return None
    return implied(granted) & implied(PARTNER_ROLES[creator_role].scopes)


async def revoke_token(repo: AdminRepository, token_id: uuid.UUID) -> ApiToken:
    repo.principal.require("partnerhub:admin")
    token = await repo.token(token_id)
    if token is None:
        raise NotFound("Token not found")
    if token.revoked is None:
        token.revoked = utcnow()
        audit.record(
            repo.session,
            repo.principal,
            "token.revoke",
            target_type="API_TOKEN",
            target_id=str(token.id),
            target_name=token.name,
        )
    return token


# --- portal sessions --------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    record: PortalSession
    cookie: str


def log_admin_sign_in(
    session: AsyncSession,
    admin: PartnerAdmin,
    action: str,
    detail: dict[str, Any],
    by_them: bool | None = None,
    where: Origin | None = None,
) -> None:
    """A partner administrator's sign-in (``signin.success``, by them) or refused one
    (``signin.failed``, by an anonymous actor who gave their address), or another credential
    event of theirs (``by_them`` says whose), in their partner's log (``where``: the request's
    origin, for a job recording for it)."""
    if by_them is None:
        by_them = action == "signin.success"
    actor = audit.admin_actor(admin) if by_them else audit.Actor("anonymous", email=admin.email)
    audit.record(
        session,
        actor,
        action,
        partner_id=admin.partner_id,
        target_type="PEOPLE",
        target_id=str(admin.id),
        target_name=admin.email,
        detail=detail,
        where=where,
    )


async def login(
    session: AsyncSession, email: str, password: str, hours: int, language: str = "en"
) -> tuple[PartnerAdmin, NewSession]:
    repo = CredentialRepository(session)
    admin = await repo.admin_by_email((email or "").strip())
    ok = verify_password(admin.password_hash if admin else None, password or "")
    if admin is None or not ok or not admin.active:
        if admin is not None:
            reason = "inactive" if ok else "password"
            log_admin_sign_in(
                session, admin, "signin.failed", {"method": "password", "reason": reason}
            )
        else:
            audit.unknown_address_refused(session, email, {"method": "password"})
        raise Unauthorized("Wrong email or password")
    admin.last_login = utcnow()
    log_admin_sign_in(session, admin, "signin.success", {"method": "password"})
    return admin, start_session(session, admin.id, hours, admin.language or language)


def start_session(
    session: AsyncSession, admin_id: uuid.UUID | None, hours: int, language: str
) -> NewSession:
    cookie = secrets.token_urlsafe(32)
    record = PortalSession(
        token_hash=hash_secret(cookie),
        admin_id=admin_id,
        csrf_token=secrets.token_urlsafe(32),
        language=language,
        data={},
        created=utcnow(),
        expires=utcnow() + timedelta(hours=hours),
    )
    session.add(record)
    return NewSession(record, cookie)


async def load_session(
    session: AsyncSession, cookie: str | None
) -> tuple[PortalSession | None, PartnerAdmin | None]:
    if not cookie:
        return None, None
    repo = CredentialRepository(session)
    record = await repo.session_by_hash(hash_secret(cookie))
    if record is None or record.expires <= utcnow():
        return None, None
    admin = await repo.admin_by_id(record.admin_id) if record.admin_id else None
    if admin is not None and not admin.active:
        admin = None
    return record, admin


async def admin_session(
    session: AsyncSession, cookie: str
) -> tuple[PortalSession | None, PartnerAdmin | None, Principal | None]:
    """:func:`load_session` with the administrator's principal (the portal's session reader,
    plugged into ``portal.session`` by the app)."""
    record, admin = await load_session(session, cookie)
    return record, admin, principal_for_admin(admin) if admin is not None else None


# --- what a portal page keeps in the administrator's session (the wizards' answers) -----


def session_state(record: PortalSession | None, key: str) -> dict[str, Any]:
    """What a page stored under ``key`` in the session row (``{}`` when nothing)."""
    state = ((record.data or {}) if record else {}).get(key)
    return dict(state) if isinstance(state, dict) else {}


async def save_session_state(
    session: AsyncSession, record: PortalSession, key: str, state: dict[str, Any]
) -> None:
    """Store ``state`` under ``key`` in the session row (and in ``record``, the request's
    copy, so the rest of the request sees it)."""
    stored = await CredentialRepository(session).session_by_hash(record.token_hash)
    if stored is not None:
        stored.data = {**(stored.data or {}), key: state}
    record.data = {**(record.data or {}), key: state}


# --- first start ------------------------------------------------------------------------


async def bootstrap(
    session: AsyncSession, partner_name: str, email: str, password: str | None
) -> tuple[PartnerAdmin, str | None] | None:
    """Create the partner organization and its first full administrator on an empty database.

    Returns ``(admin, generated password or None)``, or None when partners already exist.
    """
    repo = CredentialRepository(session)
    await repo.lock_bootstrap()
    if await repo.count_partners() > 0:
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    partner = Partner(
        id=uuid.uuid4(),
        name=partner_name,
        settings={"pstnProviders": [], "offers": {"wholesale": True, "hostedCalling": False}},
    )
    admin = PartnerAdmin(
        id=uuid.uuid4(),
        partner_id=partner.id,
        email=email,
        display_name="Administrator",
        role="full_admin",
        password_hash=hash_password(password),
    )
    repo.add(partner)
    await session.flush()
    repo.add(admin)
    await session.flush()
    return admin, generated


async def reset_admin_password(session: AsyncSession, email: str) -> tuple[PartnerAdmin, str]:
    """A new generated password for the partner administrator *email* (any partner: the
    operator's ``partnerhub admin reset-password``); the administrator's portal sessions end.
    404 when no administrator has the address."""
    repo = CredentialRepository(session)
    admin = await repo.admin_by_email((email or "").strip())
    if admin is None:
        raise NotFound(f"no administrator with the email '{email.strip()}'", field="email")
    password = secrets.token_urlsafe(12)
    admin.password_hash = hash_password(password)
    await repo.end_admin_sessions(admin.id)
    await session.flush()
    return admin, password


# --- administrators ---------------------------------------------------------------------

ADMIN_SCOPE = "partnerhub:admin"
MIN_PASSWORD = 12


def _check_email(email: str) -> str:
    from partnerhub.kit.validators import normalize_email

    email = (email or "").strip()
    if not email:
        raise MissingField("email: is required", field="email")
    normalized = normalize_email(email)
    if normalized is None:
        raise InvalidValue(
            f"email: '{email}' is not a valid email address",
            field="email",
            reason="email",
            params={"value": email},
        )
    return normalized


def _check_role(role: str) -> str:
    if role not in PARTNER_ROLES:
        raise InvalidValue(
            f"role: '{role}' is not one of {', '.join(PARTNER_ROLES)}",
            field="role",
            reason="unknown",
            params={"value": role},
        )
    return role


async def create_admin(
    repo: AdminRepository, email: str, display_name: str, role: str, password: str
) -> PartnerAdmin:
    """Add an administrator to the acting partner (full administrators only)."""
    repo.principal.require(ADMIN_SCOPE)
    email = _check_email(email)
    _check_role(role)
    if len(password or "") < MIN_PASSWORD:
        raise InvalidValue(
            f"password: at least {MIN_PASSWORD} characters are required",
            field="password",
            reason="too_short",
            params={"min": MIN_PASSWORD},
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):  # NUL, newline...: untypable
        raise InvalidValue("password: control characters are not allowed", field="password")
    await check_identity_free(repo.session, email, PARTNER_ADMIN)
    admin = PartnerAdmin(
        id=uuid.uuid4(),
        partner_id=repo.principal.partner_id,
        email=email,
        display_name=(display_name or "").strip()[:200],
        role=role,
        password_hash=hash_password(password),
    )
    try:
        async with repo.session.begin_nested():  # a concurrent holder of the address
            repo.add(admin)
            await repo.session.flush()
    except IntegrityError as exc:
        problem = identity_clash(exc, email)
        if problem is None:
            raise
        raise problem from None
    audit.admin_created(
        repo.session,
        repo.principal,
        admin,
        audit.changes_of(
            {}, {"displayName": admin.display_name, "role": role, "password": "set"}, ("password",)
        ),
    )
    return admin


async def update_admin(
    repo: AdminRepository,
    admin_id: uuid.UUID | None,
    *,
    display_name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> PartnerAdmin:
    """Change an administrator's name, role or active flag.

    The partner always keeps at least one active full administrator, and nobody can
    deactivate or demote themselves (so a partner cannot lock itself out by mistake).
    """
    repo.principal.require(ADMIN_SCOPE)
    admin = await repo.admin(admin_id) if admin_id else None
    if admin is None:
        raise NotFound("Administrator not found")
    if role is not None:
        _check_role(role)
    self_change = admin.id == repo.principal.actor_id
    demoted = role is not None and role != "full_admin" and admin.role == "full_admin"
    deactivated = active is False and admin.active
    if self_change and (demoted or deactivated):
        raise Forbidden("You cannot demote or deactivate yourself")
    if (demoted or deactivated) and admin.role == "full_admin":
        others = [
            a
            for a in await repo.list_admins()
            if a.role == "full_admin" and a.active and a.id != admin.id
        ]
        if not others:
            raise Conflict(
                "The partner must keep at least one active full administrator", code=1205
            )
    before = {"displayName": admin.display_name, "role": admin.role, "active": admin.active}
    if display_name is not None:
        admin.display_name = display_name.strip()[:200]
    if role is not None:
        admin.role = role
    if active is not None:
        admin.active = active
    after = {"displayName": admin.display_name, "role": admin.role, "active": admin.active}
    changes = audit.changes_of(before, after)
    if changes:
        action = (
            "admin.deactivate"
            if deactivated
            else "admin.activate"
            if "active" in changes
            else "admin.role"
            if "role" in changes
            else "admin.update"
        )
        audit.record(
            repo.session,
            repo.principal,
            action,
            target_type="PEOPLE",
            target_id=str(admin.id),
            target_name=admin.email,
            changes=changes,
        )
    await repo.session.flush()
    if deactivated:
        # Deactivation ends every session: a later reactivation signs nobody back in.
        await end_admin_sessions(repo.session, admin.id)
    return admin


async def end_admin_sessions(
    session: AsyncSession, admin_id: uuid.UUID, keep: PortalSession | None = None
) -> None:
    """End every portal session of the administrator but ``keep`` (the one acting): after a
    deactivation, and after any change of their credentials."""
    await CredentialRepository(session).end_admin_sessions(
        admin_id, keep.token_hash if keep is not None else None
    )


async def list_admins(repo: AdminRepository) -> list[PartnerAdmin]:
    return await repo.list_admins()


async def admin_locked(session: AsyncSession, admin: PartnerAdmin) -> bool:
    """True while the administrator's address is locked out (``sign_in_rules``)."""
    return await ratelimit.is_locked(session, sign_in_email_key(admin.email))


async def unlock_admin(repo: AdminRepository, admin_id: uuid.UUID) -> bool:
    """End the lock-out of one of the partner's administrators (full administrators only);
    True when it was locked."""
    repo.principal.require(ADMIN_SCOPE)
    admin = await repo.admin(admin_id)
    if admin is None:
        raise NotFound("Administrator not found")
    was_locked = await ratelimit.clear(repo.session, sign_in_email_key(admin.email))
    audit.record(
        repo.session,
        repo.principal,
        "admin.unlock",
        target_type="PEOPLE",
        target_id=str(admin.id),
        target_name=admin.email,
        detail={"wasLocked": was_locked},
    )
    return was_locked


# --- sign-in throttling -----------------------------------------------------------------
#
# One throttle for every attempt at a secret (docs/security.md, "Sign-in throttling and
# lock-out"): kit.ratelimit.attempt, counted before the secret is checked. Its keys are the
# email address typed (whoever it belongs to, or nobody: the lock-out is the same for a partner
# administrator, a customer user and an unknown address) and the client address.


def sign_in_email_key(email: str) -> str:
    return f"signin-email:{(email or '').strip().lower()}"


# The refusal shown while an address is locked out by :func:`sign_in_rules`.
TOO_MANY = N_(
    "Too many failed sign-ins for this address. Wait a few minutes and try again, or ask an "
    "administrator to unlock the account."
)


def sign_in_rules(email: str, address: str, settings: Settings) -> list[ratelimit.Rule]:
    """The rules of a password or second-factor attempt: the lock-out of the email address
    (``lockout_failures`` consecutive failures lock it for ``lockout_minutes``; with the
    lock-out off, ``login_failures_per_window`` a minute) and ``login_failures_per_window``
    failures a minute from one client address."""
    minute = timedelta(minutes=1)
    if settings.lockout_failures > 0:
        lock = timedelta(minutes=max(1, settings.lockout_minutes))
        by_email = ratelimit.Rule(
            sign_in_email_key(email), settings.lockout_failures, lock, lock, lockout=True
        )
    else:
        by_email = ratelimit.Rule(
            sign_in_email_key(email),
            settings.login_failures_per_window,
            minute,
            minute,
        )
    by_address = ratelimit.Rule(
        f"signin-addr:{address}", settings.login_failures_per_window, minute, minute
    )
    return [by_email, by_address]


async def count_sign_in_attempt(
    session: AsyncSession, email: str, address: str, settings: Settings
) -> ratelimit.Attempt:
    """Count a sign-in attempt (commit before checking the password or code, then ask
    ``refused()``)."""
    return await ratelimit.attempt(session, sign_in_rules(email, address, settings))


def reset_request_rules(email: str, address: str) -> list[ratelimit.Rule]:
    """Reset-password requests: 3 a minute per email address, 10 a minute per client."""
    minute = timedelta(minutes=1)
    return [
        ratelimit.Rule(f"reset-email:{(email or '').strip().lower()}", 3, minute, minute),
        ratelimit.Rule(f"reset-addr:{address}", 10, minute, minute),
    ]
