"""The Collaboration canvas's records read from the store as plain data: entries per period,
experiments with their participants and linked items, value stories, the strategic goals an entry or
story may link to (the Shared Value canvas's and those typed here), and the sponsor's one-pager.
Pages, the API, the CLI and the report section all read them through these functions."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from covalue.canvas import collaboration as cc
from covalue.canvas import stories
from covalue.store import collaboration as cs

log = logging.getLogger(__name__)


def entry_dict(e: cs.CcEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "period": e.period,
        "version": e.version,
        **cs.state(e, cc.ENTRY_FIELDS),
        "updated_at": e.updated_at.isoformat(timespec="seconds"),
        "created_by": e.created_by,
    }


def experiment_dict(e: cs.CcExperiment, members: list[str], items: list[str] | None = None) -> dict[str, Any]:
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


def story_dict(s: cs.CcStory) -> dict[str, Any]:
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
    return [entry_dict(e) for e in db.scalars(q.order_by(cs.CcEntry.id))]


def entry_periods(db: Session, cid: str) -> list[str]:
    """The periods this community's canvas has entries for (deleted ones included: they had a page)."""
    return sorted(set(db.scalars(select(cs.CcEntry.period).where(cs.CcEntry.community_id == cid))))


def entry_of(db: Session, cid: str, eid: int) -> cs.CcEntry | None:
    """The entry when it is on this community's canvas (another community's id reads as unknown)."""
    entry = db.get(cs.CcEntry, eid)
    return entry if entry is not None and entry.community_id == cid else None


def entry_history(db: Session, eid: int, *, seconds: bool = True) -> list[dict[str, Any]]:
    """An entry's saved versions, oldest first, with who saved each and the fields merged by hand."""
    spec = "seconds" if seconds else "auto"
    return [
        {
            "version": r.version,
            "data": r.data,
            "by": r.by_email,
            "at": r.at.isoformat(timespec=spec),
            "conflicts": r.conflicts,
        }
        for r in cs.history(db, "entry", eid)
    ]


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
    return [experiment_dict(e, parts.get(e.id, []), items.get(e.id, [])) for e in exps]


def load_stories(db: Session, cid: str) -> list[dict[str, Any]]:
    rows = db.scalars(select(cs.CcStory).where(cs.CcStory.community_id == cid).order_by(cs.CcStory.id))
    return [story_dict(s) for s in rows]


def _sv_goals(db: Session, cid: str) -> list[dict[str, Any]]:
    """The organisation's goals from the Shared Value canvas, when that canvas exists."""
    from covalue.store.shared_value import SvGoal

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
    from covalue.store.shared_value import SvGoal, SvMatchReview, SvNeed

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


def goal_options(db: Session, cid: str) -> list[dict[str, Any]]:
    """Strategic goals a community goal or story may link to: the Shared Value canvas's organisation
    goals and the strategic goals typed on this canvas (any period)."""
    typed = [
        {"link": f"cc:{e['id']}", "text": e["text"], "driver": "", "origin": "typed on this canvas"}
        for e in load_entries(db, cid, None)
        if e["kind"] == "strategic"
    ]
    return _sv_goals(db, cid) + typed


def community_goals(db: Session, cid: str) -> list[dict[str, Any]]:
    """The goals the community set itself on this canvas (kind ``goal``), as links a story can name."""
    return [
        {"link": f"cc:{e['id']}", "text": e["text"], "driver": "", "origin": "community goal"}
        for e in load_entries(db, cid, None)
        if e["kind"] == "goal"
    ]


def sponsor_view(db: Session, cid: str, c: dict[str, Any] | None) -> dict[str, Any]:
    """The sponsor's one-pager: goals, the shared value agreed, experiments, stories and movement."""
    return stories.one_pager(
        c,
        goals=goal_options(db, cid) + community_goals(db, cid),
        shared_value=_shared_value(db, cid),
        stories=load_stories(db, cid),
        experiments=load_experiments(db, cid),
    )


def counted(view: dict[str, Any]) -> dict[str, Any]:
    """The one-pager with person-level lists replaced by their sizes (for readers who may not see
    members: the API, the report)."""
    for e in view["experiments"]:
        e["participants"] = len(e["participants"])
    for s in view["stories"]:
        s["members"] = len(s["members"])
    return view
