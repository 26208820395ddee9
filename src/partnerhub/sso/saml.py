"""PartnerHub as a SAML 2.0 service provider, one per partner, on pysaml2.

pysaml2 (with the ``xmlsec1`` program, see :func:`unavailable_reason`) builds and signs the
AuthnRequest and validates the response: XML signature against the certificates of the IdP's
registered metadata, audience, destination, time window (``PARTNERHUB_SSO_CLOCK_SKEW_SECONDS``
of tolerance) and ``InResponseTo`` (unsolicited responses are refused). The service module adds
what needs the database: the request must be one we issued and not yet used, and the assertion
ID must not have been seen before (replay).

Everything here is synchronous (pysaml2 runs ``xmlsec1`` as a subprocess); callers run it in a
thread. pysaml2 reads keys from files, so the partner's SP key pair is written, once per
process, to a private temporary directory.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from defusedxml import ElementTree

from partnerhub import runtime
from partnerhub.errors import Unavailable

log = logging.getLogger(__name__)

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
EMAIL_ATTRIBUTES = (
    "email",
    "mail",
    "emailAddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "urn:oid:1.2.840.113549.1.9.1",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
)


class SamlRefused(Exception):
    """A SAML response that must not sign anybody in; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


INSTALL_HINT = (
    "install it with the operating system's package manager (Debian/Ubuntu: apt-get install "
    "xmlsec1; Fedora: dnf install xmlsec1; macOS: brew install libxmlsec1) or set "
    "PARTNERHUB_XMLSEC1 to its path, then restart"
)


def _find_xmlsec1() -> str | None:
    configured = runtime.settings().xmlsec1
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    found = shutil.which("xmlsec1")
    if found is None and os.access("/usr/bin/xmlsec1", os.X_OK):
        found = "/usr/bin/xmlsec1"
    return found


def unavailable_reason() -> str | None:
    """Why partner SAML sign-on cannot work in this process (None: it can).

    pysaml2 signs and verifies by running the ``xmlsec1`` program, which ``pip install`` does
    not bring; PartnerHub never installs system packages itself (docs/identity.md)."""
    if _find_xmlsec1() is not None:
        return None
    where = runtime.settings().xmlsec1 or "on PATH"
    return (
        f"Partner SAML single sign-on is unavailable: the xmlsec1 program is not installed "
        f"({where}); {INSTALL_HINT}. OIDC sign-on and passwords are not affected."
    )


def xmlsec_binary() -> str:
    """The ``xmlsec1`` program; :class:`errors.Unavailable` (503, 1600) when it is missing."""
    path = _find_xmlsec1()
    if path is None:
        raise Unavailable(
            "Partner SAML single sign-on is unavailable on this server: the xmlsec1 program "
            "is not installed."
        )
    return path


# --- the SP key pair ----------------------------------------------------------------------


def generate_key_pair(common_name: str) -> tuple[str, str]:
    """A new RSA-2048 key and a self-signed certificate valid 10 years: ``(key_pem, cert_pem)``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "PartnerHub")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


_key_dir: str | None = None


def _private_dir() -> str:
    global _key_dir
    if _key_dir is None or not os.path.isdir(_key_dir):
        _key_dir = tempfile.mkdtemp(prefix="partnerhub-saml-")
        os.chmod(_key_dir, 0o700)
        atexit.register(shutil.rmtree, _key_dir, True)
    return _key_dir


def _write_once(path: str, content: str) -> None:
    if os.path.exists(path):
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.replace(tmp, path)


def key_files(key_pem: str, cert_pem: str) -> tuple[str, str]:
    """Paths of the key and certificate files (written on first use in this process)."""
    digest = hashlib.sha256(cert_pem.encode()).hexdigest()[:32]
    folder = _private_dir()
    key_path = os.path.join(folder, f"{digest}.key")
    cert_path = os.path.join(folder, f"{digest}.crt")
    _write_once(key_path, key_pem)
    _write_once(cert_path, cert_pem)
    return key_path, cert_path


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceProvider:
    """One partner's SP: its URLs and key files."""

    entity_id: str
    acs_url: str
    key_file: str
    cert_file: str
    clock_skew: int = 60


@dataclass(frozen=True)
class IdentityProvider:
    entity_id: str
    metadata_xml: str
    want_authn_requests_signed: bool
    sso_binding: str  # redirect | post
    email_attribute: str | None = None


@lru_cache(maxsize=64)
def _config(sp: ServiceProvider, idp: IdentityProvider | None) -> Any:
    from saml2 import BINDING_HTTP_POST
    from saml2.config import SPConfig

    conf: dict[str, Any] = {
        "entityid": sp.entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "key_file": sp.key_file,
        "cert_file": sp.cert_file,
        "accepted_time_diff": sp.clock_skew,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "name": "PartnerHub",
                "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
                "allow_unsolicited": False,
                "authn_requests_signed": bool(idp and idp.want_authn_requests_signed),
                "want_response_signed": False,
                "want_assertions_signed": False,
                "want_assertions_or_response_signed": True,
                "only_use_keys_in_metadata": True,
                "name_id_format_allow_create": True,
            }
        },
    }
    if idp is not None:
        conf["metadata"] = {"inline": [idp.metadata_xml]}
    config = SPConfig()
    config.load(conf)
    return config


def sp_metadata(sp: ServiceProvider, sign_requests: bool = True) -> str:
    """The SP's metadata XML (entity ID, ACS endpoint, signing certificate)."""
    from saml2.metadata import entity_descriptor

    descriptor = entity_descriptor(_config(sp, None))
    sp_sso = descriptor.spsso_descriptor
    sp_sso.authn_requests_signed = "true" if sign_requests else "false"
    sp_sso.want_assertions_signed = "true"
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + str(descriptor)


# --- AuthnRequest -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthnRequest:
    request_id: str
    binding: str  # redirect | post
    url: str  # where to send the browser (redirect: with the query string)
    form: dict[str, str] = field(default_factory=dict)  # post: the fields to post


def authn_request(sp: ServiceProvider, idp: IdentityProvider, sso_url: str) -> AuthnRequest:
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.client import Saml2Client
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

    client = Saml2Client(config=_config(sp, idp))
    sign = idp.want_authn_requests_signed
    if idp.sso_binding == "redirect":
        request_id, request = client.create_authn_request(
            destination=sso_url, binding=BINDING_HTTP_POST, sign=False
        )
        info = client.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            sso_url,
            relay_state="",
            sign=sign,
            sigalg=SIG_RSA_SHA256 if sign else None,
        )
        location = dict(info["headers"])["Location"]
        return AuthnRequest(str(request_id), "redirect", location)
    request_id, request = client.create_authn_request(
        destination=sso_url,
        binding=BINDING_HTTP_POST,
        sign=sign,
        sign_alg=SIG_RSA_SHA256 if sign else None,
        digest_alg=DIGEST_SHA256 if sign else None,
    )
    xml = request if isinstance(request, str) else str(request)
    encoded = base64.b64encode(xml.encode()).decode()
    return AuthnRequest(str(request_id), "post", sso_url, {"SAMLRequest": encoded})


# --- the response ---------------------------------------------------------------------------


def in_response_to(saml_response: str) -> str:
    """The ``InResponseTo`` of a base64 SAML response, read before any validation."""
    try:
        xml = base64.b64decode(saml_response.strip(), validate=False)
        root = ElementTree.fromstring(xml, forbid_dtd=True)
    except (binascii.Error, ValueError, ElementTree.ParseError) as exc:
        raise SamlRefused("malformed", str(exc)) from None
    except Exception as exc:  # defusedxml refusals (DTDs, entities)
        raise SamlRefused("malformed", exc.__class__.__name__) from None
    if root.tag != f"{{{SAMLP}}}Response":
        raise SamlRefused("malformed", "not a SAML Response")
    value = (root.get("InResponseTo") or "").strip()
    if not value:
        raise SamlRefused("unsolicited", "the response answers no request")
    return value


@dataclass(frozen=True)
class Assertion:
    assertion_id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    attributes: dict[str, list[str]]
    not_on_or_after: datetime | None

    def email(self, attribute: str | None) -> str | None:
        """The user's email: the IdP's configured attribute, else the usual ones, else NameID."""
        names = (attribute,) if attribute else EMAIL_ATTRIBUTES
        for name in names:
            for value in self.attributes.get(name or "", []):
                if value and "@" in value:
                    return value.strip()
        if attribute:
            return None
        if "@" in self.name_id:
            return self.name_id.strip()
        return None


def _classify(exc: Exception) -> SamlRefused:
    from saml2 import sigver
    from saml2.response import IncorrectlySigned, StatusError, UnsolicitedResponse
    from saml2.validate import ResponseLifetimeExceed, ToEarly

    text = str(exc)
    signature_errors = (sigver.SignatureError, sigver.MissingKey, IncorrectlySigned)
    if isinstance(exc, signature_errors) or "signature" in text.lower():
        return SamlRefused("signature", text)
    if isinstance(exc, ResponseLifetimeExceed):
        return SamlRefused("expired", text)
    if isinstance(exc, ToEarly):
        return SamlRefused("not_yet_valid", text)
    if isinstance(exc, UnsolicitedResponse):
        return SamlRefused("unsolicited", text)
    if isinstance(exc, StatusError):
        return SamlRefused("status", text)
    if "AudienceRestrictions" in text:
        return SamlRefused("audience", text)
    if "destination" in text.lower():
        return SamlRefused("destination", text)
    return SamlRefused("invalid", f"{exc.__class__.__name__}: {text}")


def parse_response(
    sp: ServiceProvider, idp: IdentityProvider, saml_response: str, request_id: str
) -> Assertion:
    """Validate a base64 SAML response to ``request_id``; raise :class:`SamlRefused`."""
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client

    client = Saml2Client(config=_config(sp, idp))
    try:
        result = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
    except Exception as exc:  # pysaml2 raises many types, some of them bare Exception
        refused = _classify(exc)
        log.info("SAML response refused (%s): %s", refused.reason, refused.detail)
        raise refused from None
    if result is None or result.assertion is None:
        raise SamlRefused("invalid", "the response could not be verified")
    response = result.response
    if not response.destination or response.destination != sp.acs_url:
        raise SamlRefused("destination", f"Destination {response.destination!r}")
    if response.in_response_to != request_id:
        raise SamlRefused("unsolicited", f"InResponseTo {response.in_response_to!r}")
    issuer = result.issuer() or ""
    if issuer != idp.entity_id:
        raise SamlRefused("issuer", f"issuer {issuer!r}")
    assertion = result.assertion
    if not assertion.id:
        raise SamlRefused("invalid", "the assertion has no ID")
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [str(v.text).strip() for v in attribute.attribute_value or [] if v.text]
            for key in {attribute.name, attribute.friendly_name} - {None, ""}:
                attributes.setdefault(str(key), []).extend(values)
    name_id = result.name_id
    until = None
    if getattr(result, "not_on_or_after", 0):
        until = datetime.fromtimestamp(int(result.not_on_or_after), UTC)
    return Assertion(
        assertion_id=str(assertion.id),
        issuer=issuer,
        name_id=str(getattr(name_id, "text", "") or "").strip(),
        name_id_format=getattr(name_id, "format", None),
        attributes=attributes,
        not_on_or_after=until,
    )
