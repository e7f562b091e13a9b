"""Signing in and out, changing one's own password, the first-run set-up of the first administrator,
and ``GET /api/me`` (who is signed in, with the CSRF token API callers send back).

Checking a password costs about 50 ms of a core (argon2): sign-ins run on their own small pool of
threads (``[web] max_concurrent_hashes``) at a lower CPU priority, so a flood of them queues there
instead of taking the threads and the cores that serve pages and static files."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from fastapi import Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from covalue.store import accounts as acc
from covalue.web.common import redirect, render, signed_in
from covalue.web.security import clear_session, client_ip, set_session
from covalue.web.views.base import Ctx, CtxDep, joined, routers

T = TypeVar("T")
pages, api = routers()


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


class PasswordChange(BaseModel):
    """The form to change one's own password: the current one, and the new one twice."""

    current: str = ""
    password: str = ""
    password2: str = ""


def _lower_priority() -> None:
    """Run this thread (and argon2's lanes, which it starts) below the threads serving pages."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, 0, 10)  # on Linux: this thread only


_POOL_LOCK = threading.Lock()


def hash_pool(request: Request) -> ThreadPoolExecutor:
    """The app's pool for password checks (made on first use, shut down with the app)."""
    state = request.app.state
    with _POOL_LOCK:
        pool = getattr(state, "hash_pool", None)
        if pool is None:
            pool = state.hash_pool = ThreadPoolExecutor(
                max_workers=state.site.ws.settings.web.max_concurrent_hashes,
                thread_name_prefix="covalue-sign-in",
                initializer=_lower_priority,
            )
    return pool


async def in_hash_pool(request: Request, fn: Callable[[], T]) -> T:
    """``fn()`` on the sign-in pool; waiting for a turn holds no thread."""
    return await asyncio.get_running_loop().run_in_executor(hash_pool(request), fn)


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
async def login(request: Request, form: Annotated[SignIn, Form()], ctx: Ctx = CtxDep) -> Response:
    site = ctx.site
    back = safe_next(form.next)
    ip = client_ip(site, request)

    def check() -> str | None:
        with site.store.session() as db:
            user = acc.authenticate(db, form.email, form.password, ip)
            return acc.start_session(db, user).id if user else None

    wait = 0
    try:
        sid = await in_hash_pool(request, check)
    except acc.Throttled as t:
        sid, wait = None, t.seconds
        error = f"Too many failed attempts. For your safety, try again in {acc.wait_text(wait)}."
        code = 429
    else:
        error, code = "That email and password do not match an account.", 401
    if sid is None:
        resp = render(ctx, "login.html.j2", code, title="Sign in", next=back, email=form.email, error=error)
        if wait:
            resp.headers["Retry-After"] = str(wait)
        return resp
    resp = RedirectResponse(back, status_code=303)
    set_session(site, request, resp, sid)
    return resp


@pages.get("/account")
def account_page(ctx: Ctx = CtxDep) -> Response:
    signed_in(ctx)
    return _account_page(ctx, 200, None, None)


def _account_page(ctx: Ctx, code: int, message: str | None, error: str | None) -> Response:
    return render(
        ctx,
        "account.html.j2",
        code,
        title="Your account",
        nav="account",
        message=message,
        error=error,
        min_password=acc.MIN_PASSWORD,
    )


@pages.post("/account/password")
async def change_password(
    request: Request, form: Annotated[PasswordChange, Form()], ctx: Ctx = CtxDep
) -> Response:
    """Change one's own password (the current one is asked for): every other session of the
    account ends at once, this one stays."""
    signed_in(ctx)
    assert ctx.user is not None
    if form.password != form.password2:
        return _account_page(ctx, 400, None, "The two new passwords differ.")
    site, uid, keep = ctx.site, ctx.user.id, ctx.session_id

    def change() -> tuple[str | None, int]:
        from covalue.store import User

        with site.store.session() as db:
            user = db.get(User, uid)
            if user is None or not acc.verify_password(user, form.current):
                return "The current password is not right.", 0
            try:
                ended = acc.set_password(db, user, form.password, keep=keep)
            except acc.AccountError as e:
                return str(e)[:1].upper() + str(e)[1:] + ".", 0
            acc.audit(
                db, user, "password changed", subject=user.email, detail=f"{ended} other sessions ended"
            )
            return None, ended

    error, ended = await in_hash_pool(request, change)
    if error:
        return _account_page(ctx, 400, None, error)
    others = f" {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
    return _account_page(ctx, 200, "Your password is changed." + others, None)


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


router = joined(pages, api)
