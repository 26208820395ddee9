"""``partnerhub doctor``: is this installation ready to run? (docs/deployment.md)

Checks, in order: the settings validate; the database answers, is PostgreSQL 15 or newer and
its schema is at this version's head; the SMTP server (when configured) answers EHLO (and
STARTTLS and AUTH when set; no mail is sent); the public URL is well formed and reachable by
others when the server binds a non-local address; /metrics is protected. Each check is OK,
WARN (works, but look) or FAIL (fix it first), with what to do.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ValidationError

from partnerhub.config import Settings

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_SERVER = 15
TIMEOUT = 5.0


@dataclass
class Check:
    name: str
    result: str
    detail: str
    fix: str = ""


def _local(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.endswith(".localhost")


def _safe(url: str) -> str:
    """``url`` without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(the configured URL)"


def configuration() -> tuple[Settings | None, list[Check]]:
    try:
        settings = Settings()
    except ValidationError as exc:
        checks = []
        for error in exc.errors():
            name = "PARTNERHUB_" + "_".join(str(p) for p in error.get("loc", ())).upper()
            checks.append(
                Check("configuration", FAIL, f"{name}: {error.get('msg')}", f"correct {name}")
            )
        return None, checks
    return settings, [Check("configuration", OK, "every PARTNERHUB_* setting is valid")]


def database(settings: Settings) -> list[Check]:
    import psycopg

    from partnerhub.db import database_url, migration_status

    where = "external" if settings.database_url else f"embedded in {settings.data_dir}"
    try:
        url = database_url(settings)
        with psycopg.connect(url, connect_timeout=int(TIMEOUT)) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown = _safe(settings.database_url) if settings.database_url else where
        return [
            Check(
                "database",
                FAIL,
                f"cannot connect to {shown}: {reason}",
                "check PARTNERHUB_DATABASE_URL (host, port, user, password, database) and that "
                "the server runs"
                if settings.database_url
                else "check PARTNERHUB_DATA_DIR is writable and its PostgreSQL log (pgdata/log)",
            )
        ]
    assert row is not None
    version = int(str(row[0]))
    major = version // 10000
    checks = [Check("database", OK, f"reachable ({where})")]
    if major < MIN_SERVER:
        checks.append(
            Check(
                "database version",
                FAIL,
                f"PostgreSQL {major}: PartnerHub needs {MIN_SERVER} or newer",
                "upgrade the server",
            )
        )
        return checks
    checks.append(Check("database version", OK, f"PostgreSQL {major} (≥ {MIN_SERVER})"))
    try:
        current, head = migration_status(url)
    except Exception as exc:
        return [*checks, Check("migrations", FAIL, f"cannot read the schema revision: {exc}")]
    if current == head:
        checks.append(Check("migrations", OK, f"at head ({head})"))
    elif current is None:
        checks.append(
            Check(
                "migrations",
                WARN,
                "empty database",
                "`partnerhub serve` applies the migrations at start (or `partnerhub db upgrade`)",
            )
        )
    elif _known(current, url):
        checks.append(
            Check(
                "migrations",
                WARN,
                f"at {current}, head is {head}",
                "run `partnerhub db upgrade` (serve and worker also do at start)",
            )
        )
    else:
        checks.append(
            Check(
                "migrations",
                FAIL,
                f"at {current}, which this version does not know (a newer PartnerHub wrote it)",
                "run the PartnerHub version that migrated this database, or a newer one",
            )
        )
    return checks


def _known(revision: str, url: str) -> bool:
    from alembic.script import ScriptDirectory

    from partnerhub.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config(url))
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


def smtp(settings: Settings) -> Check:
    if not settings.smtp_host:
        return Check(
            "smtp",
            WARN,
            "not configured: emails (invitations, password resets) stay in the outbox",
            "set PARTNERHUB_SMTP_HOST (and _PORT, _USERNAME, _PASSWORD, _SECURITY)",
        )
    security = settings.smtp_security.strip().lower()
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    steps = ["EHLO"]
    try:
        client: smtplib.SMTP
        if security == "tls":
            client = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=TIMEOUT,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT)
        with client:
            client.ehlo()
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
                steps.append("STARTTLS")
            if settings.smtp_username:
                client.login(settings.smtp_username, settings.smtp_password or "")
                steps.append("AUTH")
    except (OSError, smtplib.SMTPException) as exc:
        return Check(
            "smtp",
            FAIL,
            f"{where} ({security}): {type(exc).__name__}: {str(exc)[:200]}",
            "check PARTNERHUB_SMTP_HOST, _PORT, _SECURITY (starttls, tls or none) and the "
            "credentials",
        )
    return Check("smtp", OK, f"{where} answered {', '.join(steps)} (no mail sent)")


def public_url(settings: Settings) -> list[Check]:
    url = settings.base_url()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            Check(
                "public url",
                FAIL,
                f"'{url}' is not an http(s) URL with a host",
                "set PARTNERHUB_PUBLIC_URL=https://hub.example.com",
            )
        ]
    if parts.query or parts.fragment:
        return [
            Check(
                "public url",
                FAIL,
                f"'{url}' has a query or a fragment",
                "PARTNERHUB_PUBLIC_URL is a base: scheme, host, port and path only",
            )
        ]
    checks: list[Check] = []
    if not _local(settings.host) and (not settings.public_url or _local(parts.hostname)):
        return [
            Check(
                "public url",
                FAIL,
                f"the server binds {settings.host} but links in emails would point at {url}",
                "set PARTNERHUB_PUBLIC_URL to the address users reach (e.g. https://hub.example.com)",
            )
        ]
    if parts.scheme == "http" and not _local(parts.hostname):
        checks.append(
            Check(
                "public url",
                WARN,
                f"{url} is plain http: sign-in cookies and passwords cross the network unencrypted",
                "serve behind a TLS proxy and set PARTNERHUB_PUBLIC_URL=https://...",
            )
        )
        if settings.cookie_secure:
            checks.append(
                Check(
                    "cookies",
                    WARN,
                    "PARTNERHUB_COOKIE_SECURE=true but the public URL is http: browsers will not "
                    "send the session cookie, so portal sign-in fails",
                    "use https (preferred) or PARTNERHUB_COOKIE_SECURE=false",
                )
            )
    else:
        checks.append(Check("public url", OK, url))
    return checks


def metrics(settings: Settings) -> Check:
    if not settings.metrics_enabled():
        return Check("metrics", OK, "/metrics is off (set PARTNERHUB_METRICS_TOKEN to scrape)")
    ways = []
    if settings.metrics_token:
        if len(settings.metrics_token) < 16:
            return Check(
                "metrics",
                WARN,
                "PARTNERHUB_METRICS_TOKEN is shorter than 16 characters",
                "use a long random token (e.g. openssl rand -hex 24)",
            )
        ways.append("bearer token")
    if settings.metrics_addresses.strip():
        ways.append(f"networks {settings.metrics_addresses}")
    return Check("metrics", OK, "/metrics needs the " + " or ".join(ways))


def run() -> list[Check]:
    settings, checks = configuration()
    if settings is None:
        return checks
    checks += database(settings)
    checks.append(smtp(settings))
    checks += public_url(settings)
    checks.append(metrics(settings))
    return checks
