"""A real SAML 2.0 identity provider for the tests: pysaml2's ``Server`` behind a small WSGI
server on 127.0.0.1.

It publishes its metadata at ``/metadata``, takes AuthnRequests at ``/sso/redirect`` (HTTP-
Redirect binding, signature checked when it wants signed requests) and ``/sso/post``, and
answers with the HTML form the browser would post to the service provider's ACS: a signed
response for the user in :attr:`SamlIdp.user_email`. A few knobs make it misbehave the way the
tests need (an assertion for another audience, an expired assertion).
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, class_name
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.samlp import response_from_string
from saml2.server import Server
from saml2.sigver import pre_signature_part, signed_instance_factory
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from partnerhub.sso.saml import generate_key_pair

FORM_RE = re.compile(r'<form[^>]*action="([^"]+)"', re.S)
FORM_BLOCK_RE = re.compile(r"<form.*?</form>", re.S | re.I)
FIELD_RE = re.compile(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class SamlIdp:
    def __init__(self, want_authn_requests_signed: bool = False, redirect: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="test-idp-"))
        key_pem, cert_pem = generate_key_pair("Test IdP")
        self.key_file = self.dir / "idp.key"
        self.cert_file = self.dir / "idp.crt"
        self.key_file.write_text(key_pem)
        self.cert_file.write_text(cert_pem)
        self.want_authn_requests_signed = want_authn_requests_signed
        self.redirect = redirect  # False: the metadata offers only the HTTP-POST binding
        self.sp_metadata: list[str] = []
        # Knobs the tests turn:
        self.user_email = "nobody@example.com"
        self.attributes: dict[str, list[str]] | None = None  # None = {"mail": [user_email]}
        self.name_id: str | None = None  # None = the user's email
        # Issue the assertion for this (trusted) SP entity ID instead of the requester: an
        # assertion meant for another service provider, posted to ours (a wrong audience).
        self.audience: str | None = None
        self.lifetime_minutes = 5
        # Issue the response as if the IdP's clock said now + offset (negative: an assertion
        # issued that long ago, expired by now when the offset exceeds its lifetime).
        self.clock_offset_minutes = 0
        self.requests: list[Any] = []  # the AuthnRequests received (parsed)
        self._server = make_server("127.0.0.1", 0, self.wsgi, WSGIServer, handler_class=_Quiet)
        self.port = self._server.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.entity_id = f"{self.base}/idp"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- configuration ---------------------------------------------------------------------

    def _config(self) -> IdPConfig:
        conf: dict[str, Any] = {
            "entityid": self.entity_id,
            # The test IdP's own xmlsec1 (a test-only tool, installed by ./run-tests), whatever
            # the service's PARTNERHUB_XMLSEC1 says (tests/sso/test_saml_unavailable.py).
            "xmlsec_binary": shutil.which("xmlsec1") or "/usr/bin/xmlsec1",
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "accepted_time_diff": 60,
            "service": {
                "idp": {
                    "name": "Test IdP",
                    "endpoints": {
                        "single_sign_on_service": [
                            *(
                                [(f"{self.base}/sso/redirect", BINDING_HTTP_REDIRECT)]
                                if self.redirect
                                else []
                            ),
                            (f"{self.base}/sso/post", BINDING_HTTP_POST),
                        ]
                    },
                    "want_authn_requests_signed": self.want_authn_requests_signed,
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": self.lifetime_minutes},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                        }
                    },
                }
            },
        }
        if self.sp_metadata:
            conf["metadata"] = {"inline": list(self.sp_metadata)}
        config = IdPConfig()
        config.load(conf)
        return config

    def metadata(self) -> str:
        descriptor = entity_descriptor(self._config())
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + str(descriptor)

    def trust_sp(self, sp_metadata: str) -> None:
        """Register a service provider (as a partner's IdP administrator would)."""
        if sp_metadata not in self.sp_metadata:
            self.sp_metadata.append(sp_metadata)

    # --- HTTP ------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            if path == "/metadata":
                return self._answer(start_response, "200 OK", self.metadata(), "text/xml")
            if path == "/sso/redirect":
                query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
                return self._sso(start_response, query, BINDING_HTTP_REDIRECT)
            if path == "/sso/post":
                size = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(size).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                return self._sso(start_response, form, BINDING_HTTP_POST)
        except Exception as exc:
            return self._answer(
                start_response, "400 Bad Request", f"refused: {exc!r}", "text/plain"
            )
        return self._answer(start_response, "404 Not Found", "not found", "text/plain")

    def _answer(self, start_response: Any, status: str, body: str, ctype: str) -> list[bytes]:
        data = body.encode()
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
        return [data]

    def _sso(self, start_response: Any, params: dict[str, str], binding: str) -> list[bytes]:
        server = Server(config=self._config())
        request = server.parse_authn_request(
            params["SAMLRequest"],
            binding,
            relay_state=params.get("RelayState"),
            sigalg=params.get("SigAlg"),
            signature=params.get("Signature"),
        )
        message = request.message
        self.requests.append(message)
        sp_entity_id = message.issuer.text
        acs_url = message.assertion_consumer_service_url
        identity = self.attributes or {"mail": [self.user_email]}
        response = server.create_authn_response(
            identity=identity,
            in_response_to=message.id,
            destination=acs_url,
            sp_entity_id=self.audience or sp_entity_id,
            name_id=(
                NameID(format=NAMEID_FORMAT_PERSISTENT, text=self.name_id)
                if self.name_id
                else NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=self.user_email)
            ),
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
                "authn_auth": self.entity_id,
            },
            sign_response=not self.clock_offset_minutes,
            sign_assertion=not self.clock_offset_minutes,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        if self.clock_offset_minutes:
            response = self._shift_and_sign(server, response)
        info = server.apply_binding(
            BINDING_HTTP_POST, str(response), acs_url, params.get("RelayState") or "", response=True
        )
        return self._answer(start_response, "200 OK", info["data"], "text/html")

    def _shift_and_sign(self, server: Server, response: Any) -> str:
        """Move every time in the (unsigned) response by the clock offset, then sign it."""
        if isinstance(response, str):
            response = response_from_string(response)
        delta = timedelta(minutes=self.clock_offset_minutes)

        def shift(value: str | None) -> str | None:
            if not value:
                return value
            moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return (moment + delta).strftime("%Y-%m-%dT%H:%M:%SZ")

        assertion = response.assertion
        if isinstance(assertion, list):
            assertion = assertion[0]
        response.issue_instant = shift(response.issue_instant)
        assertion.issue_instant = shift(assertion.issue_instant)
        assertion.conditions.not_before = shift(assertion.conditions.not_before)
        assertion.conditions.not_on_or_after = shift(assertion.conditions.not_on_or_after)
        for confirmation in assertion.subject.subject_confirmation:
            data = confirmation.subject_confirmation_data
            data.not_on_or_after = shift(data.not_on_or_after)
        for statement in assertion.authn_statement:
            statement.authn_instant = shift(statement.authn_instant)
        cert = server.sec.my_cert
        assertion.signature = pre_signature_part(
            assertion.id, cert, 1, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
        )
        response.signature = pre_signature_part(
            response.id, cert, 2, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
        )
        to_sign = [(class_name(assertion), assertion.id), (class_name(response), response.id)]
        return str(signed_instance_factory(response, server.sec, to_sign))


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The action and fields of the auto-posting SAML form an IdP (or PartnerHub) answered
    with (the first form that carries a SAML message)."""
    for block in FORM_BLOCK_RE.findall(page):
        fields = {html.unescape(k): html.unescape(v) for k, v in FIELD_RE.findall(block)}
        if "SAMLRequest" in fields or "SAMLResponse" in fields:
            match = FORM_RE.search(block)
            assert match, block[:500]
            return html.unescape(match.group(1)), fields
    raise AssertionError(page[:1000])
