"""The server-rendered pages: sign-in and first-run set-up, the portfolio, each community's overview,
journey, health, people and content, the data page (uploads and their progress), a member's own
journey, and the accounts page."""

from __future__ import annotations

import hmac
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import or_, select

from covalue import analysis
from covalue.report import charts
from covalue.store import ROLES, AuditEvent, Job, User
from covalue.store import accounts as acc
from covalue.web import uploads
from covalue.web.common import (
    STATE_WORDS,
    TABS,
    TIPS,
    CtxDep,
    community,
    json_for_script,
    render,
    signed_in,
    summary_row,
    visible_charts,
    visible_communities,
)
from covalue.web.security import Ctx, check_csrf, clear_session, finish, set_session

router = APIRouter(include_in_schema=False)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(nxt: str | None) -> str:
    # only local paths: an attacker's link must not bounce a fresh sign-in to another site (browsers
    # drop tabs and newlines and read "\\" as "/", so "/\t/evil" or "/\\evil" would leave the app)
    if not nxt or not nxt.startswith("/") or any(ch in nxt for ch in "\\\t\r\n ") or nxt.startswith("//"):
        return "/"
    parts = urlsplit(nxt)
    return nxt if not parts.scheme and not parts.netloc else "/"


def _redirect(ctx: Ctx, url: str) -> Response:
    return finish(ctx, RedirectResponse(url, status_code=303))


def _needs_setup(ctx: Ctx) -> bool:
    with ctx.site.store.session() as db:
        return acc.count_users(db) == 0


# -- sign-in ---------------------------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, ctx: Ctx = CtxDep, next: str = "/") -> Response:
    if ctx.signed_in:
        return _redirect(ctx, _safe_next(next))
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
    return render(ctx, "login.html.j2", title="Sign in", next=_safe_next(next), email="", error=None)


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx = CtxDep,
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    await check_csrf(ctx)
    site = ctx.site
    try:
        with site.store.session() as db:
            user = acc.authenticate(db, email, password, _client_ip(request))
            sess = acc.start_session(db, user) if user else None
            sid = sess.id if sess else None
    except acc.Throttled as t:
        return render(
            ctx,
            "login.html.j2",
            429,
            title="Sign in",
            next=_safe_next(next),
            email=email,
            error=f"Too many failed attempts. For your safety, try again in {t.minutes} minutes.",
        )
    if sid is None:
        return render(
            ctx,
            "login.html.j2",
            401,
            title="Sign in",
            next=_safe_next(next),
            email=email,
            error="That email and password do not match an account.",
        )
    resp = RedirectResponse(_safe_next(next), status_code=303)
    set_session(site, request, resp, sid)
    return resp


@router.post("/logout")
async def logout(ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    if ctx.session_id:
        with ctx.site.store.session() as db:
            acc.end_session(db, ctx.session_id)
    resp = RedirectResponse("/login", status_code=303)
    clear_session(resp)
    return resp


@router.get("/setup")
def setup_page(ctx: Ctx = CtxDep, token: str = "") -> Response:
    if not _needs_setup(ctx):
        return _redirect(ctx, "/login")
    if not token or not hmac.compare_digest(token, ctx.site.setup_token):
        raise HTTPException(
            403, "Open the set-up link exactly as printed in the terminal where `covalue serve` runs."
        )
    return render(
        ctx, "setup.html.j2", title="Set-up", token=token, email="", error=None, min_password=acc.MIN_PASSWORD
    )


@router.post("/setup")
async def setup(
    request: Request,
    ctx: Ctx = CtxDep,
    token: str = Form(""),
    email: str = Form(""),
    password: str = Form(""),
    password2: str = Form(""),
) -> Response:
    await check_csrf(ctx)
    site = ctx.site
    if not _needs_setup(ctx):
        return _redirect(ctx, "/login")
    if not hmac.compare_digest(token, site.setup_token):
        raise HTTPException(403, "The set-up link is not valid.")
    error = None
    if password != password2:
        error = "The two passwords differ."
    else:
        try:
            with site.store.session() as db:
                user = acc.add_user(db, email, "admin", password=password)
                acc.audit(db, user, "first admin created", subject=user.email)
                sid = acc.start_session(db, user).id
        except acc.AccountError as e:
            error = str(e)[:1].upper() + str(e)[1:] + "."
    if error:
        return render(
            ctx,
            "setup.html.j2",
            400,
            title="Set-up",
            token=token,
            email=email,
            error=error,
            min_password=acc.MIN_PASSWORD,
        )
    resp = RedirectResponse("/data", status_code=303)
    set_session(site, request, resp, sid)
    return resp


# -- portfolio and communities ---------------------------------------------------------------------------
@router.get("/")
def portfolio(ctx: Ctx = CtxDep) -> Response:
    if not ctx.signed_in:
        return _redirect(ctx, "/login")
    assert ctx.access is not None
    if not ctx.access.can("view") and ctx.user and ctx.user.member_id:
        return _redirect(ctx, "/me")
    cs = visible_communities(ctx)
    snap = ctx.site.snapshot()
    chart = None
    if len(cs) > 1:
        try:
            chart = charts.portfolio_mix(cs)
        except Exception as e:  # the table above carries the same numbers
            snap.errors.append(f"portfolio chart: {e}")
    specs = json_for_script({chart["id"]: chart["figure"]} if chart else {})
    errors = snap.errors if ctx.access.is_admin else []
    return render(
        ctx,
        "portfolio.html.j2",
        title="Communities",
        nav="portfolio",
        rows=[summary_row(c) for c in cs],
        chart=chart,
        specs=specs,
        no_data=not snap.names,
        errors=errors,
    )


def _tabs(ctx: Ctx, cid: str) -> list[tuple[str, str]]:
    assert ctx.access is not None
    return [(k, label) for k, label in TABS if k != "people" or ctx.access.can("people", cid)]


def _community_page(
    ctx: Ctx, cid: str, tab: str, template: str, keys: tuple[str, ...], what: str = "view", **extra: Any
) -> Response:
    c = community(ctx, cid, what)
    shown = visible_charts(ctx, c)
    specs = {shown[k]["id"]: shown[k]["figure"] for k in keys if k in shown}
    h = c.get("health") or {}
    view = {**c, "charts": shown}
    checks = c.get("checks") or []
    mix = c.get("mix") or {}
    active = int(mix.get("active") or 0)
    return render(
        ctx,
        template,
        title=f"{c['name']} · {tab}",
        nav="portfolio",
        c=view,
        tab=tab,
        tabs=_tabs(ctx, cid),
        specs=json_for_script(specs) if specs else None,
        checks=checks,
        passed=sum(1 for x in checks if x.get("passed")),
        mix=mix,
        solving=(int(mix.get("solve") or 0) + int(mix.get("innovate") or 0)) / active if active else None,
        resp=h.get("responsiveness") or {},
        shape=h.get("shape") or {},
        growth=(c.get("dynamics") or {}).get("growth") or {},
        **extra,
    )


@router.get("/c/{cid}")
def overview(cid: str, ctx: Ctx = CtxDep) -> Response:
    return _community_page(ctx, cid, "overview", "c_overview.html.j2", ("mix_now",))


@router.get("/c/{cid}/journey")
def journey(cid: str, ctx: Ctx = CtxDep) -> Response:
    maturity, _ = analysis.load_models(ctx.site.ws)
    return _community_page(
        ctx,
        cid,
        "journey",
        "c_journey.html.j2",
        ("mix_now", "mix_over_time", "journey"),
        min_interactions=maturity["stages"]["min_interactions"],
    )


@router.get("/c/{cid}/health")
def health(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid)
    assert ctx.access is not None
    people = ctx.access.can("people", cid)
    unanswered = [
        {k: v for k, v in q.items() if people or k not in ("author", "author_member")}
        for q in (c.get("health") or {}).get("unanswered") or []
    ]
    if people and unanswered:
        names = ctx.site.labels(
            [q.get("author_member") or "" for q in unanswered], names=_names_allowed(ctx, cid)
        )
        for q in unanswered:
            q["author"] = names.get(q.get("author_member") or "", "unknown")
        _audit(ctx, "viewed question authors", cid, None)
    return _community_page(
        ctx,
        cid,
        "health",
        "c_health.html.j2",
        ("responsiveness", "membership", "retention", "spikes"),
        unanswered=unanswered,
        people=people,
    )


@router.get("/c/{cid}/content")
def content(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid, "content")
    assert ctx.access is not None
    excerpts = ctx.access.can("people", cid)
    lists = [
        ("top_replied", "Most replied to", "replies"),
        ("top_reacted", "Most reacted to", "reactions"),
        ("top_viewed", "Most viewed", "views"),
    ]
    return _community_page(
        ctx,
        cid,
        "content",
        "c_content.html.j2",
        ("themes",),
        what="content",
        res=c.get("resonance") or {},
        lists=lists,
        excerpts=excerpts,
    )


def _names_allowed(ctx: Ctx, cid: str) -> bool:
    assert ctx.access is not None
    return ctx.access.can("names", cid) and ctx.site.show_names


def _audit(ctx: Ctx, action: str, cid: str | None, subject: str | None) -> None:
    with ctx.site.store.session() as db:
        user = db.get(User, ctx.user.id) if ctx.user else None
        acc.audit(db, user, action, community=cid, subject=subject)


@router.get("/c/{cid}/people")
def people(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid, "people")
    names = _names_allowed(ctx, cid)
    rows = ctx.site.people(cid, names=names)
    champs = c.get("champions") or []
    labels = {r["member_id"]: r["label"] for r in rows}
    missing = [ch["member_id"] for ch in champs if ch["member_id"] not in labels]
    labels.update(ctx.site.labels(missing, names=names))
    _audit(ctx, "viewed people", cid, f"{len(rows)} members")
    return _community_page(
        ctx,
        cid,
        "people",
        "c_people.html.j2",
        ("network",),
        what="people",
        people=rows,
        champions=champs,
        labels=labels,
        names=names,
    )


@router.get("/c/{cid}/people/{mid}")
def member(cid: str, mid: str, ctx: Ctx = CtxDep) -> Response:
    community(ctx, cid, "people")
    ex = ctx.site.explain(mid, cid)
    if ex is None or not ex["communities"]:  # members of other communities stay out of reach
        raise HTTPException(404, "There is no such member in this community.")
    label = ctx.site.label(ex["member_id"], names=_names_allowed(ctx, cid))
    _audit(ctx, "viewed member journey", cid, ex["member_id"])
    return render(
        ctx,
        "member.html.j2",
        title=label,
        nav="portfolio",
        heading=f"{label}'s journey",
        ex=ex,
        own=False,
        names=ctx.site.snapshot().names,
        tips=TIPS,
        back=f"/c/{cid}/people",
    )


# -- a member's own journey ------------------------------------------------------------------------------
def _own_journey(ctx: Ctx, member_id: str | None) -> Response:
    ex = ctx.site.explain(member_id) if member_id else None
    return render(
        ctx,
        "member.html.j2",
        title="My journey",
        nav="me",
        heading="My value journey",
        ex=ex,
        own=True,
        names=ctx.site.snapshot().names,
        tips=TIPS,
        back=None,
    )


@router.get("/me")
def me(ctx: Ctx = CtxDep) -> Response:
    signed_in(ctx)
    assert ctx.user is not None
    if not ctx.user.member_id:
        raise HTTPException(
            404, "Your account is not linked to a member of the community; ask your administrator."
        )
    return _own_journey(ctx, ctx.user.member_id)


@router.get("/j/{token}")
def journey_link(token: str, ctx: Ctx = CtxDep) -> Response:
    with ctx.site.store.session() as db:
        user = acc.user_by_journey_token(db, token)
        member_id = user.member_id if user else None
    if not member_id:
        raise HTTPException(404, "This personal link is not valid (any more). Ask for a new one.")
    resp = _own_journey(ctx, member_id)
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


# -- data ------------------------------------------------------------------------------------------------
def _upload_targets(ctx: Ctx) -> list[tuple[str, str]]:
    assert ctx.access is not None
    names = ctx.site.snapshot().names
    return [
        (cid, names[cid])
        for cid in sorted(names, key=lambda k: names[k].lower())
        if ctx.access.can("upload", cid)
    ]


def _jobs_for(ctx: Ctx) -> list[Job]:
    assert ctx.access is not None and ctx.user is not None
    with ctx.site.store.session() as db:
        q = select(Job).order_by(Job.created_at.desc()).limit(20)
        if not ctx.access.is_admin:
            mine = [cid for cid, _ in _upload_targets(ctx)]
            q = q.where(or_(Job.user_id == ctx.user.id, Job.community_id.in_(mine)))
        return list(db.scalars(q))


def _data_page(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
    signed_in(ctx)
    assert ctx.access is not None
    if not ctx.access.can("upload"):
        raise HTTPException(403, "Your account cannot upload data.")
    st = ctx.site.status() if ctx.access.is_admin else None
    return render(
        ctx,
        "data.html.j2",
        status,
        title="Data",
        nav="data",
        communities=_upload_targets(ctx),
        jobs=_jobs_for(ctx),
        status=st,
        error=error,
        max_size=uploads.size_text(ctx.site.limits.max_upload_bytes),
    )


@router.get("/data")
def data(ctx: Ctx = CtxDep) -> Response:
    return _data_page(ctx)


async def accept_upload(ctx: Ctx, *, header_checked: bool = False) -> Job:
    """Receive an upload (checked for CSRF and size while streaming) and queue its job;
    ``header_checked`` when the API caller's X-CSRF-Token header was already verified."""
    signed_in(ctx)
    assert ctx.access is not None and ctx.user is not None
    if not ctx.access.can("upload"):
        raise HTTPException(403, "Your account cannot upload data.")
    site = ctx.site
    job_id = uuid.uuid4().hex
    got = await uploads.receive(
        ctx.request,
        site.upload_dir() / job_id,
        max_bytes=site.limits.max_upload_bytes,
        csrf=None if header_checked else ctx.csrf,
    )
    target = (got.fields.get("community") or "").strip() or None
    allowed = ctx.access.is_admin or (target is not None and ctx.access.can("upload", target))
    if not allowed:
        site.discard_upload(job_id)
        raise uploads.UploadRefused(403, "Choose one of your communities for this export.")
    with site.store.session() as db:
        job = Job(
            id=job_id,
            user_id=ctx.user.id,
            filename=got.filename or "upload",
            community_id=target,
            state="queued",
            step="waiting to start",
            progress=0,
            size_bytes=got.size,
        )
        db.add(job)
    site.submit(job_id)
    return job


@router.post("/data/upload")
async def upload(ctx: Ctx = CtxDep) -> Response:
    try:
        job = await accept_upload(ctx)
    except uploads.UploadRefused as e:
        if e.status == 403 and "security token" in e.message:
            raise HTTPException(403, e.message) from None
        return _data_page(ctx, e.status, error=f"The upload was refused: {e.message}.")
    return _redirect(ctx, f"/data/jobs/{quote(job.id)}")


def load_job(ctx: Ctx, job_id: str) -> Job:
    signed_in(ctx)
    assert ctx.access is not None and ctx.user is not None
    with ctx.site.store.session() as db:
        job = db.get(Job, job_id)
    if job is None:
        raise HTTPException(404, "There is no such upload.")
    mine = job.user_id == ctx.user.id
    if not (mine or ctx.access.is_admin or (job.community_id and ctx.access.can("upload", job.community_id))):
        raise HTTPException(404, "There is no such upload.")
    return job


@router.get("/data/jobs/{job_id}")
def job_page(job_id: str, ctx: Ctx = CtxDep) -> Response:
    job = load_job(ctx, job_id)
    assert ctx.access is not None
    summary = job.summary or {}
    snap = ctx.site.snapshot()
    results = []
    if job.state == "done":
        for cid in summary.get("communities") or []:
            c = snap.communities.get(cid)
            if c is not None and ctx.access.can("view", cid):
                results.append({**c, "charts": visible_charts(ctx, c)})
    specs = {
        c["charts"]["mix_now"]["id"]: c["charts"]["mix_now"]["figure"]
        for c in results
        if "mix_now" in c["charts"]
    }
    return render(
        ctx,
        "job.html.j2",
        title=job.filename,
        nav="data",
        job=job,
        summary=summary,
        results=results,
        running=job.state not in ("done", "failed", "refused"),
        state_words=STATE_WORDS,
        specs=json_for_script(specs) if specs else None,
    )


# -- accounts --------------------------------------------------------------------------------------------
def _admin_page(
    ctx: Ctx, status: int = 200, message: str | None = None, error: str | None = None
) -> Response:
    signed_in(ctx)
    assert ctx.access is not None
    if not ctx.access.is_admin:
        raise HTTPException(403, "Only administrators manage accounts.")
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
async def admin_add(
    ctx: Ctx = CtxDep,
    email: str = Form(""),
    role: str = Form(""),
    community: str = Form(""),
    password: str = Form(""),
    member_id: str = Form(""),
) -> Response:
    await check_csrf(ctx)
    signed_in(ctx)
    assert ctx.access is not None
    if not ctx.access.is_admin:
        raise HTTPException(403, "Only administrators manage accounts.")
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
