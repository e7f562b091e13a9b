"""Coaching questions for the Collaboration canvas, chosen for a community's stage and shape from the
question bank (``models/questions.toml``).

    qs = questions_for("share", "broadcast")        # {section: [question, ...]}
    community_stage(mix)                            # where most active members stand
"""

from __future__ import annotations

from typing import Any

from covalue import models
from covalue.stages import ORDER as STAGE_ORDER


def bank(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The question bank with a workspace's ``[model.questions]`` overrides."""
    return models.load("questions", overrides)


def community_stage(mix: dict[str, Any] | None) -> str:
    """The stage most active members are at (ties go to the earlier stage, the more cautious reading);
    ``observer`` when nobody is active."""
    mix = mix or {}
    counts = {s: int(mix.get(s) or 0) for s in STAGE_ORDER}
    if not any(counts.values()):
        return "observer"
    return max(STAGE_ORDER, key=lambda s: (counts[s], -STAGE_ORDER.index(s)))


def _fits(q: dict[str, Any], stage: str, shape: str | None) -> bool:
    stages, shapes = q.get("stages") or [], q.get("shapes") or []
    return (not stages or stage in stages) and (not shapes or shape is None or shape in shapes)


def questions_for(
    stage: str, shape: str | None, *, model: dict[str, Any] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per canvas section, the questions that fit ``stage`` and ``shape``, most specific first."""
    m = model or bank()
    cap = int(m.get("max_per_section", 4))
    out: dict[str, list[dict[str, Any]]] = {}
    for q in m.get("question", []):
        if _fits(q, stage, shape):
            out.setdefault(q["section"], []).append(q)
    for sec, qs in out.items():
        # a question written for this exact stage or shape says more than one written for any
        qs.sort(key=lambda q: len(q.get("stages") or STAGE_ORDER) + len(q.get("shapes") or m["shapes"]))
        out[sec] = qs[:cap]
    return out


def coverage(model: dict[str, Any] | None = None) -> dict[str, dict[str, int]]:
    """How many questions name each stage, shape and element explicitly (a gap shows as 0)."""
    m = model or bank()
    qs = m.get("question", [])
    return {
        "stages": {s: sum(1 for q in qs if s in (q.get("stages") or [])) for s in m["stages"]},
        "shapes": {h: sum(1 for q in qs if h in (q.get("shapes") or [])) for h in m["shapes"]},
        "elements": {e: sum(1 for q in qs if q.get("element") == e) for e in m["elements"]},
    }


def canvas_state(db: Any, community_id: str) -> dict[str, Any]:
    """What the canvases already hold for a community, as the coaching prompts read it: goal texts,
    experiments (title, status) and story titles. Prompts move on from "write a goal" to "lead an
    experiment" to "tell the story" as these fill."""
    from covalue.canvas import collaboration_data as cd

    goals = [g["text"] for g in cd.goal_options(db, community_id) + cd.community_goals(db, community_id)]
    experiments = [
        {"title": e.get("title") or "", "status": e.get("status") or "running"}
        for e in cd.load_experiments(db, community_id)
    ]
    stories = [s.get("title") or "" for s in cd.load_stories(db, community_id)]
    return {"goals": goals, "experiments": experiments, "stories": stories}


def canvas_state_of(ws: Any, community_id: str) -> dict[str, Any] | None:
    """``canvas_state`` from a workspace's store, or None when nobody has used the canvases (no store):
    the report then coaches on the data alone."""
    from covalue.store import existing

    with existing(ws.path if ws is not None else None, migrate=False) as store:
        if store is None:
            return None
        with store.session() as db:
            try:
                return canvas_state(db, community_id)
            except Exception:  # a store from before the canvases: no state to coach on
                return None
