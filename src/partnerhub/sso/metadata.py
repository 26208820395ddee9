"""Reading a SAML identity provider's metadata XML (parsed with defusedxml: no entities, no DTDs).

What PartnerHub takes from it: the entity ID, the single sign-on endpoint (HTTP-Redirect
preferred, else HTTP-POST), ``WantAuthnRequestsSigned`` and the signing certificates. The
document itself is kept too: pysaml2 loads it to verify the IdP's signatures.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDINGS = {BINDING_REDIRECT: "redirect", BINDING_POST: "post"}


class MetadataError(ValueError):
    """The metadata cannot be used; the message says why."""


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_url: str
    sso_binding: str  # redirect | post
    want_authn_requests_signed: bool
    signing_certificates: list[str]  # PEM


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def _certificate(text: str) -> str:
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise MetadataError("a signing certificate in the metadata is not valid") from None
    return cert.public_bytes(Encoding.PEM).decode()


def _valid_until_passed(element: Element) -> bool:
    raw = element.get("validUntil")
    if not raw:
        return False
    try:
        until = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MetadataError(f"validUntil '{raw}' is not a date and time") from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return until <= datetime.now(UTC)


def parse(xml: str | bytes) -> IdpMetadata:
    if isinstance(xml, bytes):
        data = xml
    else:
        data = xml.encode("utf-8")
    if not data.strip():
        raise MetadataError("the metadata is empty")
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise MetadataError("the metadata uses DTDs or entities, which are refused") from None
    except ElementTree.ParseError as exc:
        raise MetadataError(f"the metadata is not well-formed XML ({exc})") from None
    if root.tag == f"{{{MD}}}EntityDescriptor":
        candidates = [root]
    elif root.tag == f"{{{MD}}}EntitiesDescriptor":
        if _valid_until_passed(root):
            raise MetadataError("the metadata has expired (validUntil is in the past)")
        candidates = list(root.iter(f"{{{MD}}}EntityDescriptor"))
    else:
        raise MetadataError("the document is not SAML 2.0 metadata (no EntityDescriptor)")
    idps = [
        (entity, sso)
        for entity in candidates
        for sso in entity.findall(f"{{{MD}}}IDPSSODescriptor")
        if SAML2_PROTOCOL in (sso.get("protocolSupportEnumeration") or "").split()
    ]
    if not idps:
        raise MetadataError("the metadata describes no SAML 2.0 identity provider")
    if len(idps) > 1:
        raise MetadataError(
            f"the metadata describes {len(idps)} identity providers; give the metadata of one"
        )
    entity, descriptor = idps[0]
    if _valid_until_passed(entity) or _valid_until_passed(descriptor):
        raise MetadataError("the metadata has expired (validUntil is in the past)")
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataError("the EntityDescriptor has no entityID")
    if len(entity_id) > 1024:
        raise MetadataError("the entityID is longer than 1024 characters")

    endpoints: dict[str, str] = {}
    for service in descriptor.findall(f"{{{MD}}}SingleSignOnService"):
        binding = BINDINGS.get(service.get("Binding") or "")
        location = (service.get("Location") or "").strip()
        if binding and location and binding not in endpoints:
            endpoints[binding] = location
    binding = "redirect" if "redirect" in endpoints else "post" if "post" in endpoints else None
    if binding is None:
        raise MetadataError(
            "the identity provider has no SingleSignOnService with the HTTP-Redirect "
            "or HTTP-POST binding"
        )
    sso_url = endpoints[binding]
    if not sso_url.startswith(("https://", "http://")) or len(sso_url) > 2048:
        raise MetadataError(f"the SingleSignOnService location '{sso_url}' is not a URL")

    certificates: list[str] = []
    for key in descriptor.findall(f"{{{MD}}}KeyDescriptor"):
        if key.get("use") not in (None, "", "signing"):
            continue
        for cert in key.iter(f"{{{DS}}}X509Certificate"):
            pem = _certificate(cert.text or "")
            if pem not in certificates:
                certificates.append(pem)
    if not certificates:
        raise MetadataError("the metadata has no signing certificate for the identity provider")
    return IdpMetadata(
        entity_id=entity_id,
        sso_url=sso_url,
        sso_binding=binding,
        want_authn_requests_signed=_truthy(descriptor.get("WantAuthnRequestsSigned")),
        signing_certificates=certificates,
    )


def certificate_summary(pem: str) -> dict[str, str]:
    """Subject, expiry and SHA-256 fingerprint of a certificate, for display."""
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(pem.encode())
    return {
        "subject": cert.subject.rfc4514_string(),
        "notAfter": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    }
