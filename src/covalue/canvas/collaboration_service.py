"""Changing the Collaboration canvas: entries, experiments (participants, linked items, status) and
stories, each checked against the workspace (members, posts and spaces of this community only), and
the workspace side of completed experiments (written at once; the analysis re-run on request). Also
who took part: the listed participants who contributed, by the maturity measure's own rule.

The caller passes its :class:`Workbench` (the web app's site): the workspace, the lock serialising
DuckDB, the store and the member list. Refusals are :class:`Refused` with an HTTP-like status."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date, timedelta
from typing import Any, Protocol

import ibis
import pyarrow as pa

from covalue import journey
from covalue.canvas import collaboration as cc
from covalue.canvas.collaboration_data import entry_dict, entry_of, experiment_dict, story_dict
from covalue.canvas.collaboration_input import EntryEdit, EntryIn, ExperimentAction, ExperimentIn, StoryIn
from covalue.metrics.experiments import experiment_contributions
from covalue.store import Store, utcnow
from covalue.store import collaboration as cs
from covalue.workspace import Workspace


class Workbench(Protocol):
    """What the canvas services need from their host: the workspace behind its lock, the store, the
    members at the latest analysed month, and a way to redraw after an analysis."""

    ws: Workspace
    lock: AbstractContextManager[Any]
    store: Store

    def people(self, cid: str, *, names: bool) -> list[dict[str, Any]]: ...

    def refresh(self) -> Any: ...


class Refused(Exception):
    """A change that cannot be made; ``status`` is the HTTP status a web caller answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- reading the workspace -------------------------------------------------------------------------
def member_stages(bench: Workbench, cid: str) -> dict[str, str]:
    """Each member's stage at the community's latest analysed month."""
    return {r["member_id"]: r["stage"] for r in bench.people(cid, names=False)}


def community_spaces(bench: Workbench, cid: str) -> list[dict[str, Any]]:
    """The community's spaces (channels, categories, sites) an experiment may run in."""
    with bench.lock:
        rows = bench.ws.raw.execute(
            "SELECT space_id, coalesce(name, space_id), kind FROM spaces WHERE community_id = ? "
            "ORDER BY lower(coalesce(name, space_id)), space_id",
            [cid],
        ).fetchall()
    return [{"space_id": r[0], "name": r[1], "kind": r[2]} for r in rows]


def search_items(bench: Workbench, cid: str, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """The community's posts whose title or text holds every word of ``query``, newest first, as a
    picker lists them: id, title or excerpt, date and the platform link when the export has one.
    Story and experiment forms pick items by these words instead of asking for ids."""
    from covalue.item_links import item_link

    words = [w for w in query.lower().split() if w][:6]
    if not words:
        return []
    where = " AND ".join("lower(coalesce(i.title, '') || ' ' || coalesce(i.text, '')) LIKE ?" for _ in words)
    args: list[Any] = [cid, *(f"%{w.replace('%', '').replace('_', '')}%" for w in words), int(limit)]
    with bench.lock:
        rows = bench.ws.raw.execute(
            "SELECT i.item_id, i.title, substr(i.text, 1, 200), i.created_at, i.kind, c.name "
            "FROM items i LEFT JOIN communities c ON c.community_id = i.community_id "
            f"WHERE i.community_id = ? AND {where} ORDER BY i.created_at DESC, i.item_id LIMIT ?",
            args,
        ).fetchall()
    out = []
    for item_id, title, text, created, kind, community_name in rows:
        shown = " ".join(str(title or text or "").split())
        out.append(
            {
                "item_id": item_id,
                "title_or_excerpt": shown[:120] + ("…" if len(shown) > 120 else ""),
                "date": str(created)[:10] if created is not None else None,
                "link": item_link(item_id, community_name, kind),
            }
        )
    return out


def default_dates(today: date | None = None) -> tuple[date, date]:
    """A new experiment runs from today for 30 days: it is something to try next, and an experiment
    dated in the past would credit what members had already done (past dates stay allowed)."""
    today = today or utcnow().date()
    return today, today + timedelta(days=30)


def contributors(bench: Workbench, cid: str, exps: list[dict[str, Any]]) -> dict[int, set[str]]:
    """Per completed experiment, the participants who contributed to it, found by the maturity
    measure's own function on the analysis's item roles (bots never count; an item linked to it or
    posted in its space within its window). A running experiment counts nothing yet, as in the
    measure; everyone else on a list was only listed."""
    parts = {e["id"]: e["participants"] for e in exps}
    linked = {e["id"]: e.get("items") or [] for e in exps}
    out: dict[int, set[str]] = {}
    with bench.lock:
        try:
            roles = journey.derived(bench.ws, "item_roles", run_if_missing=False)
        except Exception:  # not analysed yet: nobody has contributed to anything measured
            return {}
        roles = roles.filter(roles.community_id == cid)
        for e in exps:
            rows = cc.participant_rows([e], parts)
            if not rows:
                continue
            ex = ibis.memtable(pa.Table.from_pylist(rows, schema=cs.PARTICIPANTS_SCHEMA))
            ex = ex.mutate(ts=ex.completed_at)
            items = cc.item_rows([e], linked)
            li = ibis.memtable(pa.Table.from_pylist(items, schema=cs.ITEMS_SCHEMA)) if items else None
            done = experiment_contributions(ex, roles, li).select("member_id").to_pyarrow()
            if done.num_rows:
                out[int(e["id"])] = set(done.column("member_id").to_pylist())
    return out


def sync_and_analyse(bench: Workbench, *, rerun: bool) -> dict[str, Any]:
    """Write completed experiments' participants and linked items to the workspace and, when
    ``rerun``, analyse again and rebuild the host's pages. Runs under the lock (DuckDB's one writer)."""
    with bench.store.session() as db:
        rows, items = cs.workspace_rows(db)
    with bench.lock:
        out: dict[str, Any] = dict(cs.write_rows(bench.ws, rows, items))
        if rerun:
            res = journey.analyze(bench.ws)
            out["analysis_id"] = res.analysis_id
            out["seconds"] = round(res.total_seconds, 1)
    if rerun:
        bench.refresh()
    return out


# -- checks against the workspace ------------------------------------------------------------------
def _known_space(bench: Workbench, cid: str, space: str) -> str | None:
    """The space id when it is one of this community's spaces; an unknown one is refused by name."""
    space = space.strip()
    if not space:
        return None
    if space not in {sp["space_id"] for sp in community_spaces(bench, cid)}:
        raise Refused(400, f"no such space in this community: {space}")
    return space


def _known_items(bench: Workbench, cid: str, ids: list[str]) -> None:
    """Refuse item ids that are not contributions of this community (a typo would link nothing)."""
    if not ids:
        return
    with bench.lock:
        unknown = cs.unknown_items(bench.ws, cid, ids)
    if unknown:
        raise Refused(400, f"no such post or thread in this community: {', '.join(unknown[:5])}")


def _known_members(bench: Workbench, cid: str, ids: list[str]) -> list[str]:
    if not ids:
        return []
    known = set(member_stages(bench, cid))
    unknown = [m for m in ids if m not in known]
    if unknown:
        raise Refused(400, f"not members of this community: {', '.join(unknown[:5])}")
    return sorted(set(ids))


# -- changes ---------------------------------------------------------------------------------------
def add_entry(bench: Workbench, cid: str, body: EntryIn, period: str, by: str | None) -> dict[str, Any]:
    """A new canvas entry in ``body.period`` (else ``period``, the community's latest)."""
    vals = body.model_dump(exclude={"period"})
    if body.member_id.strip():  # a person named on the canvas must be one of this community's members
        _known_members(bench, cid, [body.member_id.strip()])
    with bench.store.session() as db:
        e = cs.create(
            db, "entry", by, community_id=cid, period=body.period or period, section=body.section, **vals
        )
        return entry_dict(e)  # type: ignore[arg-type]


def edit_entry(bench: Workbench, cid: str, eid: int, edit: EntryEdit, by: str | None) -> dict[str, Any]:
    """Save changes to an entry of this community; ``merged_conflicts`` names fields merged with a
    simultaneous edit."""
    named = str(edit.changes.get("member_id") or "").strip()
    if named:
        _known_members(bench, cid, [named])
    with bench.store.session() as db:
        if entry_of(db, cid, eid) is None:
            raise Refused(404, "There is no such entry on this canvas.")
        obj, conflicts = cs.save(db, "entry", eid, edit.version, edit.changes, by)
        return {**entry_dict(obj), "merged_conflicts": conflicts}  # type: ignore[arg-type]


def new_experiment(bench: Workbench, cid: str, body: ExperimentIn, by: str | None) -> dict[str, Any]:
    """Create an experiment with its participants and linked items, all of this community. Without a
    start date it starts today (dates in the past stay allowed)."""
    vals = body.model_dump(exclude={"participants", "items", "entry_id", "space_id"})
    if not vals["starts_on"]:
        vals["starts_on"] = default_dates()[0].isoformat()
        if vals["ends_on"] and vals["ends_on"] < vals["starts_on"]:
            raise Refused(400, "the experiment cannot end before it starts (it starts today)")
    vals["space_id"] = _known_space(bench, cid, body.space_id)
    members = _known_members(bench, cid, body.participants)
    _known_items(bench, cid, body.items)
    with bench.store.session() as db:
        exp = cs.create(
            db, "experiment", by, community_id=cid, status="running", entry_id=body.entry_id, **vals
        )
        for m in members:
            db.add(cs.CcParticipant(experiment_id=exp.id, member_id=m, added_by=by))  # type: ignore[attr-defined]
        cs.link_items(db, exp.id, body.items, by)  # type: ignore[attr-defined]
        return experiment_dict(exp, members, body.items)  # type: ignore[arg-type]


def _experiment_of(db: Any, cid: str, xid: int) -> cs.CcExperiment:
    exp = db.get(cs.CcExperiment, xid)
    if exp is None or exp.community_id != cid:
        raise Refused(404, "There is no such experiment in this community.")
    return exp


def add_items(bench: Workbench, cid: str, xid: int, items: list[str], by: str | None) -> dict[str, Any]:
    """Link more items to an experiment (what it produced, found after it started); a completed
    experiment's links are written to the workspace at once."""
    _known_items(bench, cid, items)
    with bench.store.session() as db:
        exp = _experiment_of(db, cid, xid)
        new = cs.link_items(db, xid, items, by)
        status = exp.status
        linked = cs.linked_items(db, [xid]).get(xid, [])
    if new and status == "completed":
        sync_and_analyse(bench, rerun=False)
    return {"experiment_id": xid, "added": new, "items": linked}


def change_experiment(
    bench: Workbench, cid: str, xid: int, act: ExperimentAction, by: str | None
) -> dict[str, Any]:
    """Save an experiment's outcome and lesson and change its status; completing (or reopening,
    dropping, moving it to another space) writes the workspace's experiment tables at once."""
    changes: dict[str, Any] = {
        k: v for k, v in (("outcome", act.outcome), ("lesson", act.lesson)) if v is not None
    }
    if act.space_id is not None:
        changes["space_id"] = _known_space(bench, cid, act.space_id)
    status = act.status
    if status:
        changes["status"] = status
    with bench.store.session() as db:
        exp = _experiment_of(db, cid, xid)
        cs.save(db, "experiment", xid, act.version or exp.version, changes, by)
        exp = db.get(cs.CcExperiment, xid, populate_existing=True)
        assert exp is not None
        if status == "completed" and exp.completed_at is None:
            exp.completed_at = utcnow()
        elif status in ("running", "dropped"):
            exp.completed_at = None
        out = experiment_dict(exp, [], cs.linked_items(db, [xid]).get(xid, []))
    if status or "space_id" in changes:
        sync_and_analyse(bench, rerun=False)
    return out


def add_story(bench: Workbench, cid: str, body: StoryIn, by: str | None) -> dict[str, Any]:
    """A new value story; its items, members and experiment must be this community's."""
    vals = body.model_dump()
    _known_items(bench, cid, body.items)
    vals["members"] = _known_members(bench, cid, body.members)
    with bench.store.session() as db:
        if body.experiment_id is not None:
            e = db.get(cs.CcExperiment, body.experiment_id)
            if e is None or e.community_id != cid:
                raise Refused(400, "that experiment is not in this community")
        s = cs.create(db, "story", by, community_id=cid, **vals)
        return story_dict(s)  # type: ignore[arg-type]
