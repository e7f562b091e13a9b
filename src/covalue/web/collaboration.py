"""The Collaboration canvas in the web app (issue 9): the canvas per community and period, experiments
(with the space they run in and the items linked to them, so the analysis can tell a participant who
contributed from one who was only listed), value stories and their matrix, the re-measure view
(participants beside everyone else) and the sponsor's one-pager, as pages and under ``/api/c/{cid}/...``.

Who may do what: every role that sees a community's pages reads its canvas, experiments and stories;
roles that may see people (admin, manager, champion) edit them and pick experiment participants.
Edits carry the version they started from; the store merges simultaneous edits (store.collaboration).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from covalue import analysis, diagnosis, privacy
from covalue.canvas import coaching, stories
from covalue.canvas import collaboration as cc
from covalue.metrics import health as hm
from covalue.metrics.maturity import STAGES, period_index, periods_table
from covalue.report.build import Section, register_section
from covalue.report.coaching import hours, pct
from covalue.store import ENV_URL, STORE_FILE, Store, utcnow
from covalue.store import collaboration as cs
from covalue.web.common import CtxDep, community, render
from covalue.web.pages import _tabs
from covalue.web.security import Ctx, check_csrf, finish

log = logging.getLogger(__name__)
pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/c")
router = APIRouter()
EDIT = "people"  # the permission that lets a role edit the canvas and see experiment participants
SUBNAV = [
    ("canvas", "Canvas"),
    ("experiments", "Experiments"),
    ("stories", "Stories"),
    ("remeasure", "Re-measure"),
    ("sponsor", "Sponsor page"),
]
CALM = (
    "These figures were measured before and after the experiment's window. They show what changed "
    "alongside it, not what it caused: other things happened in the same months, and a small group "
    "moves a lot by chance."
)


# -- reading the store -------------------------------------------------------------------------------
def _sv_goals(db: Session, cid: str) -> list[dict[str, Any]]:
    """The organisation's goals from the Shared Value canvas, when that canvas exists."""
    try:
        from covalue.store.shared_value import SvGoal
    except ImportError:
        return []
    try:
        rows = db.scalars(
            select(SvGoal).where(SvGoal.community_id == cid, SvGoal.active.is_(True)).order_by(SvGoal.id)
        )
        return [
            {"link": f"sv:{g.id}", "text": g.text, "driver": g.driver, "origin": "Shared Value canvas"}
            for g in rows
        ]
    except Exception as e:  # the other canvas's tables missing or changed: its goals are left out, named
        log.warning("collaboration: Shared Value goals unreadable: %s", e)
        db.rollback()
        return []


def _shared_value(db: Session, cid: str) -> list[str]:
    """The confirmed need–goal matches of the Shared Value canvas, as sentences (the sweet spot)."""
    try:
        from covalue.store.shared_value import SvGoal, SvMatchReview, SvNeed
    except ImportError:
        return []
    try:
        reviews = db.scalars(
            select(SvMatchReview)
            .where(SvMatchReview.community_id == cid)
            .order_by(SvMatchReview.at, SvMatchReview.id)
        )
        latest: dict[tuple[int, int], str] = {}
        for r in reviews:
            latest[(r.need_id, r.goal_id)] = r.verdict
        out = []
        for (need_id, goal_id), verdict in latest.items():
            if verdict != "confirmed":
                continue
            need, goal = db.get(SvNeed, need_id), db.get(SvGoal, goal_id)
            if need and goal:
                out.append(f"{need.text} ↔ {goal.text}")
        return out
    except Exception as e:
        log.warning("collaboration: Shared Value matches unreadable: %s", e)
        db.rollback()
        return []


def _entry_dict(e: cs.CcEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "period": e.period,
        "version": e.version,
        **cs.state(e, cc.ENTRY_FIELDS),
        "updated_at": e.updated_at.isoformat(timespec="seconds"),
        "created_by": e.created_by,
    }


def _exp_dict(e: cs.CcExperiment, members: list[str], items: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": e.id,
        "community_id": e.community_id,
        "version": e.version,
        **cs.state(e, cc.EXPERIMENT_FIELDS),
        "participants": members,
        "items": list(items or []),
        "completed_at": e.completed_at.isoformat(timespec="seconds") if e.completed_at else None,
        "created_at": e.created_at.isoformat(timespec="seconds") if e.created_at else None,
        "created_by": e.created_by,
    }


def _story_dict(s: cs.CcStory) -> dict[str, Any]:
    d = {"id": s.id, "community_id": s.community_id, "version": s.version, **cs.state(s, cc.STORY_FIELDS)}
    d["items"] = list(s.items or [])
    d["members"] = list(s.members or [])
    d["cycles"] = stories.cycles_of(d)
    d["created_by"] = s.created_by
    d["created_at"] = s.created_at.isoformat(timespec="seconds")
    return d


def load_entries(db: Session, cid: str, period: str | None) -> list[dict[str, Any]]:
    q = select(cs.CcEntry).where(cs.CcEntry.community_id == cid, cs.CcEntry.deleted.is_(False))
    if period:
        q = q.where(cs.CcEntry.period == period)
    return [_entry_dict(e) for e in db.scalars(q.order_by(cs.CcEntry.id))]


def load_experiments(db: Session, cid: str) -> list[dict[str, Any]]:
    exps = list(
        db.scalars(
            select(cs.CcExperiment).where(cs.CcExperiment.community_id == cid).order_by(cs.CcExperiment.id)
        )
    )
    ids = [e.id for e in exps]
    parts: dict[int, list[str]] = {}
    if ids:
        for p in db.scalars(
            select(cs.CcParticipant)
            .where(cs.CcParticipant.experiment_id.in_(ids))
            .order_by(cs.CcParticipant.member_id)
        ):
            parts.setdefault(p.experiment_id, []).append(p.member_id)
    items = cs.linked_items(db, ids)
    return [_exp_dict(e, parts.get(e.id, []), items.get(e.id, [])) for e in exps]


def load_stories(db: Session, cid: str) -> list[dict[str, Any]]:
    rows = db.scalars(select(cs.CcStory).where(cs.CcStory.community_id == cid).order_by(cs.CcStory.id))
    return [_story_dict(s) for s in rows]


def goal_options(db: Session, cid: str) -> list[dict[str, Any]]:
    """Strategic goals a community goal or story may link to: the Shared Value canvas's organisation
    goals and the strategic goals typed on this canvas (any period)."""
    typed = [
        {"link": f"cc:{e['id']}", "text": e["text"], "driver": "", "origin": "typed on this canvas"}
        for e in load_entries(db, cid, None)
        if e["kind"] == "strategic"
    ]
    return _sv_goals(db, cid) + typed


# -- the workspace side --------------------------------------------------------------------------------
def sync_and_analyse(site: Any, *, rerun: bool) -> dict[str, Any]:
    """Write completed experiments' participants and linked items to the workspace and, when
    ``rerun``, analyse again and rebuild the pages' snapshot. Runs under the site's workspace lock
    (DuckDB's one writer)."""
    with site.store.session() as db:
        rows, items = cs.workspace_rows(db)
    with site.lock:
        out: dict[str, Any] = dict(cs.write_rows(site.ws, rows, items))
        if rerun:
            res = analysis.analyze(site.ws)
            out["analysis_id"] = res.analysis_id
            out["seconds"] = round(res.total_seconds, 1)
    if rerun:
        site.refresh()
    return out


def member_stages(site: Any, cid: str) -> dict[str, str]:
    """Each member's stage at the community's latest analysed month."""
    return {r["member_id"]: r["stage"] for r in site.people(cid, names=False)}


#: figures re-measure shows for both groups, in their default order: key, label, how it reads
MEASURES: list[tuple[str, str]] = [
    ("active", "Active members"),
    ("solve_plus", "At Solve or beyond (share of the active)"),
    *[(f"stage:{st}", f"At {st.title()} (share of the active)") for st in STAGES],
    ("response_rate", "Threads they opened that got a response"),
    ("ttfr", "Median time to first reply on their threads"),
    ("answered", "Their questions answered by another member"),
]
_LABELS = dict(MEASURES)
#: what an experiment's own "measures to watch" may name, most specific first (a phrase matched is
#: blanked out, so "time to first answer" does not also read as "questions answered")
WATCH_WORDS: list[tuple[str, str]] = [
    (
        "ttfr",
        r"time\s+to\s+(?:the\s+)?first\s+(?:response|reply|answer)|first[- ]response\s+time|"
        r"response\s+times?|reply\s+times?|\bttfr\b|\bwait(?:ing)?\b|d[ée]lai",
    ),
    (
        "response_rate",
        r"response\s+rate|reply\s+rate|\bresponded\b|got\s+a\s+(?:response|reply)|taux\s+de\s+r[ée]ponse",
    ),
    ("answered", r"questions?\s+answered|\bunanswered\b|\banswered\b|answer\s+rate|r[ée]solu"),
    ("active", r"active\s+members?|\bactive\b|\bparticipation\b|membres\s+actifs"),
    ("solve_plus", r"solve\s+or\s+beyond|solve\s*\+"),
    # a stage by name only where it reads as one ("at Solve", "reach Innovate", "the Share stage"):
    # "share" and "connect" are ordinary words too
    *[
        (f"stage:{st}", rf"\b(?:at|reach\w*|into|stage)\s+{st}\b|\b{st}\s+(?:stage|level)\b")
        for st in ("innovate", "solve", "share", "connect", "observer")
    ],
]


def watched(text: str) -> list[str]:
    """The figures an experiment's "measures to watch" names, in the order the text names them."""
    low = (text or "").lower()
    found: list[tuple[int, str]] = []
    for key, pattern in WATCH_WORDS:
        for m in re.finditer(pattern, low):
            found.append((m.start(), key))
            low = low[: m.start()] + " " * (m.end() - m.start()) + low[m.end() :]
    seen: dict[str, None] = {}
    for _pos, key in sorted(found):
        seen.setdefault(key, None)
    return list(seen)


def remeasure(
    site: Any, cid: str, c: dict[str, Any], exps: list[dict[str, Any]], *, see_people: bool = False
) -> list[dict[str, Any]]:
    """Per experiment with dates: the month before it started and the month it ended (or the first
    measured since), the community as a whole (stage mix, shape, response rate) and its participants
    beside everyone else, with the figures its own "measures to watch" names first. A group of
    participants too small to hide a person is shown only to ``see_people`` viewers."""
    hist = {m["period"]: m for m in c.get("mix_history") or []}
    periods = sorted(hist)
    out = []
    for e in exps:
        start, end = e.get("starts_on"), e.get("ends_on")
        watch = watched(e.get("measures") or "")
        row: dict[str, Any] = {
            "experiment": e,
            "before": None,
            "after": None,
            "note": None,
            "watched": watch,
            "unread": bool((e.get("measures") or "").strip()) and not watch,
            "measures": [],
            "group_note": None,
            "window_days": None,
        }
        if not start or not periods:
            row["note"] = "Give the experiment a start date to compare before and after."
            out.append(row)
            continue
        s_month = start[:7]
        before = [p for p in periods if p < s_month]
        e_month = (end or start)[:7]
        after = [p for p in periods if p >= e_month] or []
        if not before:
            row["note"] = "No month was measured before this experiment started."
        if not after:
            row["note"] = "No month has been measured since this experiment ended; upload newer data."
        sides = {"before": before[-1] if before else None, "after": after[0] if after else None}
        for key, p in sides.items():
            if p is None:
                continue
            row[key] = {"period": p, "mix": hist[p], **_health_at(site, cid, p)}
        members = e.get("participants")
        if isinstance(members, list) and members and not see_people and privacy.small(len(members), site.ws):
            row["group_note"] = (
                f"Fewer than {site.ws.settings.privacy.min_group_size} participants: their own figures "
                "are shown only to people who may see members."
            )
        elif isinstance(members, list) and any(sides.values()):
            figs = _group_figures(site, cid, [p for p in sides.values() if p], set(members))
            row["window_days"] = figs.pop("window_days", None)
            if figs:
                row["measures"] = _measure_rows(figs, sides, watch, len(members))
        out.append(row)
    return out


def _group_figures(site: Any, cid: str, periods: list[str], members: set[str]) -> dict[str, Any]:
    """For each period and group (``participants``, ``others``): members present, active, at each
    stage, and the threads they opened in the window: how many, how many got a response or a reply,
    the median hours to the first reply, questions and questions answered (health's definitions)."""
    out: dict[str, Any] = {}
    wanted = sorted({period_index(p) for p in periods})
    try:
        with site.lock:
            ws = site.ws
            days = int(diagnosis.model(ws)["window"]["days"])
            out["window_days"] = days
            ms = analysis.derived(ws, "member_stages", run_if_missing=False)
            ms = ms.filter((ms.community_id == cid) & ms.period.isin(periods))
            people = ms.select("member_id", "period", "stage", "n_interactions").to_pyarrow().to_pylist()
            pt = pa.concat_tables([periods_table(p, p, days) for p in wanted])
            facts = analysis.derived(ws, "item_facts", run_if_missing=False)
            facts = facts.filter(facts.community_id == cid)
            edges = analysis.derived(ws, "interactions", run_if_missing=False)
            ids = sorted(members) or ["\x00"]
            threads = {}
            for group, sel in (
                ("participants", facts.author_member.isin(ids)),
                ("others", ~facts.author_member.isin(ids)),
            ):
                r = hm.responsiveness(facts.filter(sel), edges, ibis.memtable(pt), days)
                threads[group] = {x["pidx"]: x for x in r.to_pyarrow().to_pylist()}
    except Exception as e:  # a workspace without results: the groups are left out, said in the log
        log.warning("collaboration: participants/others of %s unreadable: %s", cid, e)
        return {}
    for p in periods:
        pidx = period_index(p)
        for group in ("participants", "others"):
            rows = [
                r
                for r in people
                if r["period"] == p and (r["member_id"] in members) == (group == "participants")
            ]
            active = [r for r in rows if (r["n_interactions"] or 0) > 0]
            f: dict[str, Any] = {
                "present": len(members) if group == "participants" else len(rows),
                "active": len(active),
                **{st: sum(1 for r in active if r["stage"] == st) for st in STAGES},
            }
            f["solve_plus"] = f["solve"] + f["innovate"]
            t = threads[group].get(pidx) or {}
            for k in ("originals", "responded", "questions", "answered", "ttfr_median_h"):
                f[k] = t.get(k)
            out.setdefault(p, {})[group] = f
    return out


def _pct(num: Any, den: Any) -> tuple[float | None, str]:
    if not den:
        return None, "–"
    v = float(num or 0) / float(den)
    return v, f"{pct(v)} ({int(num or 0)} of {int(den)})"


def _measure_value(key: str, f: dict[str, Any] | None, listed: int) -> dict[str, Any]:
    """One figure of one group in one month, as a number (for the API) and as text (for the page)."""
    if not f:
        return {"value": None, "text": "–"}
    if key == "active":
        of = f" of {listed} listed" if listed else ""
        return {"value": f["active"], "text": f"{f['active']}{of}" if of else str(f["active"])}
    if key == "solve_plus" or key.startswith("stage:"):
        st = key.split(":", 1)[1] if ":" in key else "solve_plus"
        v, text = _pct(f[st], f["active"])
        return {"value": v, "count": f[st], "text": text}
    if key == "response_rate":
        v, text = _pct(f["responded"], f["originals"])
        return {"value": v, "text": text}
    if key == "answered":
        v, text = _pct(f["answered"], f["questions"])
        return {"value": v, "text": text}
    if key == "ttfr":
        h = f.get("ttfr_median_h")
        return {"value": h, "text": hours(h)}
    raise KeyError(key)


def _measure_rows(
    figs: dict[str, Any], sides: dict[str, str | None], watch: list[str], listed: int
) -> list[dict[str, Any]]:
    """The figures in the order to show them: the ones the experiment watches first, then the rest."""
    order = [*watch, *[k for k, _ in MEASURES if k not in watch]]
    rows = []
    for key in order:
        row: dict[str, Any] = {"key": key, "label": _LABELS[key], "watched": key in watch}
        for group in ("participants", "others"):
            row[group] = {
                side: _measure_value(
                    key,
                    (figs.get(p) or {}).get(group) if p else None,
                    listed if group == "participants" else 0,
                )
                for side, p in sides.items()
            }
        rows.append(row)
    return rows


def _health_at(site: Any, cid: str, period: str) -> dict[str, Any]:
    try:
        with site.lock:
            h = diagnosis.health(site.ws, community=cid, period=period).get(cid) or {}
    except Exception as e:  # a month the health model cannot judge shows without health
        log.warning("collaboration: health of %s at %s failed: %s", cid, period, e)
        return {"shape": None, "response_rate": None}
    return {
        "shape": (h.get("shape") or {}).get("shape"),
        "response_rate": (h.get("responsiveness") or {}).get("response_rate"),
    }


def sponsor_view(db: Session, cid: str, c: dict[str, Any] | None) -> dict[str, Any]:
    goals = goal_options(db, cid)
    goals += [
        {"link": f"cc:{e['id']}", "text": e["text"], "driver": "", "origin": "community goal"}
        for e in load_entries(db, cid, None)
        if e["kind"] == "goal"
    ]
    return stories.one_pager(
        c,
        goals=goals,
        shared_value=_shared_value(db, cid),
        stories=load_stories(db, cid),
        experiments=load_experiments(db, cid),
    )


# -- pages ---------------------------------------------------------------------------------------------
def _can_edit(ctx: Ctx, cid: str) -> bool:
    return ctx.access is not None and ctx.access.can(EDIT, cid)


def _labels(ctx: Ctx, cid: str, ids: list[str]) -> dict[str, str]:
    names = ctx.access is not None and ctx.access.can("names", cid)
    return ctx.site.labels(ids, names=names)


def _page(ctx: Ctx, cid: str, sub: str, template: str, **values: Any) -> Response:
    c = community(ctx, cid)
    return render(
        ctx,
        template,
        title=f"{c['name']} · {dict(SUBNAV)[sub]}",
        nav="portfolio",
        c=c,
        tab="canvas",
        tabs=_tabs(ctx, cid),
        sub=sub,
        subnav=SUBNAV,
        can_edit=_can_edit(ctx, cid),
        specs=None,
        **values,
    )


def _back(ctx: Ctx, url: str) -> Response:
    return finish(ctx, RedirectResponse(url, status_code=303))


def _need_edit(ctx: Ctx, cid: str) -> None:
    community(ctx, cid)
    if not _can_edit(ctx, cid):
        raise HTTPException(403, "Your account may read this canvas but not change it.")


@pages.get("/c/{cid}/canvas")
def canvas_page(
    cid: str, ctx: Ctx = CtxDep, period: str | None = None, merged: str | None = None
) -> Response:
    c = community(ctx, cid)
    period = period or c["period"]
    with ctx.site.store.session() as db:
        entries = load_entries(db, cid, period)
        goals = goal_options(db, cid)
        periods = sorted(
            {e.period for e in db.scalars(select(cs.CcEntry).where(cs.CcEntry.community_id == cid))}
        )
    stage = coaching.community_stage(c.get("mix"))
    shape = ((c.get("health") or {}).get("shape") or {}).get("shape")
    model = coaching.bank(ctx.site.ws.settings.model)
    questions = coaching.questions_for(stage, shape, model=model)
    can_edit = _can_edit(ctx, cid)
    taken = {e["member_id"] for e in entries if e["section"] == "roles"}
    suggestions = [s for s in cc.role_suggestions(c) if s["member_id"] not in taken] if can_edit else []
    ids = [e["member_id"] for e in entries if e["member_id"]] + [s["member_id"] for s in suggestions]
    labels = _labels(ctx, cid, ids) if can_edit else {m: privacy.pseudonym(m) for m in ids}
    goal_text = {g["link"]: g["text"] for g in goals}
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
        goal_text=goal_text,
        suggestions=suggestions,
        labels=labels,
        merged=merged,
    )


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: form.getlist(k) if k in ("participants", "members") else form.get(k) for k in form}


@pages.post("/c/{cid}/canvas/entries")
async def add_entry(cid: str, request: Request, ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    f = await _form(request)
    kind = str(f.get("kind") or "")
    section = cc.section_of(kind)
    if section is None:
        raise HTTPException(400, f"unknown kind of entry {kind!r}")
    text = str(f.get("text") or "").strip()
    member = str(f.get("member_id") or "").strip()
    if not text and not member:
        raise HTTPException(400, "write something first: the entry is empty")
    period = str(f.get("period") or community(ctx, cid)["period"])
    with ctx.site.store.session() as db:
        cs.create(
            db,
            "entry",
            ctx.user.email if ctx.user else None,
            community_id=cid,
            period=period,
            section=section,
            kind=kind,
            text=text,
            detail=str(f.get("detail") or "").strip(),
            link=str(f.get("link") or ""),
            member_id=member,
            owner=str(f.get("owner") or "").strip(),
            confirmed=bool(f.get("confirmed")),
        )
    return _back(ctx, f"/c/{cid}/canvas?period={period}#{section}")


@pages.post("/c/{cid}/canvas/entries/{eid}")
async def edit_entry(cid: str, eid: int, request: Request, ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    f = await _form(request)
    changes: dict[str, Any] = {}
    if f.get("action") == "delete":
        changes["deleted"] = True
    elif f.get("action") == "confirm":
        changes["confirmed"] = True
    else:
        for k in ("text", "detail", "link", "owner"):
            if k in f:
                changes[k] = str(f[k] or "").strip()
    with ctx.site.store.session() as db:
        entry = db.get(cs.CcEntry, eid)
        if entry is None or entry.community_id != cid:
            raise HTTPException(404, "There is no such entry on this canvas.")
        period, section = entry.period, entry.section
        _obj, conflicts = cs.save(
            db, "entry", eid, int(f.get("version") or 0), changes, ctx.user.email if ctx.user else None
        )
    flag = f"&merged={eid}" if conflicts else ""
    return _back(ctx, f"/c/{cid}/canvas?period={period}{flag}#{section}")


@pages.get("/c/{cid}/canvas/entries/{eid}/history")
def entry_history(cid: str, eid: int, ctx: Ctx = CtxDep) -> Response:
    community(ctx, cid)
    with ctx.site.store.session() as db:
        entry = db.get(cs.CcEntry, eid)
        if entry is None or entry.community_id != cid:
            raise HTTPException(404, "There is no such entry on this canvas.")
        revs = [
            {
                "version": r.version,
                "data": r.data,
                "by": r.by_email,
                "at": r.at.isoformat(timespec="seconds"),
                "conflicts": r.conflicts,
            }
            for r in cs.history(db, "entry", eid)
        ]
    return _page(
        ctx, cid, "canvas", "cc_history.html.j2", revisions=revs, entry_id=eid, kind_words=cc.KIND_WORDS
    )


@pages.get("/c/{cid}/experiments")
def experiments_page(cid: str, ctx: Ctx = CtxDep, analysed: str | None = None) -> Response:
    community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = load_experiments(db, cid)
        entries = [e for e in load_entries(db, cid, None) if e["kind"] in ("opportunity", "action", "goal")]
    can_edit = _can_edit(ctx, cid)
    people: list[dict[str, Any]] = []
    stage_now: dict[str, str] = {}
    labels: dict[str, str] = {}
    contributed: dict[int, list[str]] = {}
    if can_edit:
        names = ctx.access is not None and ctx.access.can("names", cid)
        people = [p for p in ctx.site.people(cid, names=names) if p["stage"] != "observer"]
        stage_now = member_stages(ctx.site, cid)
        ids = sorted({m for e in exps for m in e["participants"]})
        labels = _labels(ctx, cid, ids)
        contributed = {k: sorted(v) for k, v in contributors(ctx.site, cid, exps).items()}
    spaces = community_spaces(ctx.site, cid)
    start, end = default_dates()
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
        spaces=spaces,
        space_name={sp["space_id"]: sp["name"] for sp in spaces},
        targets=cc.TARGETS,
        default_start=start.isoformat(),
        default_end=end.isoformat(),
        analysed=analysed,
    )


def default_dates(today: date | None = None) -> tuple[date, date]:
    """A new experiment runs from today for 30 days: it is something to try next, and an experiment
    dated in the past would credit what members had already done (past dates stay allowed)."""
    today = today or utcnow().date()
    return today, today + timedelta(days=30)


def community_spaces(site: Any, cid: str) -> list[dict[str, Any]]:
    """The community's spaces (channels, categories, sites) an experiment may run in."""
    with site.lock:
        rows = site.ws.raw.execute(
            "SELECT space_id, coalesce(name, space_id), kind FROM spaces WHERE community_id = ? "
            "ORDER BY lower(coalesce(name, space_id)), space_id",
            [cid],
        ).fetchall()
    return [{"space_id": r[0], "name": r[1], "kind": r[2]} for r in rows]


def contributors(site: Any, cid: str, exps: list[dict[str, Any]]) -> dict[int, set[str]]:
    """Per experiment, the participants who contributed to it: the author of an item linked to it, or
    of an item posted in its space within its dates (the same rule the analysis applies to completed
    experiments; a running one is read up to now). Everyone else on its list was only listed."""
    now = utcnow()
    windows, links = [], []
    for e in exps:
        if not e["participants"]:
            continue
        start, end = cc.window(e, now)
        if e.get("space_id") and start is not None:
            windows.append({"eid": e["id"], "space_id": e["space_id"], "ws": start, "we": end})
        links += [{"eid": e["id"], "item_id": i} for i in e.get("items") or []]
    if not windows and not links:
        return {}
    ts = pa.timestamp("us")
    win = pa.Table.from_pylist(
        windows, schema=pa.schema([("eid", pa.int64()), ("space_id", pa.string()), ("ws", ts), ("we", ts)])
    )
    lnk = pa.Table.from_pylist(links, schema=pa.schema([("eid", pa.int64()), ("item_id", pa.string())]))
    sql = """
        WITH authored AS (
            SELECT it.item_id, it.space_id, it.created_at,
                   coalesce(idn.member_id, it.author_id) AS member_id
            FROM items it LEFT JOIN identities idn ON idn.identity_id = it.author_id
            WHERE it.community_id = ? AND it.author_id IS NOT NULL
        )
        SELECT l.eid, a.member_id FROM _cc_links l JOIN authored a ON a.item_id = l.item_id
        UNION
        SELECT w.eid, a.member_id FROM _cc_windows w JOIN authored a
            ON a.space_id = w.space_id AND a.created_at >= w.ws AND (w.we IS NULL OR a.created_at <= w.we)
    """
    with site.lock:
        raw = site.ws.raw
        raw.register("_cc_windows", win)
        raw.register("_cc_links", lnk)
        try:
            found = raw.execute(sql, [cid]).fetchall()
        finally:
            raw.unregister("_cc_windows")
            raw.unregister("_cc_links")
    listed = {e["id"]: set(e["participants"]) for e in exps}
    out: dict[int, set[str]] = {}
    for eid, member in found:
        if member in listed.get(eid, ()):
            out.setdefault(int(eid), set()).add(member)
    return out


def _exp_values(f: dict[str, Any]) -> dict[str, Any]:
    vals = {
        k: str(f.get(k) or "").strip()
        for k in ("title", "hypothesis", "target", "owner", "measures", "starts_on", "ends_on")
    }
    for k in ("starts_on", "ends_on"):
        if vals[k]:
            try:
                date.fromisoformat(vals[k])
            except ValueError as e:
                raise HTTPException(400, f"{k.replace('_', ' ')} must be a date (YYYY-MM-DD)") from e
    if vals["starts_on"] and vals["ends_on"] and vals["ends_on"] < vals["starts_on"]:
        raise HTTPException(400, "the experiment cannot end before it starts")
    if vals["target"] and vals["target"] not in cc.TARGETS:
        raise HTTPException(400, f"the target must be one of {', '.join(cc.TARGETS)}")
    return vals


def _item_ids(raw: Any) -> list[str]:
    """Item ids from a form or JSON field: a list, or text with one id per line (commas allowed)."""
    parts = raw if isinstance(raw, list) else [raw or ""]
    return sorted({p.strip() for x in parts for p in str(x).replace(",", "\n").splitlines() if p.strip()})


def _known_space(ctx: Ctx, cid: str, space: str) -> str | None:
    """The space id when it is one of this community's spaces; an unknown one is refused by name."""
    space = space.strip()
    if not space:
        return None
    if space not in {sp["space_id"] for sp in community_spaces(ctx.site, cid)}:
        raise HTTPException(400, f"no such space in this community: {space}")
    return space


def _known_items(ctx: Ctx, cid: str, ids: list[str]) -> None:
    """Refuse item ids that are not contributions of this community (a typo would link nothing)."""
    if not ids:
        return
    with ctx.site.lock:
        unknown = cs.unknown_items(ctx.site.ws, cid, ids)
    if unknown:
        raise HTTPException(400, f"no such post or thread in this community: {', '.join(unknown[:5])}")


def _known_members(ctx: Ctx, cid: str, ids: list[str]) -> list[str]:
    known = set(member_stages(ctx.site, cid))
    unknown = [m for m in ids if m not in known]
    if unknown:
        raise HTTPException(400, f"not members of this community: {', '.join(unknown[:5])}")
    return sorted(set(ids))


def new_experiment(ctx: Ctx, cid: str, f: dict[str, Any]) -> dict[str, Any]:
    """Create an experiment from a form or JSON body: checked fields, its participants and linked
    items. Without a start date it starts today (dates in the past stay allowed)."""
    vals = _exp_values(f)
    if not vals["title"]:
        raise HTTPException(400, "an experiment needs a title")
    if not vals["starts_on"]:
        vals["starts_on"] = default_dates()[0].isoformat()
        if vals["ends_on"] and vals["ends_on"] < vals["starts_on"]:
            raise HTTPException(400, "the experiment cannot end before it starts (it starts today)")
    vals["space_id"] = _known_space(ctx, cid, str(f.get("space_id") or ""))
    members = _known_members(ctx, cid, [str(m) for m in f.get("participants") or [] if m])
    items = _item_ids(f.get("items"))
    _known_items(ctx, cid, items)
    entry = str(f.get("entry_id") or "")
    by = ctx.user.email if ctx.user else None
    with ctx.site.store.session() as db:
        exp = cs.create(
            db,
            "experiment",
            by,
            community_id=cid,
            status="running",
            entry_id=int(entry) if entry.isdigit() else None,
            **vals,
        )
        for m in members:
            db.add(cs.CcParticipant(experiment_id=exp.id, member_id=m, added_by=by))  # type: ignore[attr-defined]
        cs.link_items(db, exp.id, items, by)  # type: ignore[attr-defined]
        return _exp_dict(exp, members, items)  # type: ignore[arg-type]


@pages.post("/c/{cid}/experiments")
async def add_experiment(cid: str, request: Request, ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    exp = new_experiment(ctx, cid, await _form(request))
    return _back(ctx, f"/c/{cid}/experiments#exp-{exp['id']}")


def add_items(ctx: Ctx, cid: str, xid: int, raw: Any) -> dict[str, Any]:
    """Link more items to an experiment (what it produced, found after it started); a completed
    experiment's links are written to the workspace at once."""
    items = _item_ids(raw)
    if not items:
        raise HTTPException(400, "give at least one item id (one per line)")
    _known_items(ctx, cid, items)
    with ctx.site.store.session() as db:
        exp = db.get(cs.CcExperiment, xid)
        if exp is None or exp.community_id != cid:
            raise HTTPException(404, "There is no such experiment in this community.")
        new = cs.link_items(db, xid, items, ctx.user.email if ctx.user else None)
        status = exp.status
        linked = cs.linked_items(db, [xid]).get(xid, [])
    if new and status == "completed":
        sync_and_analyse(ctx.site, rerun=False)
    return {"experiment_id": xid, "added": new, "items": linked}


@pages.post("/c/{cid}/experiments/{xid}/items")
async def add_experiment_items(cid: str, xid: int, request: Request, ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    add_items(ctx, cid, xid, (await _form(request)).get("items"))
    return _back(ctx, f"/c/{cid}/experiments#exp-{xid}")


@pages.post("/c/{cid}/experiments/{xid}")
async def edit_experiment(cid: str, xid: int, request: Request, ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    f = await _form(request)
    complete_experiment(ctx, cid, xid, f)
    return _back(ctx, f"/c/{cid}/experiments#exp-{xid}")


def complete_experiment(ctx: Ctx, cid: str, xid: int, f: dict[str, Any]) -> dict[str, Any]:
    """Save an experiment's outcome and lesson and change its status (``action``: complete, reopen,
    drop, save); completing writes its participants to the workspace at once."""
    action = str(f.get("action") or "save")
    changes: dict[str, Any] = {k: str(f[k] or "").strip() for k in ("outcome", "lesson") if k in f}
    if "space_id" in f:
        changes["space_id"] = _known_space(ctx, cid, str(f["space_id"] or ""))
    status = {"complete": "completed", "reopen": "running", "drop": "dropped"}.get(action)
    if status:
        changes["status"] = status
    by = ctx.user.email if ctx.user else None
    with ctx.site.store.session() as db:
        exp = db.get(cs.CcExperiment, xid)
        if exp is None or exp.community_id != cid:
            raise HTTPException(404, "There is no such experiment in this community.")
        _obj, _ = cs.save(db, "experiment", xid, int(f.get("version") or exp.version), changes, by)
        exp = db.get(cs.CcExperiment, xid, populate_existing=True)
        assert exp is not None
        if status == "completed" and exp.completed_at is None:
            exp.completed_at = utcnow()
        elif status in ("running", "dropped"):
            exp.completed_at = None
        out = _exp_dict(exp, [], cs.linked_items(db, [xid]).get(xid, []))
    if status or "space_id" in changes:
        sync_and_analyse(ctx.site, rerun=False)
    return out


@pages.post("/c/{cid}/analyse")
async def analyse(cid: str, ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    sync_and_analyse(ctx.site, rerun=True)
    return _back(ctx, f"/c/{cid}/experiments?analysed=1")


@pages.get("/c/{cid}/stories")
def stories_page(cid: str, ctx: Ctx = CtxDep, experiment: int | None = None) -> Response:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        rows = load_stories(db, cid)
        exps = load_experiments(db, cid)
        goals = goal_options(db, cid) + [
            {"link": f"cc:{e['id']}", "text": e["text"], "origin": "community goal"}
            for e in load_entries(db, cid, None)
            if e["kind"] == "goal"
        ]
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
    )


def _story_values(f: dict[str, Any]) -> dict[str, Any]:
    vals: dict[str, Any] = {k: str(f.get(k) or "").strip() for k in ("title", *stories.CYCLES, "goal_link")}
    exp = str(f.get("experiment_id") or "")
    vals["experiment_id"] = int(exp) if exp.isdigit() else None
    for k in ("items", "members"):
        raw = f.get(k)
        parts = raw if isinstance(raw, list) else [raw or ""]
        vals[k] = sorted(
            {p.strip() for x in parts for p in str(x).replace(",", "\n").splitlines() if p.strip()}
        )
    return vals


@pages.post("/c/{cid}/stories")
async def add_story(cid: str, request: Request, ctx: Ctx = CtxDep) -> Response:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    vals = _story_values(await _form(request))
    if not vals["title"]:
        raise HTTPException(400, "a story needs a title")
    if not stories.cycles_of(vals):
        raise HTTPException(400, "tell at least one step of the story (what happened, what it gave, ...)")
    _known_items(ctx, cid, vals["items"])
    vals["members"] = _known_members(ctx, cid, vals["members"]) if vals["members"] else []
    with ctx.site.store.session() as db:
        if vals["experiment_id"] is not None:
            e = db.get(cs.CcExperiment, vals["experiment_id"])
            if e is None or e.community_id != cid:
                raise HTTPException(400, "that experiment is not in this community")
        s = cs.create(db, "story", ctx.user.email if ctx.user else None, community_id=cid, **vals)
    return _back(ctx, f"/c/{cid}/stories#story-{s.id}")  # type: ignore[attr-defined]


@pages.get("/c/{cid}/remeasure")
def remeasure_page(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = load_experiments(db, cid)
    return _page(
        ctx,
        cid,
        "remeasure",
        "cc_remeasure.html.j2",
        rows=remeasure(ctx.site, cid, c, exps, see_people=_can_edit(ctx, cid)),
        calm=CALM,
    )


@pages.get("/c/{cid}/sponsor")
def sponsor_page(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        view = sponsor_view(db, cid, c)
    return _page(ctx, cid, "sponsor", "cc_sponsor.html.j2", one=view, cycle_words=stories.CYCLE_WORDS)


# -- JSON API ------------------------------------------------------------------------------------------
class EntryIn(BaseModel):
    kind: str
    text: str = ""
    detail: str = ""
    link: str = ""
    member_id: str = ""
    owner: str = ""
    confirmed: bool = False
    period: str | None = None


class EntryEdit(BaseModel):
    version: int
    changes: dict[str, Any]


class ExperimentIn(BaseModel):
    title: str
    hypothesis: str = ""
    target: str = ""
    owner: str = ""
    starts_on: str = ""
    ends_on: str = ""
    measures: str = ""
    participants: list[str] = []
    space_id: str = ""
    items: list[str] = []
    entry_id: int | None = None


class ExperimentAction(BaseModel):
    action: str = "complete"
    outcome: str | None = None
    lesson: str | None = None
    space_id: str | None = None
    version: int | None = None


class ItemsIn(BaseModel):
    items: list[str]


class StoryIn(BaseModel):
    title: str
    immediate: str = ""
    potential: str = ""
    applied: str = ""
    realized: str = ""
    reframing: str = ""
    experiment_id: int | None = None
    goal_link: str = ""
    items: list[str] = []
    members: list[str] = []


@api.get("/{cid}/canvas")
def api_canvas(cid: str, ctx: Ctx = CtxDep, period: str | None = None) -> dict[str, Any]:
    c = community(ctx, cid)
    period = period or c["period"]
    with ctx.site.store.session() as db:
        entries = load_entries(db, cid, period)
        goals = goal_options(db, cid)
    stage = coaching.community_stage(c.get("mix"))
    shape = ((c.get("health") or {}).get("shape") or {}).get("shape")
    qs = coaching.questions_for(stage, shape, model=coaching.bank(ctx.site.ws.settings.model))
    return {
        "community_id": cid,
        "period": period,
        "stage": stage,
        "shape": shape,
        "sections": [
            {
                **s,
                "evidence": cc.evidence(c)[s["key"]],
                "questions": [q["text"] for q in qs.get(s["key"], [])],
                "entries": [e for e in entries if e["section"] == s["key"]],
            }
            for s in cc.SECTIONS
        ],
        "strategic_goals": goals,
        "role_suggestions": cc.role_suggestions(c) if _can_edit(ctx, cid) else [],
    }


@api.post("/{cid}/canvas/entries", status_code=201)
async def api_add_entry(cid: str, body: EntryIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    section = cc.section_of(body.kind)
    if section is None:
        raise HTTPException(400, f"unknown kind of entry {body.kind!r}")
    vals = body.model_dump()
    period = vals.pop("period") or community(ctx, cid)["period"]
    with ctx.site.store.session() as db:
        e = cs.create(
            db,
            "entry",
            ctx.user.email if ctx.user else None,
            community_id=cid,
            period=period,
            section=section,
            **vals,
        )
        return _entry_dict(e)  # type: ignore[arg-type]


@api.patch("/{cid}/canvas/entries/{eid}")
async def api_edit_entry(cid: str, eid: int, body: EntryEdit, ctx: Ctx = CtxDep) -> dict[str, Any]:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    bad = set(body.changes) - set(cc.ENTRY_FIELDS) | ({"section"} & set(body.changes))
    if bad:
        raise HTTPException(400, f"these fields cannot be changed: {', '.join(sorted(bad))}")
    with ctx.site.store.session() as db:
        entry = db.get(cs.CcEntry, eid)
        if entry is None or entry.community_id != cid:
            raise HTTPException(404, "There is no such entry on this canvas.")
        obj, conflicts = cs.save(
            db, "entry", eid, body.version, body.changes, ctx.user.email if ctx.user else None
        )
        return {**_entry_dict(obj), "merged_conflicts": conflicts}  # type: ignore[arg-type]


@api.get("/{cid}/canvas/entries/{eid}/history")
def api_entry_history(cid: str, eid: int, ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    community(ctx, cid)
    with ctx.site.store.session() as db:
        entry = db.get(cs.CcEntry, eid)
        if entry is None or entry.community_id != cid:
            raise HTTPException(404, "There is no such entry on this canvas.")
        return [
            {
                "version": r.version,
                "data": r.data,
                "by": r.by_email,
                "at": r.at.isoformat(),
                "conflicts": r.conflicts,
            }
            for r in cs.history(db, "entry", eid)
        ]


@api.get("/{cid}/experiments")
def api_experiments(cid: str, ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = load_experiments(db, cid)
    if not _can_edit(ctx, cid):  # participants are person-level
        for e in exps:
            e["participants"] = len(e["participants"])
    return exps


@api.post("/{cid}/experiments", status_code=201)
async def api_add_experiment(cid: str, body: ExperimentIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    return new_experiment(ctx, cid, body.model_dump())


@api.post("/{cid}/experiments/{xid}/items")
async def api_experiment_items(cid: str, xid: int, body: ItemsIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    return add_items(ctx, cid, xid, body.items)


@api.post("/{cid}/experiments/{xid}")
async def api_experiment_action(
    cid: str, xid: int, body: ExperimentAction, ctx: Ctx = CtxDep
) -> dict[str, Any]:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    if body.action not in ("complete", "reopen", "drop", "save"):
        raise HTTPException(400, "action must be complete, reopen, drop or save")
    f = {k: v for k, v in body.model_dump().items() if v is not None}
    return complete_experiment(ctx, cid, xid, f)


@api.post("/{cid}/analyse")
async def api_analyse(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    return sync_and_analyse(ctx.site, rerun=True)


@api.get("/{cid}/stories")
def api_stories(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        rows = load_stories(db, cid)
    if not _can_edit(ctx, cid):
        for s in rows:
            s["members"] = len(s["members"])
    return {"stories": rows, "matrix": stories.matrix(rows, c)}


@api.post("/{cid}/stories", status_code=201)
async def api_add_story(cid: str, body: StoryIn, ctx: Ctx = CtxDep) -> dict[str, Any]:
    await check_csrf(ctx)
    _need_edit(ctx, cid)
    vals = body.model_dump()
    if not stories.cycles_of(vals):
        raise HTTPException(400, "tell at least one step of the story")
    _known_items(ctx, cid, vals["items"])
    vals["members"] = _known_members(ctx, cid, vals["members"]) if vals["members"] else []
    with ctx.site.store.session() as db:
        if body.experiment_id is not None:
            e = db.get(cs.CcExperiment, body.experiment_id)
            if e is None or e.community_id != cid:
                raise HTTPException(400, "that experiment is not in this community")
        s = cs.create(db, "story", ctx.user.email if ctx.user else None, community_id=cid, **vals)
        return _story_dict(s)  # type: ignore[arg-type]


@api.get("/{cid}/remeasure")
def api_remeasure(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        exps = load_experiments(db, cid)
    rows = remeasure(ctx.site, cid, c, exps, see_people=_can_edit(ctx, cid))
    for e in exps:  # the groups are measured from the list; the answer carries only its size
        e["participants"] = len(e["participants"])
    return {"note": CALM, "experiments": rows}


@api.get("/{cid}/sponsor")
def api_sponsor(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    c = community(ctx, cid)
    with ctx.site.store.session() as db:
        view = sponsor_view(db, cid, c)
    for e in view["experiments"]:
        e["participants"] = len(e["participants"])
    for s in view["stories"]:
        s["members"] = len(s["members"])
    return view


router.include_router(pages)
router.include_router(api)


# -- the report section --------------------------------------------------------------------------------
@functools.cache
def _report_env() -> Environment:
    return Environment(
        loader=PackageLoader("covalue.web", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@register_section
def report_section(ws: Any, c: dict[str, Any]) -> Section | None:
    """The sponsor's one-pager in the report: goals, shared value, experiments, stories, movement.
    Left out when the workspace has no store or nothing was entered for this community."""
    if ws is None:
        return None
    if not os.environ.get(ENV_URL) and not (Path(ws.path) / STORE_FILE).exists():
        return None  # nobody has used the web app on this workspace: nothing was entered
    store = Store.open(ws.path, migrate=False)
    try:
        with store.session() as db:
            try:
                view = sponsor_view(db, c["id"], c)
            except Exception as e:  # a store from before the canvas existed has no tables for it
                log.info("collaboration: no canvas data for the report: %s", e)
                return None
    finally:
        store.dispose()
    if not (view["stories"] or view["experiments"] or view["goals"]):
        return None
    for e in view["experiments"]:
        e["participants"] = len(e["participants"])
    html = (
        _report_env()
        .get_template("cc_report_section.html.j2")
        .render(one=view, cycle_words=stories.CYCLE_WORDS)
    )
    return Section(key="collaboration", title="Goals, experiments and value stories", html=html)
