"""A member's own pages: their journey (``/me``, a personal link ``/j/{token}``, ``/api/journey``) with
the items it rests on, and their community's work in the open: the canvas's goals, the experiments
still running and the value stories, where they can suggest an opportunity and ask to join an
experiment. The team sees both on the canvas and experiments pages."""

from __future__ import annotations

from typing import Any

from fastapi import Form, HTTPException
from fastapi.responses import Response

from covalue import privacy
from covalue.canvas import collaboration_data as data
from covalue.item_links import item_link, source_of, workspace_hosts
from covalue.store import accounts as acc
from covalue.store import collaboration as cs
from covalue.web.common import TIPS, redirect, render, signed_in
from covalue.web.views.base import Ctx, CtxDep, joined, routers

pages, api = routers()

#: at most this many evidence items are listed per community on a card
MAX_ITEMS = 30


def evidence_items(site: Any, ex: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Per community, the items a member's stage rests on (the evidence behind each flag), each with
    an excerpt, its date, what it showed and the platform link when the export has one."""
    if not ex:
        return {}
    wanted: dict[str, dict[str, list[str]]] = {}
    for e in ex.get("communities") or []:
        per = wanted.setdefault(e["community_id"], {})
        for flag, rows in (e.get("evidence") or {}).items():
            for r in rows or []:
                per.setdefault(r["item_id"], []).append(flag)
    ids = [i for per in wanted.values() for i in per]
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    with site.reader() as ws:  # its own cursor: never waits for an ingest or analysis
        # the thread's first message titles a Zulip topic; the space names its stream
        found = ws.raw.execute(
            "SELECT i.item_id, i.title, substr(i.text, 1, 240), i.created_at, i.kind, c.name, i.space_id, "
            "s.name, coalesce(t.title, i.title) "
            "FROM items i LEFT JOIN communities c ON c.community_id = i.community_id "
            "LEFT JOIN spaces s ON s.space_id = i.space_id "
            "LEFT JOIN items t ON t.item_id = i.thread_id "
            f"WHERE i.item_id IN ({marks})",
            ids,
        ).fetchall()
        hosts = workspace_hosts(ws)
        names_off = not ws.settings.privacy.show_names
    rows = {r[0]: r for r in found}
    out: dict[str, list[dict[str, Any]]] = {}
    for cid, per in wanted.items():
        shown = []
        for item_id, flags in per.items():
            r = rows.get(item_id)
            if r is None:
                continue  # erased since the analysis (a forgotten person's items)
            text = " ".join(str(r[1] or r[2] or "").split())
            shown.append(
                {
                    "item_id": item_id,
                    "excerpt": text[:200] + ("…" if len(text) > 200 else ""),
                    "date": str(r[3])[:10] if r[3] is not None else None,
                    "showed": sorted(set(flags)),
                    "link": item_link(
                        item_id,
                        r[5],
                        r[4],
                        host=hosts.get(source_of(item_id)),
                        space_id=r[6],
                        space_name=r[7],
                        topic=r[8],
                    ),
                }
            )
        shown.sort(key=lambda x: x["date"] or "", reverse=True)
        out[cid] = shown[:MAX_ITEMS]
    if names_off:  # the people an item names are taken out, as on every other page
        with site.reader() as ws:
            privacy.redact_in_place(ws, [r for v in out.values() for r in v], ("excerpt",))
    return out


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
        items=evidence_items(ctx.site, ex),
        member_communities=_my_communities(ctx, ex),
        glance=_glance(ctx, _my_communities(ctx, ex)),
    )


def _glance(ctx: Ctx, cids: list[str]) -> list[dict[str, Any]]:
    """The value headline of each community a member belongs to, as the sponsor reads it: counts of
    people and questions over the window, never who."""
    snap = ctx.site.snapshot()
    out = []
    for cid in cids:
        c = snap.communities.get(cid) or {}
        if c.get("headline"):
            out.append({"id": cid, "name": snap.names.get(cid, cid), "head": c["headline"]})
    return out


def _my_communities(ctx: Ctx, ex: dict[str, Any] | None) -> list[str]:
    """The communities whose work a signed-in member may read: those their account is given, and
    those their own activity is in."""
    mine = {c for _, c in (ctx.access.roles if ctx.access else ()) if c}
    mine |= {e["community_id"] for e in (ex or {}).get("communities") or []}
    return sorted(c for c in mine if c in ctx.site.snapshot().names)


@pages.get("/me")
def me(ctx: Ctx = CtxDep) -> Response:
    signed_in(ctx)
    assert ctx.user is not None
    if not ctx.user.member_id:
        raise HTTPException(
            404, "Your account is not linked to a member of the community; ask your administrator."
        )
    return _own_journey(ctx, ctx.user.member_id)


@pages.get("/j/{token}")
def journey_link(token: str, ctx: Ctx = CtxDep) -> Response:
    with ctx.site.store.session() as db:
        user = acc.user_by_journey_token(db, token)
        member_id = user.member_id if user else None
    if not member_id:
        raise HTTPException(404, "This personal link is not valid (any more). Ask for a new one.")
    resp = _own_journey(ctx, member_id)
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _member_of(ctx: Ctx, cid: str) -> None:
    """A signed-in account that belongs to ``cid`` (any role there, or activity as its member)."""
    signed_in(ctx)
    assert ctx.user is not None
    if cid not in ctx.site.snapshot().names:
        raise HTTPException(404, "There is no such community in this workspace.")
    ex = ctx.site.explain(ctx.user.member_id) if ctx.user.member_id else None
    if cid not in _my_communities(ctx, ex) and not (ctx.access and ctx.access.can("view", cid)):
        raise HTTPException(403, "Your account does not belong to this community.")


def _work(ctx: Ctx, cid: str) -> dict[str, Any]:
    """The community's work as a member reads it: goals, running experiments (participants counted,
    not listed), stories, and what this member already asked."""
    with ctx.site.store.session() as db:
        goals = data.goal_options(db, cid) + data.community_goals(db, cid)
        entries = data.load_entries(db, cid, None)
        exps = [e for e in data.load_experiments(db, cid) if e.get("status") != "completed"]
        tales = data.load_stories(db, cid)
        asked = [r for r in cs.member_requests(db, cid) if ctx.user and r["member_id"] == ctx.user.member_id]
    me_id = ctx.user.member_id if ctx.user else None
    for e in exps:
        e["joined"] = me_id in e["participants"]
        e["participants"] = len(e["participants"])
    for s in tales:
        s["members"] = len(s["members"])
    return {
        "goals": goals,
        "entries": [e for e in entries if e["kind"] != "strategic"],
        "experiments": exps,
        "stories": tales,
        "asked_join": {r["experiment_id"] for r in asked if r["kind"] == "join"},
        "suggested": [r for r in asked if r["kind"] == "opportunity"],
    }


@pages.get("/me/c/{cid}")
def community_work(cid: str, ctx: Ctx = CtxDep, notice: str | None = None) -> Response:
    """The community's canvas, open experiments and stories, with a member's two ways in."""
    _member_of(ctx, cid)
    name = ctx.site.snapshot().names.get(cid, cid)
    return render(
        ctx,
        "member_work.html.j2",
        title=name,
        nav="me",
        heading=f"What {name} is working on",
        cid=cid,
        notice=notice,
        **_work(ctx, cid),
    )


@pages.post("/me/c/{cid}/suggest")
def suggest(cid: str, ctx: Ctx = CtxDep, text: str = Form("")) -> Response:
    """A member suggests an opportunity for the canvas (the team decides what to do with it)."""
    _member_of(ctx, cid)
    t = " ".join(text.split())[:2000]
    if not t:
        raise HTTPException(400, "Please say what the opportunity is.")
    assert ctx.user is not None
    with ctx.site.store.session() as db:
        cs.add_member_request(db, cid, "opportunity", member_id=ctx.user.member_id, by=ctx.user.email, text=t)
    return redirect(ctx, f"/me/c/{cid}?notice=suggested")


@pages.post("/me/c/{cid}/experiments/{xid}/join")
def ask_to_join(cid: str, xid: int, ctx: Ctx = CtxDep) -> Response:
    """A member asks to join a running experiment; the team adds them if it fits."""
    _member_of(ctx, cid)
    assert ctx.user is not None
    with ctx.site.store.session() as db:
        exps = {e["id"]: e for e in data.load_experiments(db, cid)}
        if xid not in exps or exps[xid].get("status") == "completed":
            raise HTTPException(404, "There is no running experiment with that number in this community.")
        cs.add_member_request(
            db, cid, "join", member_id=ctx.user.member_id, by=ctx.user.email, experiment_id=xid
        )
    return redirect(ctx, f"/me/c/{cid}?notice=asked")


@api.get("/journey")
def my_journey(ctx: Ctx = CtxDep) -> dict[str, Any]:
    """The signed-in member's own stage, evidence (with the items it rests on) and next step."""
    signed_in(ctx)
    assert ctx.user is not None
    if not ctx.user.member_id:
        raise HTTPException(404, "this account is not linked to a member")
    ex = ctx.site.explain(ctx.user.member_id)
    if ex is None:
        raise HTTPException(404, "no activity for this member in the analysed data")
    return {**ex, "items": evidence_items(ctx.site, ex)}


router = joined(pages, api)
