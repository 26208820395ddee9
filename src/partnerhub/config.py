"""Settings: environment variables ``PARTNERHUB_*`` (and an optional ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "partnerhub"


class Settings(BaseSettings):
    """Every setting can be given as ``PARTNERHUB_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="PARTNERHUB_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where the embedded PostgreSQL keeps its data (default ~/.local/share/partnerhub)."""
    database_url: str | None = None
    """postgresql://user:pass@host:port/db of an external PostgreSQL (any libpq URL or conninfo,
    several hosts too: postgresql://h1:5432,h2:5432/db?target_session_attrs=read-write); unset =
    embedded server in the data directory."""
    database_prepared_statements: bool = True
    """Server-side prepared statements (psycopg prepares a statement a connection runs often).
    false behind PgBouncer in transaction pooling mode (docs/scaling.md)."""
    host: str = "127.0.0.1"
    """Address the HTTP server binds."""
    port: int = 8000
    """Port the HTTP server binds."""
    public_url: str | None = None
    """External base URL (for links in emails); default http://HOST:PORT."""
    cookie_secure: bool = True
    """Mark the session cookie Secure (browsers accept it on http://localhost)."""
    session_hours: int = 12
    """Portal session lifetime in hours."""
    max_body_bytes: int = 1024 * 1024
    """Largest accepted request body."""
    db_pool_size: int = 10
    """Database connections per process."""
    worker_concurrency: int = 4
    """Concurrent jobs per worker."""
    worker_listen: bool = True
    """Workers hear of new jobs at once by LISTEN/NOTIFY; false = they poll (behind PgBouncer in
    transaction pooling mode, where LISTEN does not work)."""
    worker_poll_seconds: float | None = Field(default=None, gt=0)
    """How often an idle worker looks for jobs; default 5 s with LISTEN, 1 s without."""
    worker_nice: int = Field(default=10, ge=0, le=19)
    """Scheduling niceness a `partnerhub worker` process takes (0-19): background provisioning
    yields the CPU to serving processes on the same machine."""
    shutdown_seconds: int = Field(default=10, ge=0)
    """On SIGTERM/Ctrl-C: how long in-flight requests may take to finish, and then how long running
    jobs may take before they are handed back to the queue."""
    xmlsec1: str | None = None
    """Path of the xmlsec1 program partner SAML sign-on needs; unset = found on PATH (Debian:
    apt-get install xmlsec1). Without it partner SAML is unavailable."""
    admin_email: str = "admin@partnerhub.local"
    """Email of the first full administrator created on first start."""
    admin_password: str | None = None
    """Password of the first administrator; unset = generated and printed once."""
    partner_name: str = "My Partner"
    """Name of the partner organization created on first start."""
    rate_limit_per_token: int = 6000
    """API requests per minute per token (0 = unlimited)."""
    rate_limit_per_address: int = 12000
    """API requests per minute per client address (0 = unlimited)."""
    login_failures_per_window: int = 10
    """Failed sign-ins per minute per client address before 429."""
    log_level: str = "info"
    """Log level: debug, info, warning, error."""

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        # Not uvicorn's "trace": it logs every request's headers (tokens, cookies).
        if value.strip().lower() not in ("debug", "info", "warning", "error"):
            raise ValueError(f"'{value}' is not one of debug, info, warning, error")
        return value.strip().lower()

    # --- customer provisioning (docs/customers.md) ---
    backend: str = "null"
    """Downstream services: 'null' (succeed at once) or 'fault' (latency and failures, for testing
    retries)."""
    fault_latency_ms: int = 0
    """fault backend: delay of every downstream call, milliseconds."""
    fault_failure_rate: float = 0.0
    """fault backend: probability (0-1) that a call fails transiently."""
    fault_transient_attempts: int = 0
    """fault backend: every call fails transiently on its first N attempts."""
    fault_permanent_packages: str = ""
    """fault backend: comma-separated packages whose provisioning always fails."""
    provisioning_retries: int = 5
    """Retries of a provisioning job after transient failures."""
    provisioning_retry_seconds: float = 2.0
    """First retry delay, doubled on each further retry (seconds)."""
    reconcile_cron: str = "* * * * *"
    """When the provisioning reconciler runs (cron; a 6th field counts seconds)."""
    stalled_job_seconds: int = 30
    """A job whose worker sent no heartbeat for this long is re-run by the reconciler."""
    smtp_host: str | None = None
    """SMTP server for emails; unset = keep them in the outbox."""
    smtp_port: int = 587
    """SMTP port."""
    smtp_username: str | None = None
    """SMTP user name."""
    smtp_password: str | None = None
    """SMTP password."""
    smtp_security: str = "starttls"
    """SMTP transport security: starttls, tls or none."""
    smtp_from: str = "PartnerHub <noreply@partnerhub.local>"
    """Sender of emails."""
    # --- identity and single sign-on (docs/identity.md) ---
    secret_key: str | None = None
    """Secret that signs invitation links and encrypts stored IdP secrets; unset = a random one
    kept in the database."""
    sso_fetch_timeout_seconds: float = 10.0
    """Total deadline of one fetch from a partner's IdP (metadata, OIDC), redirects and the whole
    answer included."""
    sso_metadata_max_bytes: int = 1024 * 1024
    """Largest SAML metadata or OIDC document accepted."""
    sso_allow_private_addresses: bool = False
    """Let IdP URLs point at loopback or private addresses (tests, labs)."""
    # --- events and webhooks (docs/events.md) ---
    events_retention_days: int = 30
    """How long events (the feed, webhook deliveries and their attempt log) are kept, days."""
    webhook_allow_private_addresses: bool = False
    """Let webhook target URLs point at loopback or private addresses (tests, labs)."""
    webhook_timeout_seconds: float = 5.0
    """Total deadline of one delivery attempt (connecting and the whole answer)."""
    webhook_retry_base_seconds: float = 10.0
    """Delay before the first retry of a failed delivery; doubled at each failure."""
    webhook_retry_max_seconds: float = 3600.0
    """Longest delay between two attempts of a delivery."""
    webhook_retry_window_seconds: float = 86400.0
    """How long a delivery is retried; then the webhook is deactivated and its partner told."""
    webhook_failure_limit: int = 40
    """Consecutive failed attempts that deactivate a webhook sooner (0 = only the window)."""
    webhook_poll_seconds: float = 1.0
    """How often the delivery loop looks for new events and due retries, seconds."""
    sso_request_minutes: int = 10
    """How long a single sign-on attempt may take, minutes."""
    sso_clock_skew_seconds: int = 60
    """Clock difference tolerated in SAML assertions and ID tokens."""
    invitation_hours: int = 72
    """How long an invitation link (set your password) stays valid."""
    password_reset_minutes: int = 60
    """How long a password-reset link stays valid."""
    lockout_failures: int = 5
    """Consecutive failed sign-ins that lock an email address (0 = never)."""
    lockout_minutes: int = 15
    """How long a locked account stays locked (an administrator may unlock it sooner)."""

    # --- operations: metrics, logs, traces (docs/deployment.md) ---
    metrics_token: str | None = None
    """Bearer token that opens /metrics (Prometheus) from any address; unset and no
    PARTNERHUB_METRICS_ADDRESSES = /metrics is off (404)."""
    metrics_addresses: str = ""
    """Comma-separated client networks (e.g. 127.0.0.1/32,10.0.0.0/8) that may read /metrics
    without the token; empty = none."""
    worker_metrics_port: int | None = None
    """Port on which `partnerhub worker` serves /metrics (same protection); unset = none."""
    log_format: str = "text"
    """Log lines: text, or json (one object per line with the request's TrackingID, partner and
    route)."""
    otel_endpoint: str | None = None
    """OTLP/HTTP endpoint for OpenTelemetry traces (or OTEL_EXPORTER_OTLP_ENDPOINT); needs the
    `otel` extra; unset = no tracing."""

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value.strip().lower() not in ("text", "json"):
            raise ValueError(f"'{value}' is not one of text, json")
        return value.strip().lower()

    @field_validator("metrics_addresses")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"'{part.strip()}' is not an address or network") from None
        return value

    def metrics_enabled(self) -> bool:
        return bool(self.metrics_token or self.metrics_addresses.strip())

    def worker_heartbeat_seconds(self) -> float:
        """How often a worker proves it is alive: well within ``stalled_job_seconds``, so that
        the reconciler never takes a live worker's job for a dead one's."""
        return max(0.5, min(10.0, self.stalled_job_seconds / 3))

    def worker_poll(self) -> float:
        """Seconds between an idle worker's looks for jobs: LISTEN/NOTIFY wakes a listening
        worker at once (polling is its safety net), a worker without it relies on polling."""
        if self.worker_poll_seconds is not None:
            return self.worker_poll_seconds
        return 5.0 if self.worker_listen else 1.0

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


# A setting's description is its attribute docstring (``use_attribute_docstrings``), which wraps
# at the line length; ``partnerhub serve --help`` shows each on one line.
for _field in Settings.model_fields.values():
    _field.description = " ".join((_field.description or "").split())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
