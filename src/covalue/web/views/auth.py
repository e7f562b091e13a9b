"""Signing in and out, the first-run set-up of the first administrator, and ``GET /api/me`` (who is
signed in, with the CSRF token API callers send back)."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from covalue.store import accounts as acc
from covalue.web.common import CtxDep, redirect, render, signed_in
from covalue.web.security import Ctx, clear_session, set_session

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["covalue"])


class SignIn(BaseModel):
    """The sign-in form: the account's email and password, and the local page to go back to."""

    email: str = ""
    password: str = ""
    next: str = "/"


class FirstAdmin(BaseModel):
    """The first-run form: the set-up link's token and the first administrator's email and password."""

    token: str = ""
    email: str = ""
    password: str = ""
    password2: str = ""


class Me(BaseModel):
    email: str
    roles: list[tuple[str, str | None]]
    member_id: str | None
    csrf_token: str


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(nxt: str | None) -> str:
    """Only local paths: an attacker's link must not bounce a fresh sign-in to another site (browsers
    drop tabs and newlines and read "\\\\" as "/", so "/\\t/evil" or "/\\\\evil" would leave the app)."""
    if not nxt or not nxt.startswith("/") or any(ch in nxt for ch in "\\\t\r\n ") or nxt.startswith("//"):
        return "/"
    parts = urlsplit(nxt)
    return nxt if not parts.scheme and not parts.netloc else "/"


def _needs_setup(ctx: Ctx) -> bool:
    with ctx.site.store.session() as db:
        return acc.count_users(db) == 0


@pages.get("/login")
def login_page(ctx: Ctx = CtxDep, next: str = "/") -> Response:
    if ctx.signed_in:
        return redirect(ctx, safe_next(next))
    if _needs_setup(ctx):
        return render(
            ctx,
            "error.html.j2",
            200,
            title="Set-up needed",
            heading="No account yet",
            message="Nobody can sign in yet. Open the set-up link printed in the terminal where "
            "`covalue serve` runs, or add an account with `covalue user add EMAIL --role admin`.",
        )
    return render(ctx, "login.html.j2", title="Sign in", next=safe_next(next), email="", error=None)


@pages.post("/login")
def login(request: Request, form: Annotated[SignIn, Form()], ctx: Ctx = CtxDep) -> Response:
    site = ctx.site
    back = safe_next(form.next)
    sid = None
    try:
        with site.store.session() as db:
            user = acc.authenticate(db, form.email, form.password, _client_ip(request))
            sess = acc.start_session(db, user) if user else None
            sid = sess.id if sess else None
    except acc.Throttled as t:
        error, code = f"Too many failed attempts. For your safety, try again in {t.minutes} minutes.", 429
    else:
        error, code = "That email and password do not match an account.", 401
    if sid is None:
        return render(ctx, "login.html.j2", code, title="Sign in", next=back, email=form.email, error=error)
    resp = RedirectResponse(back, status_code=303)
    set_session(site, request, resp, sid)
    return resp


@pages.post("/logout")
def logout(ctx: Ctx = CtxDep) -> Response:
    if ctx.session_id:
        with ctx.site.store.session() as db:
            acc.end_session(db, ctx.session_id)
    resp = RedirectResponse("/login", status_code=303)
    clear_session(resp)
    return resp


@pages.get("/setup")
def setup_page(ctx: Ctx = CtxDep, token: str = "") -> Response:
    if not _needs_setup(ctx):
        return redirect(ctx, "/login")
    if not token or not hmac.compare_digest(token.encode(), ctx.site.setup_token.encode()):
        raise HTTPException(
            403, "Open the set-up link exactly as printed in the terminal where `covalue serve` runs."
        )
    return _setup_page(ctx, 200, token, "", None)


def _setup_page(ctx: Ctx, code: int, token: str, email: str, error: str | None) -> Response:
    return render(
        ctx,
        "setup.html.j2",
        code,
        title="Set-up",
        token=token,
        email=email,
        error=error,
        min_password=acc.MIN_PASSWORD,
    )


@pages.post("/setup")
def setup(request: Request, form: Annotated[FirstAdmin, Form()], ctx: Ctx = CtxDep) -> Response:
    site = ctx.site
    if not _needs_setup(ctx):
        return redirect(ctx, "/login")
    if not hmac.compare_digest(form.token.encode(), site.setup_token.encode()):
        raise HTTPException(403, "The set-up link is not valid.")
    error = None
    if form.password != form.password2:
        error = "The two passwords differ."
    else:
        try:
            with site.store.session() as db:
                user = acc.add_user(db, form.email, "admin", password=form.password)
                acc.audit(db, user, "first admin created", subject=user.email)
                sid = acc.start_session(db, user).id
        except acc.AccountError as e:
            error = str(e)[:1].upper() + str(e)[1:] + "."
    if error:
        return _setup_page(ctx, 400, form.token, form.email, error)
    resp = RedirectResponse("/data", status_code=303)
    set_session(site, request, resp, sid)
    return resp


@api.get("/me", response_model=Me)
def me(ctx: Ctx = CtxDep) -> Me:
    """Who is signed in, their roles, and the CSRF token for state-changing calls."""
    signed_in(ctx)
    assert ctx.user is not None and ctx.access is not None
    return Me(
        email=ctx.user.email, roles=list(ctx.access.roles), member_id=ctx.user.member_id, csrf_token=ctx.csrf
    )


router = APIRouter()
router.include_router(pages)
router.include_router(api)
