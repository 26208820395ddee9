"""Emails: rendering, the transactional outbox, SMTP delivery.

* Templates live in ``notifications/templates/<kind>/<language>.txt`` (first line: the
  subject; after a blank line: the plain-text body) and ``<language>.html`` (HTML body,
  autoescaped). Languages are ISO 639-1 codes (``en``, ``it``); :func:`pick_language` falls
  back along the caller's preferences, then to English.
* :func:`queue` writes the email into ``outbox_emails`` inside the caller's transaction.
  ``dedupe_key`` makes it idempotent: a re-run of the same step writes nothing new.
* With ``PARTNERHUB_SMTP_HOST`` set the email is ``pending`` and the ``deliver_email`` job
  sends it with aiosmtplib (then ``sent``); without SMTP it is ``stored``.
* Secrets: an email may carry a single-use link (set-password, reset, consent) that
  only its recipient may read. :func:`masked` hides them; the portal's outbox shows only the
  masked text, and once an email is ``sent`` the stored copy is masked too. The unmasked text
  of an email not sent is read on the machine only (``partnerhub outbox show ID``).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import runtime
from partnerhub.catalog.languages import normalize_language
from partnerhub.config import Settings
from partnerhub.models import Customer, OutboxEmail
from partnerhub.models.base import utcnow
from partnerhub.notifications import repository
from partnerhub.ops import metrics

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"
MAX_ATTEMPTS = 5


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def languages(kind: str) -> frozenset[str]:
    """The languages ``kind`` has templates in (both ``.txt`` and ``.html``)."""
    folder = TEMPLATE_DIR / kind
    txt = {p.stem for p in folder.glob("*.txt")}
    html = {p.stem for p in folder.glob("*.html")}
    return frozenset(txt & html)


def pick_language(kind: str, *preferences: str | None) -> str:
    """The first preference (``it``, ``it_IT``, ``it-IT``) ``kind`` has a template for."""
    available = languages(kind)
    for pref in preferences:
        norm = normalize_language(pref) if pref else None
        if norm is not None and norm.split("_", 1)[0] in available:
            return norm.split("_", 1)[0]
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    env = _env()
    text = env.get_template(f"{kind}/{language}.txt").render(context)
    html = env.get_template(f"{kind}/{language}.html").render(context)
    subject, _, body = text.partition("\n")
    return Rendered(subject=subject.strip(), text=body.lstrip("\n"), html=html)


# --- secrets in emails ----------------------------------------------------------------------

HIDDEN = "[hidden]"
# The emailed single-use links (their path is the credential), and secret query parameters.
_SECRET_PATH = re.compile(r"(/(?:account/(?:set|reset)-password|consent)/)[^\s\"'<>]+")
_SECRET_QUERY = re.compile(
    r"([?&](?:code|state|token|key|secret|password|SAMLResponse|RelayState|Signature)=)"
    r"[^&#\s\"'<>]*",
    re.IGNORECASE,
)
# Anything else that looks like a token: 20+ characters of a base64url alphabet holding letters
# and digits (an API token ``ph_...``, a TOTP secret, a signed value with dots).
_TOKEN_LIKE = re.compile(r"(?<![\w\-.])[A-Za-z0-9_\-]{20,}(?:\.[A-Za-z0-9_\-]+)*(?![\w\-])")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _public_value(text: str) -> bool:
    """A long value that is not a secret: a uuid, or one of our opaque ids."""
    if _UUID.fullmatch(text):
        return True
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(b"partnerhub://")


def _token_like(match: re.Match[str]) -> str:
    value = match.group(0)
    if _public_value(value) or value.isalpha() or value.isdigit():
        return value
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return value
    return HIDDEN


def masked(text: str) -> str:
    """``text`` with every secret an email may carry replaced by ``[hidden]``."""
    text = _SECRET_PATH.sub(rf"\1{HIDDEN}", text)
    text = _SECRET_QUERY.sub(rf"\1{HIDDEN}", text)
    return _TOKEN_LIKE.sub(_token_like, text)


def smtp_configured(settings: Settings | None = None) -> bool:
    settings = settings or runtime.settings()
    return bool(settings.smtp_host)


def sender(settings: Settings, display_name: str | None) -> str:
    name, address = email.utils.parseaddr(settings.smtp_from)
    return email.utils.formataddr((display_name or name or "", address or settings.smtp_from))


async def queue(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    dedupe_key: str,
    kind: str,
    to: str,
    language: str,
    context: dict[str, Any],
    from_name: str | None = None,
) -> uuid.UUID | None:
    """Write an email to the outbox; returns its id, or None when ``dedupe_key`` exists."""
    settings = runtime.settings()
    rendered = render(kind, language, context)
    return await repository.insert_once(
        session,
        id=uuid.uuid4(),
        partner_id=partner_id,
        customer_id=customer_id,
        dedupe_key=dedupe_key,
        kind=kind,
        to_address=to,
        from_address=sender(settings, from_name),
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        language=language,
        status="pending" if smtp_configured(settings) else "stored",
        attempts=0,
        created=utcnow(),
    )


def brand_of(customer: Customer) -> str:
    """The name a customer organization's emails are sent under (its template's brand)."""
    email_settings: dict[str, Any] = (customer.settings or {}).get("email") or {}
    return str(email_settings.get("brandName") or "PartnerHub")


async def queue_for_customer(
    session: AsyncSession,
    customer: Customer,
    *,
    kind: str,
    to: str,
    dedupe_key: str,
    context: dict[str, Any],
    language: str | None = None,
) -> uuid.UUID | None:
    """:func:`queue` an email about a customer organization: in *language* (the recipient's
    own pick, when the recipient is a user who made one), else the customer's email language,
    from its brand, with ``brand_name`` and ``customer_name`` added to *context*."""
    brand = brand_of(customer)
    language = pick_language(
        kind, language, customer.language, (customer.settings or {}).get("defaultEmailLanguage")
    )
    return await queue(
        session,
        partner_id=customer.partner_id,
        customer_id=customer.id,
        dedupe_key=dedupe_key,
        kind=kind,
        to=to,
        language=language,
        context={
            "brand_name": brand,
            "customer_name": customer.name or customer.external_id,
            **context,
        },
        from_name=brand,
    )


def message_of(mail: OutboxEmail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail.from_address
    msg["To"] = mail.to_address
    msg["Subject"] = mail.subject
    msg["Date"] = email.utils.format_datetime(mail.created)
    msg["Message-ID"] = f"<{mail.id}@partnerhub>"
    msg.set_content(mail.body_text)
    msg.add_alternative(mail.body_html, subtype="html")
    msg["Content-Language"] = mail.language  # after set_content(), which drops Content-*
    return msg


async def send(settings: Settings, mail: OutboxEmail) -> None:
    security = settings.smtp_security.strip().lower()
    assert settings.smtp_host is not None
    await aiosmtplib.send(
        message_of(mail),
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        use_tls=security == "tls",
        start_tls=security == "starttls",
        timeout=30,
    )


async def deliver(email_id: uuid.UUID) -> str:
    """Send one pending email; returns its status afterwards. Safe to call twice."""
    settings = runtime.settings()
    db = runtime.database()
    async with db.transaction() as session:
        mail = await repository.by_id(session, email_id)
        if mail is None or mail.status != "pending":
            return mail.status if mail else "missing"
        if not smtp_configured(settings):
            mail.status = "stored"
            metrics.email(mail.kind, "stored")
            return mail.status
        session.expunge(mail)
    try:
        await send(settings, mail)
    except (aiosmtplib.SMTPException, OSError) as exc:
        attempts = mail.attempts + 1
        status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
        async with db.transaction() as session:
            await repository.set_delivery(
                session, email_id, attempts=attempts, status=status, last_error=str(exc)[:1000]
            )
        metrics.email(mail.kind, "retry" if status == "pending" else "failed")
        if status == "pending":
            raise
        return status
    async with db.transaction() as session:
        # Delivered: the recipient holds the only copy of its secrets from now on.
        await repository.set_delivery(
            session,
            email_id,
            status="sent",
            sent=utcnow(),
            attempts=mail.attempts + 1,
            last_error=None,
            body_text=masked(mail.body_text),
            body_html=masked(mail.body_html),
        )
    metrics.email(mail.kind, "sent")
    return "sent"
