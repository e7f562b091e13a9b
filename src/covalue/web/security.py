"""Sessions, CSRF and the signed-in context of a request.

* The session cookie holds only a signed session id (itsdangerous, key derived from the workspace
  secret); the session lives in the store, so signing out ends it on the server. Cookies are HttpOnly,
  SameSite=Lax, and Secure whenever the request came over https (or when forced).
* CSRF: a synchronizer token per session (or, before signing in, a signed token in its own cookie),
  made here and verified once for every state-changing request by ``covalue.web.csrf``.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from covalue.store import User
from covalue.store import accounts as acc
from covalue.web.site import Site

SESSION_COOKIE = "covalue_session"
CSRF_COOKIE = "covalue_csrf"


@dataclass
class Ctx:
    """Who is asking: the user and their access (None when not signed in), and the CSRF token the
    response's forms must carry."""

    site: Site
    request: Request
    user: User | None
    access: acc.Access | None
    session_id: str | None
    csrf: str
    new_csrf_cookie: str | None = None  # set on the response when the anonymous token is new
    #: a streamed upload whose token the receiver checks in the form (see ``covalue.web.csrf``)
    csrf_pending: bool = False

    @property
    def signed_in(self) -> bool:
        return self.user is not None


def _serializer(site: Site, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(site.key, salt=salt)


def _trusted(site: Site, host: str | None) -> bool:
    """Whether ``host`` (the peer of the connection) is one of the ``[web] trusted_proxies``."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in site.ws.settings.web.trusted_proxies:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(site: Site, request: Request) -> str:
    """The address a request came from, for throttling: the connection's peer, or, when that peer is
    a trusted proxy, the last address in X-Forwarded-For that is not itself a trusted proxy (the
    earlier ones are whatever the client chose to send). No header is believed from anyone else,
    127.0.0.1 included."""
    peer = request.client.host if request.client else "unknown"
    if not _trusted(site, peer):
        return peer
    chain = [a.strip() for a in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if a.strip()]
    for addr in reversed(chain):
        if not _trusted(site, addr):
            return addr[:64]
    return peer


def secure(site: Site, request: Request) -> bool:
    forced = site.limits.secure_cookies
    if forced is not None:
        return forced
    peer = request.client.host if request.client else None
    if _trusted(site, peer) and request.headers.get("x-forwarded-proto"):
        return request.headers["x-forwarded-proto"].split(",")[0].strip() == "https"
    return request.url.scheme == "https"


def signed_session_id(site: Site, cookie_header: str) -> str | None:
    """The session id in a raw Cookie header when this server signed it (not whether it is still
    open: that needs the store); used before a request's body is read."""
    try:
        jar = SimpleCookie(cookie_header)
    except CookieError:
        return None
    raw = jar.get(SESSION_COOKIE)
    if raw is None:
        return None
    try:
        return _serializer(site, "session").loads(raw.value, max_age=acc.SESSION_DAYS * 86400)
    except BadSignature:
        return None


def load_ctx(site: Site, request: Request) -> Ctx:
    user = access = sid = None
    csrf = ""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            sid = _serializer(site, "session").loads(raw, max_age=acc.SESSION_DAYS * 86400)
        except BadSignature:
            sid = None
    if sid:
        with site.store.session() as db:
            found = acc.session_user(db, sid)
            if found:
                sess, user = found
                csrf = sess.csrf
                access = acc.Access.of(user)
                db.expunge(user)
            else:
                sid = None
    new_cookie = None
    if not csrf:
        token = None
        raw_csrf = request.cookies.get(CSRF_COOKIE)
        if raw_csrf:
            try:
                token = _serializer(site, "csrf").loads(raw_csrf, max_age=86400)
            except BadSignature:
                token = None
        if not token:
            token = secrets.token_urlsafe(32)
            new_cookie = _serializer(site, "csrf").dumps(token)
        csrf = token
    return Ctx(site, request, user, access, sid, csrf, new_csrf_cookie=new_cookie)


def finish(ctx: Ctx, response: Response) -> Response:
    """Set the anonymous CSRF cookie when it was made for this response."""
    if ctx.new_csrf_cookie:
        response.set_cookie(
            CSRF_COOKIE,
            ctx.new_csrf_cookie,
            max_age=86400,
            httponly=True,
            samesite="lax",
            secure=secure(ctx.site, ctx.request),
            path="/",
        )
    return response


def set_session(site: Site, request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        _serializer(site, "session").dumps(session_id),
        max_age=acc.SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=secure(site, request),
        path="/",
    )
    response.delete_cookie(CSRF_COOKIE, path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
