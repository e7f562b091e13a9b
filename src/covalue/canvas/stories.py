"""Value-creation stories (Wenger, Trayner & de Laat 2011): a story traces value through cycles —
immediate, potential, applied, realized, reframing — and may start at any of them. This module tags
stories by the cycles they reach, builds the value-creation matrix (stories × cycles, beside the
indicators the analysis offers for each cycle) and the sponsor's one-page summary.
"""

from __future__ import annotations

from typing import Any

from covalue.presentation import plural

CYCLES = ("immediate", "potential", "applied", "realized", "reframing")
CYCLE_WORDS = {
    "immediate": "Immediate value — the activity itself: a question answered, a conversation",
    "potential": "Potential value — knowledge capital: skills, contacts, documents, reputation",
    "applied": "Applied value — a change in practice: someone did something differently",
    "realized": "Realized value — an effect on performance the organisation cares about",
    "reframing": "Reframing value — a new way of defining success",
}
PROMPTS = {
    "immediate": "What happened? (an activity, a post, an answer, an event)",
    "potential": "What did it give people? (a skill, a contact, a document, confidence)",
    "applied": "What did someone do differently because of it?",
    "realized": "What difference did that make to results the organisation cares about?",
    "reframing": "Did it change how you define success? (optional)",
}


def cycles_of(story: dict[str, Any]) -> list[str]:
    """The cycles a story has a step for, in cycle order."""
    return [c for c in CYCLES if str(story.get(c) or "").strip()]


def furthest(story: dict[str, Any]) -> str | None:
    cs = cycles_of(story)
    return cs[-1] if cs else None


def indicators(c: dict[str, Any] | None) -> dict[str, list[str]]:
    """Per cycle, what the analysis measures that speaks to it (the matrix's indicator column)."""
    out: dict[str, list[str]] = {k: [] for k in CYCLES}
    if not c:
        return out
    mix = c.get("mix") or {}
    h = c.get("health") or {}
    resp = h.get("responsiveness") or {}
    active = int(mix.get("active") or 0)
    if active:
        out["immediate"].append(f"{plural(active, 'member')} took part in the window")
    if resp.get("response_rate") is not None:
        out["immediate"].append(f"{resp['response_rate']:.0%} of posts got a response")
    n_share = int(mix.get("share") or 0) + int(mix.get("solve") or 0) + int(mix.get("innovate") or 0)
    if active:
        out["potential"].append(
            f"{plural(n_share, 'member')} shared something others responded to, or beyond"
        )
    solve = int(mix.get("solve") or 0)
    if solve:
        out["applied"].append(f"{plural(solve, 'member')} helped solve a problem")
    innovate = int(mix.get("innovate") or 0)
    if innovate:
        out["realized"].append(
            f"{plural(innovate, 'member')} at Innovate (supported ideas or contributions to experiments)"
        )
    return out


def matrix(stories: list[dict[str, Any]], c: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stories × cycles: for each story, which cycles it reaches; per cycle, how many stories reach it
    and the analysis' indicators for it."""
    rows = [
        {
            "id": s.get("id"),
            "title": s.get("title"),
            "cycles": {k: bool(str(s.get(k) or "").strip()) for k in CYCLES},
        }
        for s in stories
    ]
    ind = indicators(c)
    cols = [
        {"cycle": k, "stories": sum(1 for r in rows if r["cycles"][k]), "indicators": ind[k]} for k in CYCLES
    ]
    return {"rows": rows, "cycles": cols}


def movement(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stage mix of the last month beside the month before (counts), for the sponsor."""
    if len(history) < 2:
        return None
    a, b = history[-2], history[-1]
    stages = ("connect", "share", "solve", "innovate")
    return {
        "from": a.get("period"),
        "to": b.get("period"),
        "active": (int(a.get("active") or 0), int(b.get("active") or 0)),
        "stages": {s: (int(a.get(s) or 0), int(b.get(s) or 0)) for s in stages},
    }


def one_pager(
    c: dict[str, Any] | None,
    *,
    goals: list[dict[str, Any]],
    shared_value: list[str],
    stories: list[dict[str, Any]],
    experiments: list[dict[str, Any]],
) -> dict[str, Any]:
    """What a sponsor reads on one page: the goals, the shared value found, stories that reached
    applied value or beyond first, experiments and their outcomes, and how the stage mix moved."""
    ordered = sorted(stories, key=lambda s: -(CYCLES.index(furthest(s)) if furthest(s) else -1))
    return {
        "goals": goals,
        "shared_value": shared_value,
        "stories": [{**s, "cycles": cycles_of(s), "furthest": furthest(s)} for s in ordered[:5]],
        "experiments": [e for e in experiments if e.get("status") in ("running", "completed")],
        "movement": movement((c or {}).get("mix_history") or []),
        "shape": ((c or {}).get("health") or {}).get("shape", {}).get("shape"),
        "period": (c or {}).get("period"),
    }
