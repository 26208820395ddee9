"""A real OpenID Connect provider for the tests: Authlib's Flask authorization server (code flow
with PKCE and the OpenID Connect extension) on 127.0.0.1, in a thread.

Endpoints: ``/.well-known/openid-configuration``, ``/authorize`` (no login screen: it signs in
:attr:`OidcProvider.user_email` at once, as a provider with an existing session would),
``/token`` and ``/jwks``. Knobs make it misbehave the way the tests need: a wrong ``nonce`` or
audience in the ID token, an expired ID token, a token signed with a key not in its JWKS.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in ("openid", "email", "profile"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class OidcProvider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        # Knobs the tests turn:
        self.user_email = "nobody@example.com"
        self.email_verified: bool | None = True
        self.nonce_override: str | None = None  # the ID token carries this nonce instead
        self.audience_override: str | None = None
        self.expires_in = 300  # negative: an ID token already expired
        self.sign_with_rogue_key = False
        self.authorize_requests: list[dict[str, str]] = []
        self._server = make_server("127.0.0.1", 0, self._app(), WSGIServer, handler_class=_Quiet)
        self.port = self._server.server_port
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_client(self, redirect_uri: str) -> Client:
        client = Client(
            client_id=f"client-{secrets.token_hex(4)}",
            client_secret=secrets.token_urlsafe(16),
            redirect_uris=[redirect_uri],
        )
        self.clients[client.client_id] = client
        return client

    # --- the authorization server ----------------------------------------------------------

    def _app(self) -> Flask:
        provider = self
        app = Flask("test-oidc")

        class Grant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012 - Authlib reads this class attribute

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                provider.codes[code] = Code(
                    code=code,
                    client_id=req.client.client_id,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope,
                    user=req.user,
                    nonce=provider.nonce_override or data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                item = provider.codes.get(code)
                return item if item and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> str:
                return authorization_code.user

        class OpenID(OpenIDCode):
            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Client) -> Any:
                return provider.rogue_key if provider.sign_with_rogue_key else provider.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": "test-key"}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                now = int(time.time())
                return {
                    "iss": provider.issuer,
                    "aud": [provider.audience_override or client.client_id],
                    "iat": now if provider.expires_in > 0 else now + provider.expires_in - 60,
                    "exp": now + provider.expires_in,
                }

            def generate_user_info(self, user: str, scope: str) -> UserInfo:
                info = UserInfo(sub=f"sub-{user}", email=user)
                if provider.email_verified is not None:
                    info["email_verified"] = provider.email_verified
                return info

        server = AuthorizationServer(
            app,
            query_client=lambda client_id: provider.clients.get(client_id),
            save_token=lambda token, req: None,
        )
        server.register_grant(Grant, [CodeChallenge(required=True), OpenID(require_nonce=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                {
                    "issuer": provider.issuer,
                    "authorization_endpoint": f"{provider.issuer}/authorize",
                    "token_endpoint": f"{provider.issuer}/token",
                    "jwks_uri": f"{provider.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_basic",
                        "client_secret_post",
                    ],
                    "scopes_supported": ["openid", "email", "profile"],
                }
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.get("/authorize")
        def authorize() -> Any:
            provider.authorize_requests.append(dict(request.args))
            return server.create_authorization_response(grant_user=provider.user_email)

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        return app
