"""The outermost layer of the app, in plain ASGI so it sees every request before anything reads it:

* **body limit**: a request whose declared ``Content-Length`` is above its route's limit is refused
  with 413 before a byte of the body is read; a body sent without a length (chunked) is counted as it
  streams and the request is cut off with 413 once it passes the limit. Nothing downstream (the CSRF
  check, form parsing) can therefore read or spool an oversized body. Uploads have their own, larger
  limit, and only for a request that carries a session cookie signed by this server: an anonymous
  post to an upload route gets the ordinary limit.
* **security headers** on every response, refusals included; HEAD answered as GET without a body;
  a NUL character in the address refused (400) before it reaches a query.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit: an HTTP error (413), so a
    reader of the body (form parsing, the CSRF check) lets it through to the app's refusal page."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request is too large: at most {limit:,} bytes are accepted here.")
        self.limit = limit


def with_security_headers(headers: list[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    """``headers`` plus the security headers it lacks (and no caching of anything but static files)."""
    have = {k.lower() for k, _ in headers}
    out = list(headers) + [(k, v) for k, v in SECURITY_HEADERS if k not in have]
    if not path.startswith("/static") and b"cache-control" not in have:
        out.append((b"cache-control", b"no-store"))
    return out


def wants_html(scope: Scope) -> bool:
    """Whether a refusal is answered with a page: never under ``/api``; elsewhere unless the client
    asks for JSON and not HTML."""
    if scope.get("path", "").startswith("/api"):
        return False
    accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
    return "text/html" in accept or "json" not in accept


def _too_large_body(scope: Scope, limit: int) -> tuple[bytes, bytes]:
    said = str(BodyTooLarge(limit).detail)
    if wants_html(scope):
        page = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Too large · covalue</title>"
            f"<h1>Too large</h1><p>{said}</p><p><a href=/>Back</a></p></html>"
        )
        return page.encode(), b"text/html; charset=utf-8"
    return json.dumps({"detail": said}).encode(), b"application/json"


class Guard:
    """The ASGI middleware; ``limit_for(scope)`` gives the largest body the request may send."""

    def __init__(self, app: Any, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        head = scope.get("method") == "HEAD"
        if head:  # HEAD is answered as GET without the body, on every route that has a GET
            scope = {**scope, "method": "GET"}
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {
                    **message,
                    "headers": with_security_headers(list(message.get("headers", [])), path),
                }
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        raw_target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"\x00" in raw_target or b"%00" in raw_target or "\x00" in path:
            # no identifier, name or search holds a NUL: refused before it reaches a query
            await self._refuse(scope, send_secured, 400, b'{"detail": "the address holds a NUL character"}')
            return
        limit = self.limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                await self._refuse(
                    scope, send_secured, 400, b'{"detail": "the Content-Length is not a number"}'
                )
                return
            if size > limit:
                await self._too_large(scope, send_secured, limit)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, counted, send_secured)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, send_secured, limit)

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        body, ctype = _too_large_body(scope, limit)
        await self._refuse(scope, send, 413, body, ctype)

    @staticmethod
    async def _refuse(
        scope: Scope, send: Send, status: int, body: bytes, ctype: bytes = b"application/json"
    ) -> None:
        # the connection is closed after a refusal: the unread rest of the body must not be taken for
        # the next request on it
        headers = [
            (b"content-type", ctype),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
