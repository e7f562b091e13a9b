"""Pages and API of the Collaboration canvas: the canvas per community and period, experiments (the
space they run in, the items linked to them, who contributed and who was only listed), value stories
and their matrix, re-measure (participants beside everyone else) and the sponsor's one-pager, as
pages under ``/c/{cid}/...`` and JSON under ``/api/c/{cid}/...``. A form and its API call build the
same model (``canvas.collaboration_input``) and go through the same service.

Who may do what: every role that sees a community's pages reads its canvas, experiments and stories;
roles that may see people (admin, manager, champion) edit them and pick experiment participants.
Edits carry the version they started from; the store merges simultaneous edits.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from covalue import privacy
from covalue.canvas import coaching, stories
from covalue.canvas import collaboration as cc
from covalue.canvas import collaboration_data as data
from covalue.canvas import collaboration_service as svc
from covalue.canvas.collaboration_input import (
    EntryEdit,
    EntryIn,
    ExperimentAction,
    ExperimentIn,
    ItemsIn,
    StoryIn,
)
from covalue.canvas.remeasure import CALM, remeasure
from covalue.store import collaboration as cs
from covalue.web.common import CtxDep, community, redirect, render_tab
from covalue.web.security import Ctx

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/c")
EDIT = "people"  # the permission that lets a role edit the canvas and see experiment participants
SUBNAV = [
    ("canvas", "Canvas"),
    ("experiments", "Experiments"),
    ("stories", "Stories"),
    ("remeasure", "Re-measure"),
    ("sponsor", "Sponsor page"),
]
M = TypeVar("M", bound=BaseModel)


# -- access and input ------------------------------------------------------------------------------
def _can_edit(ctx: Ctx, cid: str) -> bool:
    return ctx.access is not None and ctx.access.can(EDIT, cid)


def _need_edit(ctx: Ctx, cid: str) -> dict[str, Any]:
    c = community(ctx, cid)
    if not _can_edit(ctx, cid):
        raise HTTPException(403, "Your account may read this canvas but not change it.")
    return c


def _by(ctx: Ctx) -> str | None:
    return ctx.user.email if ctx.user else None


def _labels(ctx: Ctx, cid: str, ids: list[str]) -> dict[str, str]:
    return ctx.site.labels(ids, names=ctx.access is not None and ctx.access.can("names", cid))


async def _form(request: Request, model: type[M], **extra: Any) -> M:
    """The form posted, as the same model the API takes (a refusal says what is wrong, 400)."""
    form = await request.form()
    values = {k: form.getlist(k) if k in ("participants", "members") else form.get(k) for k in form}
    try:
        return model.model_validate({**values, **extra})
    except ValidationError as e:
        raise HTTPException(400, refusal(e)) from None


def refusal(e: ValidationError) -> str:
    """A validation error in plain words: the first rule broken."""
    first = e.errors()[0]
    msg = str(first.get("msg", "the form is not well filled in"))
    if first.get("type") == "missing":
        return f"{'.'.join(str(x) for x in first.get('loc', ()))} is missing"
    return msg.removeprefix("Value error, ")


def _run(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except svc.Refused as r:
        raise HTTPException(r.status, r.message) from None


# -- pages -----------------------------------------------------------------------------------------
def _page(ctx: Ctx, cid: str, sub: str, template: str, **values: Any) -> Response:
    c = community(ctx, cid)
    return render_tab(
        ctx,
        c,
        template,
        "canvas",
        dict(SUBNAV)[sub],
        sub=sub,
        subnav=SUBNAV,
        can_edit=_can_edit(ctx, cid),
        specs=None,
        **values,
    )


def _questions(ctx: Ctx, c: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    stage = coaching.community_stage(c.get("mix"))
    shape = ((c.get("health") or {}).get("shape") or {}).get("shape")
    return stage, shape, coaching.questions_for(stage, shape, model=coaching.bank(ctx.site.ws.settings.model))


@pages.get("/c/{cid}/canvas")
def canvas_page(
    cid: str, ctx: Ctx = CtxDep, period: str | None = None, merged: str | None = None
) -> Response:
    c = community(ctx, cid)
    period = period or c["period"]
    can_edit = _can_edit(ctx, cid)
    with ctx.site.store.session() as db:
        entries = data.load_entries(db, cid, period)
        goals = data.goal_options(db, cid)
        periods = data.entry_periods(db, cid)
        # what members suggested from their own pages: the team decides what goes on the canvas
        suggested = [r for r in cs.member_requests(db, cid) if r["kind"] == "opportunity"] if can_edit else []
    stage, shape, questions = _questions(ctx, c)
    taken = {e["member_id"] for e in entries if e["section"] == "roles"}
    suggestions = [s for s in cc.role_suggestions(c) if s["member_id"] not in taken] if can_edit else []
    ids = [e["member_id"] for e in entries if e["member_id"]] + [s["member_id"] for s in suggestions]
    ids += [r["member_id"] for r in suggested if r["member_id"]]
    labels = _labels(ctx, cid, ids) if can_edit else {m: privacy.pseudonym(m) for m in ids}
    return _page(
        ctx,
        cid,
        "canvas",
        "cc_canvas.html.j2",
        period=period,
        periods=sorted(set(periods) | {c["period"]}),
        sections=cc.SECTIONS,
        kind_words=cc.KIND_WORDS,
        entries=entries,
        evidence=cc.evidence(c),
        questions=questions,
        stage=stage,
        shape=shape,
        goals=goals,
        member_suggestions=suggested,
        goal_text={g["link"]: g["text"] for g in goals},
        suggestions=suggestions,
        labels=labels,
        merged=merged,
    )


@pages.post("/c/{cid}/canvas/entries")
async def add_entry(cid: str, request: Request, ctx: Ctx = CtxDep) -> Response:
    c = _need_edit(ctx, cid)
    body = await _form(request, EntryIn)
    e = _run(svc.add_entry, ctx.site, cid, body, c["period"], _by(ctx))
    return redirect(ctx, f"/c/{cid}/canvas?period={e['period']}#{e['section']}")


@pages.post("/c/{cid}/canvas/entries/{eid}")
async def edit_entry(cid: str, eid: int, request: Request, ctx: Ctx = CtxDep) -> Response:
    _need_edit(ctx, cid)
    form = await request.form()
    if form.get("action") == "delete":
        changes: dict[str, Any] = {"deleted": True}
    elif form.get("action") == "confirm":
        changes = {"confirmed": True}
    else:
        changes = {k: str(form[k] or "").strip() for k in ("text", "detail", "link", "owner") if k in form}
    try:
        edit = EntryEdit(version=form.get("version") or 0, changes=changes)  # type: ignore[arg-type]
    except ValidationError as err:
        raise HTTPException(400, refusal(err)) from None
    e = _run(svc.edit_entry, ctx.site, cid, eid, edit, _by(ctx))
    flag = f"&merged={eid}" if e["merged_conflicts"] else ""
    return redirect(ctx, f"/c/{cid}/canvas?period={e['period']}{flag}#{e['section']}")


def _history(ctx: Ctx, cid: str, eid: int, *, seconds: bool) -> list[dict[str, Any]]:
    community(ctx, cid)
    with ctx.site.store.session() as db:
        if data.entry_of(db, cid, eid) is None:
            raise HTTPException(404, "There is no such entry on this canvas.")
        return data.entry_history(db, eid, seconds=seconds)


@pages.get("/c/{cid}/canvas/entries/{eid}/history")
def entry_history(cid: str, eid: int, ctx: Ctx = CtxDep) -> Response:
    revs = _history(ctx, cid, eid, seconds=True)
    return _page(
        ctx, cid, "canvas", "cc_history.html.j2", revisions=revs, entry_id=eid, kind_words=cc.KIND_WORDS
    )


@pages.get("/c/{cid}/experiments")
def experiments_page(cid: str, ctx: Ctx = CtxDep, analysed: str | None = None) -> Response:
    community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = data.load_experiments(db, cid)
        entries = [
            e for e in data.load_entries(db, cid, None) if e["kind"] in ("opportunity", "action", "goal")
        ]
        joins = [r for r in cs.member_requests(db, cid) if r["kind"] == "join"]
    asked: dict[int, list[str]] = {}
    people: list[dict[str, Any]] = []
    stage_now: dict[str, str] = {}
    labels: dict[str, str] = {}
    contributed: dict[int, list[str]] = {}
    if _can_edit(ctx, cid):
        names = ctx.access is not None and ctx.access.can("names", cid)
        people = [p for p in ctx.site.people(cid, names=names) if p["stage"] != "observer"]
        stage_now = svc.member_stages(ctx.site, cid)
        labels = _labels(ctx, cid, sorted({m for e in exps for m in e["participants"]}))
        contributed = {k: sorted(v) for k, v in svc.contributors(ctx.site, cid, exps).items()}
        # members who asked to join from their own pages, not yet on the list
        for r in joins:
            on = next((e["participants"] for e in exps if e["id"] == r["experiment_id"]), [])
            if r["member_id"] and r["member_id"] not in on:
                asked.setdefault(r["experiment_id"], []).append(r["member_id"])
        labels.update(_labels(ctx, cid, sorted({m for ms in asked.values() for m in ms})))
    spaces = svc.community_spaces(ctx.site, cid)
    start, end = svc.default_dates()
    return _page(
        ctx,
        cid,
        "experiments",
        "cc_experiments.html.j2",
        experiments=exps,
        entries=entries,
        people=people,
        stage_now=stage_now,
        labels=labels,
        contributed=contributed,
        asked_to_join=asked,
        spaces=spaces,
        space_name={sp["space_id"]: sp["name"] for sp in spaces},
        targets=cc.TARGETS,
        default_start=start.isoformat(),
        default_end=end.isoformat(),
        analysed=analysed,
    )


@pages.post("/c/{cid}/experiments")
async def add_experiment(cid: str, request: Request, ctx: Ctx = CtxDep) -> Response:
    _need_edit(ctx, cid)
    exp = _run(svc.new_experiment, ctx.site, cid, await _form(request, ExperimentIn), _by(ctx))
    return redirect(ctx, f"/c/{cid}/experiments#exp-{exp['id']}")


@pages.post("/c/{cid}/experiments/{xid}/items")
async def add_experiment_items(cid: str, xid: int, request: Request, ctx: Ctx = CtxDep) -> Response:
    _need_edit(ctx, cid)
    _run(svc.add_items, ctx.site, cid, xid, (await _form(request, ItemsIn)).items, _by(ctx))
    return redirect(ctx, f"/c/{cid}/experiments#exp-{xid}")


@pages.post("/c/{cid}/experiments/{xid}")
async def edit_experiment(cid: str, xid: int, request: Request, ctx: Ctx = CtxDep) -> Response:
    _need_edit(ctx, cid)
    _run(svc.change_experiment, ctx.site, cid, xid, await _form(request, ExperimentAction), _by(ctx))
    return redirect(ctx, f"/c/{cid}/experiments#exp-{xid}")


@pages.post("/c/{cid}/analyse")
def analyse(cid: str, ctx: Ctx = CtxDep) -> Response:
    _need_edit(ctx, cid)
    ctx.site.analyse(cid)  # in the server's one writer, joined with one already queued for cid
    return redirect(ctx, f"/c/{cid}/experiments?analysed=1")


def _story_goals(db: Any, cid: str) -> list[dict[str, Any]]:
    return data.goal_options(db, cid) + data.community_goals(db, cid)


@pages.get("/c/{cid}/stories")
def stories_page(cid: str, ctx: Ctx = CtxDep, experiment: int | None = None) -> Response:
    return _stories(ctx, cid, experiment)


def _stories(
    ctx: Ctx,
    cid: str,
    experiment: int | None = None,
    draft: dict[str, Any] | None = None,
    error: str | None = None,
) -> Response:
    """The stories page; ``draft`` refills the form with what was typed when it was refused."""
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        rows = data.load_stories(db, cid)
        exps = data.load_experiments(db, cid)
        goals = _story_goals(db, cid)
    return _page(
        ctx,
        cid,
        "stories",
        "cc_stories.html.j2",
        stories=rows,
        experiments=exps,
        goals=goals,
        goal_text={g["link"]: g["text"] for g in goals},
        exp_title={e["id"]: e["title"] for e in exps},
        cycles=stories.CYCLES,
        cycle_words=stories.CYCLE_WORDS,
        prompts=stories.PROMPTS,
        matrix=stories.matrix(rows, c),
        chosen_experiment=experiment,
        draft=draft or {},
        error=error,
    )


@pages.post("/c/{cid}/stories")
async def add_story(cid: str, request: Request, ctx: Ctx = CtxDep) -> Response:
    _need_edit(ctx, cid)
    form = await request.form()
    try:
        s = _run(svc.add_story, ctx.site, cid, await _form(request, StoryIn), _by(ctx))
    except HTTPException as e:
        # a wrong item id must not cost the story: the form comes back as typed, the error names the id
        draft: dict[str, Any] = {k: str(form.get(k) or "") for k in form if k != "csrf_token"}
        draft["members"] = [str(m) for m in form.getlist("members")]
        chosen = int(draft["experiment_id"]) if draft.get("experiment_id", "").isdigit() else None
        page = _stories(ctx, cid, chosen, draft=draft, error=str(e.detail))
        page.status_code = e.status_code
        return page
    return redirect(ctx, f"/c/{cid}/stories#story-{s['id']}")


@pages.get("/c/{cid}/remeasure")
def remeasure_page(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = data.load_experiments(db, cid)
    rows = remeasure(ctx.site, cid, c, exps, see_people=_can_edit(ctx, cid))
    return _page(ctx, cid, "remeasure", "cc_remeasure.html.j2", rows=rows, calm=CALM)


@pages.get("/c/{cid}/sponsor")
def sponsor_page(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        view = data.sponsor_view(db, cid, c)
    return _page(ctx, cid, "sponsor", "cc_sponsor.html.j2", one=view, cycle_words=stories.CYCLE_WORDS)


# -- JSON API --------------------------------------------------------------------------------------
@api.get("/{cid}/canvas")
def api_canvas(cid: str, ctx: Ctx = CtxDep, period: str | None = None) -> dict[str, Any]:
    c = community(ctx, cid)
    period = period or c["period"]
    with ctx.site.store.session() as db:
        entries = data.load_entries(db, cid, period)
        goals = data.goal_options(db, cid)
    stage, shape, qs = _questions(ctx, c)
    evidence = cc.evidence(c)
    return {
        "community_id": cid,
        "period": period,
        "stage": stage,
        "shape": shape,
        "sections": [
            {
                **s,
                "evidence": evidence[s["key"]],
                "questions": [q["text"] for q in qs.get(s["key"], [])],
                "entries": [e for e in entries if e["section"] == s["key"]],
            }
            for s in cc.SECTIONS
        ],
        "strategic_goals": goals,
        "role_suggestions": cc.role_suggestions(c) if _can_edit(ctx, cid) else [],
    }


@api.post("/{cid}/canvas/entries", status_code=201)
def api_add_entry(cid: str, body: EntryIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    c = _need_edit(ctx, cid)
    return _run(svc.add_entry, ctx.site, cid, body, c["period"], _by(ctx))


@api.patch("/{cid}/canvas/entries/{eid}")
def api_edit_entry(cid: str, eid: int, body: EntryEdit, ctx: Ctx = CtxDep) -> dict[str, Any]:
    _need_edit(ctx, cid)
    return _run(svc.edit_entry, ctx.site, cid, eid, body, _by(ctx))


@api.get("/{cid}/canvas/entries/{eid}/history")
def api_entry_history(cid: str, eid: int, ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    return _history(ctx, cid, eid, seconds=False)


@api.get("/{cid}/experiments")
def api_experiments(cid: str, ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = data.load_experiments(db, cid)
    if not _can_edit(ctx, cid):  # participants are person-level
        for e in exps:
            e["participants"] = len(e["participants"])
    return exps


@api.post("/{cid}/experiments", status_code=201)
def api_add_experiment(cid: str, body: ExperimentIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    _need_edit(ctx, cid)
    return _run(svc.new_experiment, ctx.site, cid, body, _by(ctx))


@api.post("/{cid}/experiments/{xid}/items")
def api_experiment_items(cid: str, xid: int, body: ItemsIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    _need_edit(ctx, cid)
    return _run(svc.add_items, ctx.site, cid, xid, body.items, _by(ctx))


@api.post("/{cid}/experiments/{xid}")
def api_experiment_action(cid: str, xid: int, body: ExperimentAction, ctx: Ctx = CtxDep) -> dict[str, Any]:
    _need_edit(ctx, cid)
    return _run(svc.change_experiment, ctx.site, cid, xid, body, _by(ctx))


@api.post("/{cid}/analyse")
def api_analyse(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    _need_edit(ctx, cid)
    return ctx.site.analyse(cid)  # in the server's one writer, joined with one already queued for cid


@api.get("/{cid}/items/search")
def api_search_items(cid: str, q: str = "", ctx: Ctx = CtxDep) -> dict[str, Any]:
    """Posts of the community found by their words, for the pickers of the story and experiment forms
    (those who may write the canvas only: the texts are the members' own)."""
    community(ctx, cid)
    _need_edit(ctx, cid)
    return {"items": svc.search_items(ctx.site, cid, q[:200])}


@api.get("/{cid}/stories")
def api_stories(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        rows = data.load_stories(db, cid)
    if not _can_edit(ctx, cid):
        for s in rows:
            s["members"] = len(s["members"])
    return {"stories": rows, "matrix": stories.matrix(rows, c)}


@api.post("/{cid}/stories", status_code=201)
def api_add_story(cid: str, body: StoryIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    _need_edit(ctx, cid)
    return _run(svc.add_story, ctx.site, cid, body, _by(ctx))


@api.get("/{cid}/remeasure")
def api_remeasure(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = data.load_experiments(db, cid)
    rows = remeasure(ctx.site, cid, c, exps, see_people=_can_edit(ctx, cid))
    for e in exps:  # the groups are measured from the list; the answer carries only its size
        e["participants"] = len(e["participants"])
    return {"note": CALM, "experiments": rows}


@api.get("/{cid}/sponsor")
def api_sponsor(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        return data.counted(data.sponsor_view(db, cid, c))


router = APIRouter()
router.include_router(pages)
router.include_router(api)
