"""uvicorn's HTTP protocol with the contract's error body for requests its parser refuses.

A request the HTTP parser cannot accept (a control character in a header value, a malformed
request line or header) never reaches the application: uvicorn answers 400 itself, with a
``text/plain`` body. The contract wants every error as ``{message, errors, trackingId}`` with
a ``TrackingID`` header (CONTRACT.md section 1), so ``partnerhub serve`` runs this subclass.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from partnerhub.errors import error_body

DESCRIPTION = "The HTTP request is malformed (invalid request line or header)"
CODE = 1001


def parser_error_response(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The complete HTTP/1.1 400 response (the connection is closed after it)."""
    tid = f"PH_{uuid.uuid4()}"
    body = json.dumps(error_body([(DESCRIPTION, CODE)], tid)).encode()
    lines = [b"HTTP/1.1 400 Bad Request\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"trackingid: " + tid.encode() + b"\r\n",
        b"x-content-type-options: nosniff\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)


def protocol_class() -> type[asyncio.Protocol] | str:
    """The class to give ``uvicorn.run(http=...)``; uvicorn's own choice without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        return "auto"

    class ContractHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(parser_error_response(self.server_state.default_headers))
            self.transport.close()

    return ContractHttpToolsProtocol
