"""CSRF, checked in one place: the app carries :func:`csrf_protect` as a dependency of every route,
which lets safe methods through and, on POST, PUT, PATCH and DELETE, compares the token sent (the
``X-CSRF-Token`` header, or the ``csrf_token`` field of a form) with the session's, refusing with
:class:`CsrfRefused` (403). Handlers never check it themselves.

One exception: a streamed upload (its endpoint marked with :func:`streams_body`) must not be read
into memory by the dependency, so without a header the upload receiver calls :func:`verify` on the
form field that comes before the file, and nothing is written when it fails.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Depends, HTTPException, Request

from covalue.web.common import get_ctx

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = "x-csrf-token"
FIELD = "csrf_token"
MESSAGE = "the form's security token is missing or out of date; reload the page and try again"
_STREAMS = "_covalue_streams_body"
F = TypeVar("F", bound=Callable[..., Any])


class CsrfRefused(HTTPException):
    """A state-changing request without the session's token: answered 403, never acted upon."""

    def __init__(self) -> None:
        super().__init__(403, MESSAGE)


def verify(sent: str | None, expected: str) -> None:
    """Raise :class:`CsrfRefused` unless ``sent`` is the expected token (compared in constant time)."""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused()


def streams_body(endpoint: F) -> F:
    """Mark an endpoint whose multipart body is streamed to disk: the token travels as a header or as
    the form field before the file, and the receiver verifies the field itself."""
    setattr(endpoint, _STREAMS, True)
    return endpoint


def _form_types(request: Request) -> tuple[bool, bool]:
    ctype = request.headers.get("content-type", "")
    return ctype.startswith("application/x-www-form-urlencoded"), ctype.startswith("multipart/form-data")


async def csrf_protect(request: Request) -> None:
    """The app's dependency: verify the token of every unsafe request before its handler runs (safe
    ones pass without loading the session)."""
    if request.method not in UNSAFE_METHODS:
        return
    ctx = get_ctx(request)
    sent = request.headers.get(HEADER)
    if sent is None:
        urlencoded, multipart = _form_types(request)
        if multipart and getattr(request.scope.get("endpoint"), _STREAMS, False):
            ctx.csrf_pending = True  # the upload receiver verifies the field before the file
            return
        if urlencoded or multipart:
            value = (await request.form()).get(FIELD)
            sent = value if isinstance(value, str) else None
    verify(sent, ctx.csrf)


CsrfDep = Depends(csrf_protect)
