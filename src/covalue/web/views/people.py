"""A community's people as its manager and champions see them: the people page, one member's journey,
the same under ``/api/communities/{cid}/people``, a search for the pickers of the canvases, and
revealing one person's name to thank them. Every person-level read, and each reveal, is audited.

Who may reveal: a role that may see names here (managers), and champions when the workspace's
``privacy.reveal_by_champions`` allows; sponsors and members never (403)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from covalue import privacy
from covalue.presentation import json_for_script
from covalue.web.common import TIPS, audit, community, names_allowed, render, render_tab, visible_charts
from covalue.web.views.base import Ctx, CtxDep, joined, routers

pages, api = routers()


class Person(BaseModel):
    member_id: str
    label: str
    stage: str
    persona: str | None
    n_interactions: int
    n_items: int
    responders: int


def may_reveal(ctx: Ctx, cid: str) -> bool:
    """Whether this account may reveal one person's name in ``cid`` (see the module's note)."""
    if ctx.access is None or not ctx.access.can("people", cid):
        return False
    if ctx.access.can("names", cid):
        return True
    allowed = ctx.site.ws.settings.privacy.reveal_by_champions
    return allowed and any(r == "champion" and c in (cid, None) for r, c in ctx.access.roles)


@pages.get("/c/{cid}/people")
def people(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid, "people")
    names = names_allowed(ctx, cid)
    rows = ctx.site.people(cid, names=names)
    champs = c.get("champions") or []
    labels = {r["member_id"]: r["label"] for r in rows}
    missing = [ch["member_id"] for ch in champs if ch["member_id"] not in labels]
    labels.update(ctx.site.labels(missing, names=names))
    audit(ctx, "viewed people", cid, f"{len(rows)} members")
    shown = visible_charts(ctx, c)
    specs = {shown["network"]["id"]: shown["network"]["figure"]} if "network" in shown else {}
    return render_tab(
        ctx,
        {**c, "charts": shown},
        "c_people.html.j2",
        "people",
        "people",
        specs=json_for_script(specs) if specs else None,
        people=rows,
        champions=champs,
        labels=labels,
        names=names,
        can_reveal=may_reveal(ctx, cid) and not names,
    )


def _member_in(ctx: Ctx, cid: str, mid: str, missing: str) -> dict[str, Any]:
    """Why a member of ``cid`` is where they are; members of other communities stay out of reach."""
    community(ctx, cid, "people")
    ex = ctx.site.explain(mid, cid)
    if ex is None or not ex["communities"]:
        raise HTTPException(404, missing)
    return ex


def _card(ctx: Ctx, cid: str, ex: dict[str, Any], label: str, revealed: str | None = None) -> Response:
    from covalue.web.views.member import evidence_items

    return render(
        ctx,
        "member.html.j2",
        title=label,
        nav="portfolio",
        heading=f"{revealed or label}'s journey",
        ex=ex,
        own=False,
        names=ctx.site.snapshot().names,
        tips=TIPS,
        back=f"/c/{cid}/people",
        items=evidence_items(ctx.site, ex),
        cid=cid,
        can_reveal=may_reveal(ctx, cid) and not names_allowed(ctx, cid) and revealed is None,
        revealed=revealed,
    )


@pages.get("/c/{cid}/people/{mid}")
def member(cid: str, mid: str, ctx: Ctx = CtxDep) -> Response:
    ex = _member_in(ctx, cid, mid, "There is no such member in this community.")
    label = ctx.site.label(ex["member_id"], names=names_allowed(ctx, cid))
    audit(ctx, "viewed member journey", cid, ex["member_id"])
    return _card(ctx, cid, ex, label)


def _reveal(ctx: Ctx, cid: str, mid: str) -> tuple[dict[str, Any], str]:
    """The member's journey and display name, for one who may reveal it; the reveal is audited."""
    community(ctx, cid, "view")
    if not may_reveal(ctx, cid):
        raise HTTPException(403, "Your role may not reveal members' names in this community.")
    ex = _member_in(ctx, cid, mid, "There is no such member in this community.")
    with ctx.site.reader() as ws:
        name = privacy.labels(ws, [ex["member_id"]], allow_names=True).get(ex["member_id"])
    audit(ctx, "revealed name", cid, ex["member_id"])
    return ex, name or privacy.pseudonym(ex["member_id"])


@pages.post("/c/{cid}/people/{mid}/reveal")
def reveal(cid: str, mid: str, ctx: Ctx = CtxDep) -> Response:
    """One person's name, shown on their card so the team can thank them (audited)."""
    ex, name = _reveal(ctx, cid, mid)
    return _card(ctx, cid, ex, privacy.pseudonym(ex["member_id"]), revealed=name)


@api.post("/communities/{cid}/members/{mid}/reveal")
def reveal_api(cid: str, mid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    """One person's display name (managers; champions where the workspace allows; audited)."""
    ex, name = _reveal(ctx, cid, mid)
    return {"member_id": ex["member_id"], "name": name}


@api.get("/communities/{cid}/people", response_model=list[Person])
def people_api(cid: str, ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    """Members of the community in its latest month (person-level: roles with people access only;
    each call is recorded in the audit log)."""
    community(ctx, cid, "people")
    rows = ctx.site.people(cid, names=names_allowed(ctx, cid))
    audit(ctx, "viewed people (api)", cid, f"{len(rows)} members")
    return rows


@api.get("/communities/{cid}/people/search")
def people_search(cid: str, q: str = "", ctx: Ctx = CtxDep) -> dict[str, Any]:
    """Members whose label (pseudonym, or name where names are shown) or id holds ``q``, for the
    searchable pickers of experiment participants and story people (at most 20)."""
    community(ctx, cid, "people")
    needle = q.strip().lower().removeprefix("member ").strip()
    if len(needle) < 2:
        return {"people": []}
    rows = ctx.site.people(cid, names=names_allowed(ctx, cid))
    hits = [
        {"member_id": r["member_id"], "label": r["label"], "stage": r["stage"]}
        for r in rows
        if needle in r["label"].lower() or needle in r["member_id"].lower()
    ][:20]
    audit(ctx, "searched people", cid, f"{len(hits)} found")
    return {"people": hits}


@api.get("/communities/{cid}/members/{mid}")
def member_api(cid: str, mid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    """Why a member is at their stage (person-level; audited)."""
    ex = _member_in(ctx, cid, mid, "no such member in this community")
    audit(ctx, "viewed member journey (api)", cid, ex["member_id"])
    return ex


router = joined(pages, api)
