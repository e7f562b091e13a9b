"""Accounts: administrators list accounts and their roles, add a role to an account (creating it when
new), take access back (disable or enable an account, remove it, remove one of its roles, end its
sessions; every one ends the account's sessions at once), and read the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from sqlalchemy import select

from covalue.store import ROLES, AuditEvent, User
from covalue.store import accounts as acc
from covalue.web.common import CtxDep, redirect, render, signed_in
from covalue.web.security import Ctx

router = APIRouter(include_in_schema=False)


def _admin_only(ctx: Ctx) -> None:
    signed_in(ctx)
    assert ctx.access is not None
    if not ctx.access.is_admin:
        raise HTTPException(403, "Only administrators manage accounts.")


def _admin_page(
    ctx: Ctx, status: int = 200, message: str | None = None, error: str | None = None
) -> Response:
    _admin_only(ctx)
    names = ctx.site.snapshot().names
    with ctx.site.store.session() as db:
        users = list(db.scalars(select(User).order_by(User.email)))
        audit = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(100)))
    return render(
        ctx,
        "admin.html.j2",
        status,
        title="Accounts",
        nav="admin",
        users=users,
        audit=audit,
        roles=ROLES,
        revocations=acc.REVOCATIONS,
        communities=sorted(names.items(), key=lambda kv: kv[1].lower()),
        names=names,
        message=message,
        error=error,
        min_password=acc.MIN_PASSWORD,
    )


@router.get("/admin")
def admin(ctx: Ctx = CtxDep) -> Response:
    return _admin_page(ctx)


@router.post("/admin/users")
def admin_add(
    ctx: Ctx = CtxDep,
    email: str = Form(""),
    role: str = Form(""),
    community: str = Form(""),
    password: str = Form(""),
    member_id: str = Form(""),
) -> Response:
    _admin_only(ctx)
    try:
        with ctx.site.store.session() as db:
            me_ = db.get(User, ctx.user.id) if ctx.user else None
            user = acc.add_user(
                db,
                email,
                role,
                community=community or None,
                password=password or None,
                member_id=member_id.strip() or None,
            )
            acc.audit(
                db, me_, "account role added", community=community or None, subject=f"{user.email}: {role}"
            )
            shown = user.email
    except acc.AccountError as e:
        return _admin_page(ctx, 400, error=str(e))
    return _admin_page(ctx, message=f"Saved: {shown} is {role}{' of ' + community if community else ''}.")


@router.post("/admin/users/revoke")
def admin_revoke(
    ctx: Ctx = CtxDep,
    email: str = Form(""),
    action: str = Form(""),
    role: str = Form(""),
    community: str = Form(""),
) -> Response:
    """Take access back from an account; audited under the administrator who did it."""
    _admin_only(ctx)
    assert ctx.user is not None
    if action not in acc.REVOCATIONS:
        return _admin_page(ctx, 400, error=f"Unknown action {action!r}.")
    try:
        with ctx.site.store.session() as db:
            me_ = db.get(User, ctx.user.id)
            user = acc.require_user(db, email)
            own = user.id == ctx.user.id
            if own and action in ("disable", "remove"):
                raise acc.AccountError("you cannot disable or remove your own account here")
            done = acc.revoke(db, user, action, role, community or None)
            acc.audit(
                db,
                me_,
                acc.REVOCATIONS[action],
                community=community or None,
                subject=f"{email}: {role}" if role else email,
            )
    except acc.AccountError as e:
        return _admin_page(ctx, 400, error=str(e)[:1].upper() + str(e)[1:] + ".")
    if own and action in ("role-remove", "sessions-end"):
        # the administrator's own sessions just ended: this one too
        return redirect(ctx, "/login")
    return _admin_page(ctx, message=done[:1].upper() + done[1:] + ".")
