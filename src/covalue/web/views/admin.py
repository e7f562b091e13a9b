"""Accounts: administrators list accounts and their roles, add a role to an account (creating it when
new), take access back (disable or enable an account, remove it, remove one of its roles, end its
sessions; every one ends the account's sessions at once), and read the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select

from covalue.store import ROLES, AuditEvent, User
from covalue.store import accounts as acc
from covalue.web.common import CtxDep, admin_only, redirect, render
from covalue.web.security import Ctx

router = APIRouter(include_in_schema=False)


class AccountRole(BaseModel):
    """Whose access, in which role and community: what both of the accounts page's forms name."""

    email: str = ""
    role: str = ""
    community: str = ""


class NewRole(AccountRole):
    """A role given to an account, created with this password and member id when new."""

    password: str = ""
    member_id: str = ""


class Revocation(AccountRole):
    """Access taken back: ``action`` is a key of ``accounts.REVOCATIONS``."""

    action: str = ""


_ADMINS_ONLY = "Only administrators manage accounts."


def _admin_page(
    ctx: Ctx, status: int = 200, message: str | None = None, error: str | None = None
) -> Response:
    admin_only(ctx, _ADMINS_ONLY)
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
def admin_add(form: Annotated[NewRole, Form()], ctx: Ctx = CtxDep) -> Response:
    admin_only(ctx, _ADMINS_ONLY)
    try:
        with ctx.site.store.session() as db:
            me_ = db.get(User, ctx.user.id) if ctx.user else None
            user = acc.add_user(
                db,
                form.email,
                form.role,
                community=form.community or None,
                password=form.password or None,
                member_id=form.member_id.strip() or None,
            )
            acc.audit(
                db,
                me_,
                "account role added",
                community=form.community or None,
                subject=f"{user.email}: {form.role}",
            )
            shown = user.email
    except acc.AccountError as e:
        return _admin_page(ctx, 400, error=str(e))
    return _admin_page(
        ctx, message=f"Saved: {shown} is {form.role}{' of ' + form.community if form.community else ''}."
    )


@router.post("/admin/users/revoke")
def admin_revoke(form: Annotated[Revocation, Form()], ctx: Ctx = CtxDep) -> Response:
    """Take access back from an account; audited under the administrator who did it."""
    admin_only(ctx, _ADMINS_ONLY)
    assert ctx.user is not None
    if form.action not in acc.REVOCATIONS:
        return _admin_page(ctx, 400, error=f"Unknown action {form.action!r}.")
    try:
        with ctx.site.store.session() as db:
            me_ = db.get(User, ctx.user.id)
            user = acc.require_user(db, form.email)
            own = user.id == ctx.user.id
            if own and form.action in ("disable", "remove"):
                raise acc.AccountError("you cannot disable or remove your own account here")
            done = acc.revoke(db, user, form.action, form.role, form.community or None)
            acc.audit(
                db,
                me_,
                acc.REVOCATIONS[form.action],
                community=form.community or None,
                subject=f"{form.email}: {form.role}" if form.role else form.email,
            )
    except acc.AccountError as e:
        return _admin_page(ctx, 400, error=str(e)[:1].upper() + str(e)[1:] + ".")
    if own and form.action in ("role-remove", "sessions-end"):
        # the administrator's own sessions just ended: this one too
        return redirect(ctx, "/login")
    return _admin_page(ctx, message=done[:1].upper() + done[1:] + ".")
