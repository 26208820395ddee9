"""Keeping secrets out of the logs (docs/security.md, "Secrets and logs").

Credentials travel in headers and bodies, which nothing logs, except in a few request paths:
the emailed set-password and password-reset links (``/account/set-password/<token>``,
``/account/reset-password/<token>``), the consent link (``/consent/<token>``) and the query of
single sign-on answers (OIDC ``code`` and ``state``, SAML ``SAMLResponse``, ``RelayState``,
``Signature``). uvicorn's access log (on at ``PARTNERHUB_LOG_LEVEL=debug``) writes the path
and query of every request: :class:`RedactSecrets` replaces those values with ``[redacted]``.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

REDACTED = "[redacted]"
_PATH = re.compile(r"(/(?:account/(?:set|reset)-password|consent)/)[^/?#\s\"]+")
_QUERY = re.compile(
    r"([?&](?:code|state|token|SAMLResponse|SAMLRequest|RelayState|Signature|SigAlg)=)[^&#\s\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with the secrets a request path or query may carry replaced."""
    if "/" not in text and "=" not in text:
        return text
    return _QUERY.sub(rf"\1{REDACTED}", _PATH.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """A logging filter that redacts secrets in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactSecrets` on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactSecrets"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    return config


def install() -> None:
    """Redact secrets in every record of the process's root handlers (``partnerhub serve``
    and ``worker`` configure them with ``logging.basicConfig``)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
