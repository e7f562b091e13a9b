"""Pages and API of the Shared Value canvas: the canvas of a community, the member-needs survey
behind its unguessable link, CSV import with column mapping, interview notes, needs from the data,
organisation goals, match reviews and decisions, and the canvas export as HTML and JSON.

Who may do what: anyone who may view the community reads the canvas; managers (and admins) run
surveys, imports, interviews and review needs; managers and the community's sponsor enter goals,
review matches and record decisions. The survey link reaches only its own form.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from covalue.canvas import shared_value as sv
from covalue.canvas import shared_value_export as export
from covalue.store import shared_value as svs
from covalue.web.common import CtxDep, community, render, render_tab
from covalue.web.security import Ctx, finish
from covalue.web.site import Busy

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["covalue"])
BASE = "/c/{cid}/shared-value"


# -- access ----------------------------------------------------------------------------------------------
def _view(ctx: Ctx, cid: str) -> dict[str, Any]:
    return community(ctx, cid, "view")


def _is_sponsor(ctx: Ctx, cid: str) -> bool:
    return ctx.access is not None and ("sponsor", cid) in ctx.access.roles


def _can_manage(ctx: Ctx, cid: str) -> bool:
    return ctx.access is not None and ctx.access.can("upload", cid)


def _can_decide(ctx: Ctx, cid: str) -> bool:
    return _can_manage(ctx, cid) or _is_sponsor(ctx, cid)


def _require(ok: bool) -> None:
    if not ok:
        raise HTTPException(403, "Your role in this community cannot change this part of the canvas.")


def _who(ctx: Ctx) -> dict[str, Any]:
    assert ctx.access is not None
    return {"user_id": ctx.access.user_id, "email": ctx.access.email}


def _back(ctx: Ctx, cid: str, anchor: str = "") -> Response:
    return finish(
        ctx, RedirectResponse(BASE.format(cid=cid) + (f"#{anchor}" if anchor else ""), status_code=303)
    )


def _data(ctx: Ctx, c: dict[str, Any]) -> dict[str, Any]:
    return export.canvas_data(ctx.site.store, c["id"], c["name"])


# -- the canvas page -------------------------------------------------------------------------------------
def _page(
    ctx: Ctx, cid: str, code: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    c = _view(ctx, cid)
    d = _data(ctx, c)
    manage = _can_manage(ctx, cid)
    needs_by_id = {n["id"]: n for n in d["needs"]}
    goals_by_id = {g["id"]: g for g in d["goals"]}
    base = str(ctx.request.base_url).rstrip("/")
    # only managers see the links: a link in a sponsor's screenshot would still take answers
    surveys = [{**s, "link": f"{base}/s/{s['token']}" if manage else None} for s in _surveys(ctx, cid)]
    return render_tab(
        ctx,
        c,
        "sv_canvas.html.j2",
        "shared-value",
        "Shared value",
        code,
        d=d,
        cv=d["canvas"],
        body=export.render_section(d),
        surveys=surveys,
        needs_by_id=needs_by_id,
        goals_by_id=goals_by_id,
        manage=manage,
        decide=_can_decide(ctx, cid),
        kinds=sv.KINDS,
        drivers=sv.DRIVERS,
        paths=sv.PATHS,
        fields=sv.FIELDS,
        error=error,
        notice=notice,
    )


def _surveys(ctx: Ctx, cid: str) -> list[dict[str, Any]]:
    with ctx.site.store.session() as db:
        return svs.state(db, cid)["surveys"]


@router.get(BASE)
def canvas_page(cid: str, ctx: Ctx = CtxDep) -> Response:
    return _page(ctx, cid)


async def _act(ctx: Ctx, cid: str, allowed: bool, anchor: str, fn: Any) -> Response:
    """Run one change: access, then ``fn(db)``; a refusal shows the page with its message."""
    _view(ctx, cid)
    _require(allowed)
    try:
        with ctx.site.store.session() as db:
            fn(db)
    except svs.Refused as r:
        return _page(ctx, cid, r.code, error=r.message)
    return _back(ctx, cid, anchor)


async def _manage(ctx: Ctx, cid: str, anchor: str, fn: Any) -> Response:
    """:func:`_act` for a change the community's managers may make."""
    return await _act(ctx, cid, _can_manage(ctx, cid), anchor, fn)


async def _decide(ctx: Ctx, cid: str, anchor: str, fn: Any) -> Response:
    """:func:`_act` for a change a sponsor may make too (goals, match verdicts, decisions)."""
    return await _act(ctx, cid, _can_decide(ctx, cid), anchor, fn)


@router.post(BASE + "/surveys")
async def open_survey(cid: str, ctx: Ctx = CtxDep, title: str = Form("")) -> Response:
    return await _manage(
        ctx,
        cid,
        "sv-surveys",
        lambda db: svs.create_survey(
            db, cid, title or "What do you need from this community?", ctx.access.user_id
        ),
    )


@router.post(BASE + "/surveys/{sid}/close")
async def close_survey(cid: str, sid: int, ctx: Ctx = CtxDep) -> Response:
    return await _manage(
        ctx, cid, "sv-surveys", lambda db: svs.close_survey(db, cid, sid, ctx.access.user_id)
    )


@router.post(BASE + "/needs")
async def add_need(cid: str, ctx: Ctx = CtxDep, text: str = Form("")) -> Response:
    return await _manage(
        ctx, cid, "sv-needs", lambda db: svs.add_need(db, cid, text, "team", user_id=ctx.access.user_id)
    )


@router.post(BASE + "/needs/from-data")
async def needs_from_data(cid: str, ctx: Ctx = CtxDep) -> Response:
    _view(ctx, cid)
    _require(_can_manage(ctx, cid))
    from covalue.canvas.shared_value_data import question_themes

    site = ctx.site
    try:
        with site.person_query() as ws:  # a slot of its own: it reads every question of the community
            themes = question_themes(ws, cid)
    except Busy:
        raise
    except Exception as e:  # the canvas stays usable without the data's view
        return _page(ctx, cid, 500, error=f"The themes of this community's data could not be read: {e}")
    found = sv.needs_from_themes(themes)
    with site.store.session() as db:
        known = {n["text"].lower() for n in svs.state(db, cid)["needs"] if n["origin"] == "data"}
        new = [n for n in found if n["text"].lower() not in known]
        for n in new:
            svs.add_need(
                db,
                cid,
                n["text"],
                "data",
                voices=n["askers"],
                evidence=n["evidence"],
                user_id=ctx.access.user_id,
            )
    note = f"{len(new)} candidate needs found in the data" + (
        " (the others were already here)" if len(new) < len(found) else ""
    )
    return _page(ctx, cid, notice=note + ". Accept, merge or drop them below.")


@router.post(BASE + "/needs/{nid}")
async def review_need(
    cid: str, nid: int, ctx: Ctx = CtxDep, action: str = Form(""), into: str = Form("")
) -> Response:
    into_id = int(into) if into.strip().isdigit() else None
    return await _manage(
        ctx, cid, "sv-needs", lambda db: svs.review_need(db, cid, nid, action, into_id=into_id, **_who(ctx))
    )


@router.post(BASE + "/goals")
async def add_goal(
    cid: str, ctx: Ctx = CtxDep, text: str = Form(""), kind: str = Form(""), driver: str = Form("")
) -> Response:
    return await _decide(
        ctx, cid, "sv-goals", lambda db: svs.add_goal(db, cid, text, kind, driver, user_id=ctx.access.user_id)
    )


@router.post(BASE + "/matches")
async def review_match(
    cid: str,
    ctx: Ctx = CtxDep,
    need_id: int = Form(...),
    goal_id: int = Form(...),
    verdict: str = Form(""),
    note: str = Form(""),
) -> Response:
    # the score and words are recomputed here rather than trusted from the form
    c = _view(ctx, cid)
    d = _data(ctx, c)
    accepted = [n for n in d["needs"] if n["status"] == "accepted"]
    found = {(m.need_id, m.goal_id): m for m in sv.match(accepted, d["goals"])}
    m = found.get((need_id, goal_id))
    return await _decide(
        ctx,
        cid,
        "sv-suggestions",
        lambda db: svs.review_match(
            db,
            cid,
            need_id,
            goal_id,
            verdict,
            score=m.score if m else None,
            method=m.method if m else None,
            words=m.words if m else None,
            note=note,
            **_who(ctx),
        ),
    )


@router.post(BASE + "/decisions")
async def decide(
    cid: str,
    ctx: Ctx = CtxDep,
    path: str = Form(""),
    rationale: str = Form(""),
    sponsor_agreed: str = Form(""),
) -> Response:
    c = _view(ctx, cid)
    cv = _data(ctx, c)["canvas"]
    snap = {"people": cv["people"], "people_words": cv["people_words"], "small_overlap": cv["small_overlap"]}
    return await _decide(
        ctx,
        cid,
        "sv-decide",
        lambda db: svs.add_decision(
            db, cid, path, rationale, sponsor_agreed=bool(sponsor_agreed), snapshot=snap, **_who(ctx)
        ),
    )


class Answer(BaseModel):
    """A member's answer, the same whether they send it through the survey link or the team types it
    in from an interview: the need, their challenges, a rating from 1 to 5, an optional name."""

    need: str = ""
    challenges: str = ""
    rating: str = ""
    name: str = ""

    def rating_value(self) -> int | None:
        raw = self.rating.strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise svs.Refused(400, "The rating goes from 1 to 5.")
        return int(raw)


@router.post(BASE + "/interviews")
async def interview(cid: str, answer: Annotated[Answer, Form()], ctx: Ctx = CtxDep) -> Response:
    return await _manage(
        ctx,
        cid,
        "sv-needs",
        lambda db: svs.add_response(
            db,
            cid,
            "interview",
            answer.need,
            answer.challenges,
            answer.rating_value(),
            answer.name,
            user_id=ctx.access.user_id,
        ),
    )


@router.post(BASE + "/import")
async def import_preview(cid: str, ctx: Ctx = CtxDep, file: UploadFile = File(...)) -> Response:
    c = _view(ctx, cid)
    _require(_can_manage(ctx, cid))
    data = await file.read(sv.MAX_CSV_BYTES + 1)
    try:
        table = sv.read_csv(data, file.filename or "upload")
    except ValueError as e:
        return _page(ctx, cid, 400, error=str(e))
    return render(
        ctx,
        "sv_import.html.j2",
        title=f"{c['name']} · Import survey results",
        nav="portfolio",
        c=c,
        table=table,
        fields=sv.FIELDS,
        csv_text=data.decode("utf-8-sig", errors="replace"),
        filename=file.filename or "upload.csv",
        preview=table.rows[:5],
    )


@router.post(BASE + "/import/confirm")
async def import_confirm(cid: str, request: Request, ctx: Ctx = CtxDep) -> Response:
    _view(ctx, cid)
    _require(_can_manage(ctx, cid))
    form = await request.form()
    text = str(form.get("csv") or "")
    filename = str(form.get("filename") or "upload.csv")[:200]
    try:
        table = sv.read_csv(text.encode("utf-8"), filename)
        mapping: dict[str, int | None] = {}
        for f in sv.FIELDS:
            raw = str(form.get(f"map_{f}") or "")
            mapping[f] = int(raw) if raw.isdigit() and int(raw) < len(table.headers) else None
        rows, rejects = sv.map_rows(table, mapping)
    except ValueError as e:
        return _page(ctx, cid, 400, error=str(e))
    with ctx.site.store.session() as db:
        for r in rows:
            svs.add_response(
                db, cid, "csv", r["need"], r["challenges"], r["rating"], r["name"], user_id=ctx.access.user_id
            )
    msg = f"Imported {len(rows)} answers from {filename}."
    if rejects:
        shown = "; ".join(f"{r['location']}: {r['reason']}" for r in rejects[:10])
        msg += f" {len(rejects)} rows were not imported ({shown}{' …' if len(rejects) > 10 else ''})."
    return _page(ctx, cid, notice=msg)


@router.get(BASE + "/export.html")
def export_html(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = _view(ctx, cid)
    html = export.render_page(_data(ctx, c))
    return finish(ctx, HTMLResponse(html, headers=_attachment(f"shared-value-{cid}.html")))


@router.get(BASE + "/export.json")
def export_json(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = _view(ctx, cid)
    body = export.to_json(_data(ctx, c))
    return finish(
        ctx, Response(body, media_type="application/json", headers=_attachment(f"shared-value-{cid}.json"))
    )


def _attachment(name: str) -> dict[str, str]:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


# -- the public survey link ------------------------------------------------------------------------------
def _client(ctx: Ctx) -> str:
    ip = ctx.request.client.host if ctx.request.client else "unknown"
    # keyed, so the stored value is not an address anyone can reverse by hashing the address space
    return hmac.new(ctx.site.key, f"survey client {ip}".encode(), hashlib.sha256).hexdigest()[:32]


def _survey_or_404(ctx: Ctx, token: str) -> svs.SvSurvey:
    with ctx.site.store.session() as db:
        s = svs.survey_by_token(db, token)
        if s is None:
            raise HTTPException(
                404, "This survey link is not valid. Ask the community team for the current one."
            )
        db.expunge(s)
        return s


def _survey_page(ctx: Ctx, s: svs.SvSurvey, code: int = 200, **values: Any) -> Response:
    resp = render(
        ctx, "sv_survey.html.j2", code, title=s.title, survey=s, closed=s.closed_at is not None, **values
    )
    resp.headers["Referrer-Policy"] = "no-referrer"  # the token must not leak to links followed from here
    resp.headers["X-Robots-Tag"] = "noindex"
    return resp


@router.get("/s/{token}")
def survey_form(token: str, ctx: Ctx = CtxDep) -> Response:
    s = _survey_or_404(ctx, token)
    return _survey_page(ctx, s, 410 if s.closed_at else 200, error=None, done=False, values={})


@router.post("/s/{token}")
async def survey_answer(token: str, answer: Annotated[Answer, Form()], ctx: Ctx = CtxDep) -> Response:
    s = _survey_or_404(ctx, token)
    try:
        with ctx.site.store.session() as db:
            live = svs.survey_by_token(db, token)
            assert live is not None
            svs.answer(
                db,
                live,
                need=answer.need,
                challenges=answer.challenges,
                rating=answer.rating_value(),
                name=answer.name,
                client=_client(ctx),
            )
    except svs.Refused as r:
        return _survey_page(ctx, s, r.code, error=r.message, done=False, values=answer.model_dump())
    return _survey_page(ctx, s, 200, error=None, done=True, values={})


# -- API -------------------------------------------------------------------------------------------------
@api.get("/communities/{cid}/shared-value")
def api_canvas(cid: str, ctx: Ctx = CtxDep, method: str = "tfidf") -> Response:
    """The community's Shared Value canvas as JSON: needs, goals, reviews, decisions, sweet spot and gaps;
    ``method=semantic`` scores the suggestions with sentence embeddings when the extra is installed."""
    c = _view(ctx, cid)
    if method not in sv.METHODS:
        raise HTTPException(400, f"method is one of {', '.join(sv.METHODS)}")
    if method == "semantic" and not sv.semantic_available():
        raise HTTPException(400, "semantic matching needs the `semantic` extra on the server")
    data = export.canvas_data(ctx.site.store, c["id"], c["name"], method)
    return Response(export.to_json(data), media_type="application/json")


@api.get("/communities/{cid}/shared-value/export.html", response_class=HTMLResponse)
def api_canvas_html(cid: str, ctx: Ctx = CtxDep) -> HTMLResponse:
    """The canvas as one self-contained HTML page."""
    c = _view(ctx, cid)
    return HTMLResponse(export.render_page(_data(ctx, c)))


router.include_router(api)  # one router for app.py to include: pages and API together
