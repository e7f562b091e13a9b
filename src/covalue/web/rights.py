"""The rights of the people in the data, in the web app: an administrator forgets a person, and a person
sees (and downloads) everything held about them through their own journey link or their account.
Once a day the server prunes uploads and texts past the workspace's retention (covalue.rights).

CSRF is checked by the app's dependency for every POST, as for every other form; roles are checked
here with the same public helpers the other views use.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Form, HTTPException
from fastapi.responses import Response

from covalue.rights import forget as forgetting
from covalue.rights import retention
from covalue.rights.people import Person, PersonNotFound, resolve
from covalue.rights.subject_access import subject_access
from covalue.store import accounts as acc
from covalue.web.common import CtxDep, admin_only, audit, render, signed_in
from covalue.web.security import Ctx

log = logging.getLogger(__name__)
#: items listed on the person's own page (the JSON download holds them all)
SHOWN_ITEMS = 200


def _prune_daily(site: Any, stop: threading.Event) -> None:
    """Prune once a day at night, under the workspace lock; a failure is logged and tried again
    the next night."""
    while not stop.wait(retention.seconds_until_next()):
        try:
            with site.write_lock, site.lock:
                result = retention.prune(
                    site.ws, store=site.store, asked_by="the daily prune of covalue serve"
                )
                site.reconnected()
            if result.texts_erased:
                site.refresh()
        except Exception:
            log.exception("web: the daily prune failed")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    stop = threading.Event()
    worker = threading.Thread(
        target=_prune_daily, args=(app.state.site, stop), name="covalue-prune", daemon=True
    )
    worker.start()
    try:
        yield
    finally:
        stop.set()


router = APIRouter(include_in_schema=False, lifespan=lifespan)


_ADMINS_ONLY = "Only administrators can forget a person."


def _held(ctx: Ctx, spec: str) -> tuple[Person, dict[str, Any]]:
    with ctx.site.reader() as ws:  # reads only: never waits for an ingest or analysis
        p = resolve(ws, spec, store=ctx.site.store)
        return p, subject_access(ws, p, store=ctx.site.store)


def _forget_page(ctx: Ctx, status: int = 200, **values: Any) -> Response:
    return render(ctx, "rights_forget.html.j2", status, title="Forget a person", nav="admin", **values)


@router.get("/admin/forget")
def forget_form(ctx: Ctx = CtxDep, person: str = "") -> Response:
    """The form; with ``person`` given, what is held about them, to confirm before erasing."""
    admin_only(ctx, _ADMINS_ONLY)
    if not person.strip():
        return _forget_page(ctx)
    try:
        p, held = _held(ctx, person)
    except PersonNotFound as e:
        return _forget_page(ctx, 404, person=person, error=str(e))
    audit(ctx, "viewed what is held before forgetting", None, min(p.member_ids) if p.member_ids else None)
    return _forget_page(
        ctx, person=person, label=p.label, counts={k: v for k, v in held["counts"].items() if v}
    )


@router.post("/admin/forget")
def forget_person(ctx: Ctx = CtxDep, person: str = Form(""), confirm: str = Form("")) -> Response:
    admin_only(ctx, _ADMINS_ONLY)
    assert ctx.user is not None
    if confirm != "forget":
        return _forget_page(ctx, 400, person=person, error="Type forget in the confirmation box to go ahead.")
    try:
        with ctx.site.write_lock, ctx.site.lock:
            p = resolve(ctx.site.ws, person, store=ctx.site.store)
            if ctx.user.id in p.user_ids:
                raise HTTPException(
                    400, "You cannot forget your own account from here; ask another administrator."
                )
            result = forgetting.forget(
                ctx.site.ws, p, asked_by=ctx.user.email, store=ctx.site.store, by_user_id=ctx.user.id
            )
            ctx.site.reconnected()
    except PersonNotFound as e:
        return _forget_page(ctx, 404, person=person, error=str(e))
    ctx.site.refresh()
    return _forget_page(ctx, result=result.to_dict())


# -- the person's own data --------------------------------------------------------------------------
def _own(ctx: Ctx, member_id: str) -> dict[str, Any]:
    try:
        _p, held = _held(ctx, member_id)
    except PersonNotFound:
        raise HTTPException(404, "Nothing is held about you in this workspace any more.") from None
    audit(ctx, "subject access by the person", None, member_id)
    return held


def _own_page(ctx: Ctx, held: dict[str, Any], download: str) -> Response:
    items = held["workspace_rows"]["items"]
    resp = render(
        ctx,
        "rights_access.html.j2",
        title="My data",
        nav="me",
        held=held,
        counts={k: v for k, v in held["counts"].items() if v},
        items=items[:SHOWN_ITEMS],
        more=max(len(items) - SHOWN_ITEMS, 0),
        download=download,
    )
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _json(held: dict[str, Any]) -> Response:
    body = json.dumps(held, indent=2, ensure_ascii=False, default=str)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Referrer-Policy": "no-referrer",
        },
    )


def _member_of_link(ctx: Ctx, token: str) -> str:
    with ctx.site.store.session() as db:
        user = acc.user_by_journey_token(db, token)
        member_id = user.member_id if user else None
    if not member_id:
        raise HTTPException(404, "This personal link is not valid (any more). Ask for a new one.")
    return member_id


def _member_of_account(ctx: Ctx) -> str:
    signed_in(ctx)
    assert ctx.user is not None
    if not ctx.user.member_id:
        raise HTTPException(
            404, "Your account is not linked to a member of the community; ask your administrator."
        )
    return ctx.user.member_id


@router.get("/j/{token}/data")
def own_data_by_link(token: str, ctx: Ctx = CtxDep) -> Response:
    return _own_page(ctx, _own(ctx, _member_of_link(ctx, token)), f"/j/{token}/data.json")


@router.get("/j/{token}/data.json")
def own_data_by_link_json(token: str, ctx: Ctx = CtxDep) -> Response:
    return _json(_own(ctx, _member_of_link(ctx, token)))


@router.get("/me/data")
def own_data(ctx: Ctx = CtxDep) -> Response:
    return _own_page(ctx, _own(ctx, _member_of_account(ctx)), "/me/data.json")


@router.get("/me/data.json")
def own_data_json(ctx: Ctx = CtxDep) -> Response:
    return _json(_own(ctx, _member_of_account(ctx)))
