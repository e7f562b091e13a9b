"""From a community's numbers to plain words: the findings, the one-paragraph verdict, and the coaching
prompts picked from the question bank in ``models/coaching.toml``.

Findings are named facts with the numbers behind them (``{"key": "unanswered", "unanswered": 4, ...}``);
the prompts quote those numbers, so the team sees why a prompt was chosen.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from covalue import stages
from covalue.presentation import hours, pct

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts

SHAPE_WORDS = {
    "community": "works as a real community: many people start conversations and others respond",
    "single voice": "is mostly one person's voice: one author writes most of what is posted",
    "broadcast": "is a broadcast: a few people publish and the others mostly read",
    "workgroup": "works as a closed team: the same few people talk among themselves",
    "dormant": "is dormant: hardly anything happens any more",
    "fading": "is fading: it has lost more than half of its active members in six months",
    "too little activity to judge": "had too little activity to judge what kind of group it is",
}


def _n(v: Any) -> float:
    try:
        return float(v or 0)
    except (TypeError, ValueError):
        return 0.0


def failed_checks(c: CommunityFacts) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ch in c.get("checks") or []:
        if not ch.get("passed") and ch.get("measurable") is not False:
            out.setdefault(ch["stage"], []).append(ch)
    return out


OP_WORDS = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}


def is_share(ch: dict[str, Any]) -> bool:
    """Whether a check measures a proportion (shown as a percentage): named so, or with a fractional
    threshold such as 0.5 for "members kept from last period"."""
    t = _n(ch.get("threshold"))
    return re.search(r"\bshare\b", ch["measure"]) is not None or (0 < t < 1)


def check_number(v: Any, ch: dict[str, Any]) -> str:
    return pct(v) if is_share(ch) else f"{_n(v):,.0f}"


def check_text(ch: dict[str, Any]) -> str:
    """``share of questions answered by another member: 40% (needs at least 60%)``."""
    op = OP_WORDS.get(ch["op"], ch["op"])
    return (
        f"{ch['measure']}: {check_number(ch['value'], ch)} (needs {op} {check_number(ch['threshold'], ch)})"
    )


def _champions_text(c: CommunityFacts) -> str:
    names = [ch.get("label") for ch in (c.get("champions") or [])[:3] if ch.get("label")]
    return ", ".join(names) if names else "the members who answer most often"


def findings(c: CommunityFacts, model: dict[str, Any]) -> list[dict[str, Any]]:
    """Named findings with their numbers, in the order of the question bank."""
    th = model["findings"]
    h = c.get("health") or {}
    shape = h.get("shape") or {}
    resp = h.get("responsiveness") or {}
    conc = h.get("concentration") or {}
    mix = c.get("mix") or {}
    dyn = c.get("dynamics") or {}
    active = int(_n(mix.get("active")))
    base = {
        "period": c.get("period"),
        "window_days": c.get("window_days"),
        "active": active,
        "champions": _champions_text(c),
    }
    found: dict[str, dict[str, Any]] = {}
    kind = shape.get("shape")
    # too little activity: nothing to coach on yet; fading is the "shrinking" finding, told below
    if kind and kind not in ("community", "fading", "too little activity to judge"):
        found["dormant" if kind == "dormant" else "shape_" + kind.replace(" ", "_")] = {
            "top_share": pct(shape.get("top_author_share")),
            "reply_rate": pct(shape.get("reply_rate")),
        }
    growth = dyn.get("growth") or {}
    if growth.get("verdict") == "shrinking":
        found["shrinking"] = {
            "change": pct(abs(_n(growth.get("change")))),
            "growth": growth.get("explanation", ""),
        }
    elif kind == "fading" and _n(shape.get("active_before")):
        # the window lost most of its people even where the monthly trend has not turned (yet)
        before, now = _n(shape.get("active_before")), int(_n(shape.get("active")))
        found["shrinking"] = {
            "change": pct(1 - now / before),
            "growth": f"{now} active members in the {c.get('window_days', 90)} days to the end of "
            f"{c.get('period')} against a usual {before:.0f} six to twelve months before",
        }
    questions = _n(resp.get("questions"))
    unanswered = int(_n(resp.get("unanswered")))
    answered_share = _n(resp.get("answered")) / questions if questions else None
    if questions and (
        unanswered >= th["unanswered_min"]
        or (answered_share is not None and answered_share < th["answered_share_min"])
    ):
        found["unanswered"] = {
            "unanswered": unanswered,
            "questions_word": "question" if unanswered == 1 else "questions",
            "answered_share": pct(answered_share),
        }
    ttfr = resp.get("ttfr_median_h")
    if ttfr is not None and _n(ttfr) > th["slow_response_hours"]:
        found["slow_response"] = {"ttfr": hours(ttfr)}
    if active:
        low = _n(mix.get("connect")) / active
        sharing = (_n(mix.get("share")) + _n(mix.get("solve")) + _n(mix.get("innovate"))) / active
        if low >= th["connect_heavy_min"] and sharing <= th["connect_heavy_max_sharing"]:
            found["connect_heavy"] = {"connect_heavy": pct(low), "sharing": pct(sharing)}
    for stage, fails in failed_checks(c).items():
        found["check_" + stage] = {"failed": "; ".join(check_text(f) for f in fails)}
    for sp in dyn.get("spikes") or []:
        # months not yet observed after the spike are None: judge on the last month seen
        kept = [v for v in sp.get("still_active") or [] if v is not None]
        if kept and kept[-1] < th["spike_kept_min"]:
            found["spike_faded"] = {
                "spike_month": sp["month"],
                "newcomers": sp.get("newcomers", 0),
                "kept": pct(kept[-1]),
                "follow": len(kept),
            }
    absence = conc.get("absence_factor")
    if (
        absence is not None
        and _n(absence) <= th["concentrated_max_people"]
        and active >= th["concentrated_min_active"]
    ):
        found["concentrated"] = {"absence": int(_n(absence))}
    if not found and active:
        found["thriving"] = {}
    order = [p["finding"] for p in model["prompt"]]
    keys = sorted(found, key=lambda k: order.index(k) if k in order else len(order))
    return [{"key": k, **base, **found[k]} for k in keys]


class _Blank(dict):
    """format_map mapping that leaves unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def prompts(c: CommunityFacts, model: dict[str, Any]) -> list[dict[str, Any]]:
    """The coaching prompts for a community: at most ``max_prompts``, each with what was seen (numbers
    quoted), open questions and concrete actions."""
    bank = {p["finding"]: p for p in model["prompt"]}
    out = []
    for f in findings(c, model):
        p = bank.get(f["key"])
        if p is None:
            continue
        vals = _Blank(f)
        out.append(
            {
                "finding": f["key"],
                "title": p["title"],
                "saw": p["saw"].format_map(vals),
                "questions": [q.format_map(vals) for q in p["questions"]],
                "actions": [a.format_map(vals) for a in p["actions"]],
            }
        )
        if len(out) >= int(model["max_prompts"]):
            break
    return out


def verdict(c: CommunityFacts) -> str:
    """One paragraph in plain words: shape, how far members get on the journey, responsiveness,
    direction of membership, and the stage checks."""
    name = c["name"]
    h = c.get("health") or {}
    shape = (h.get("shape") or {}).get("shape")
    mix = c.get("mix") or {}
    resp = h.get("responsiveness") or {}
    active = int(_n(mix.get("active")))
    parts = []
    if shape in SHAPE_WORDS:
        parts.append(
            f"In the {c.get('window_days', 90)} days to the end of {c['period']}, {name} {SHAPE_WORDS[shape]}."
        )
    else:
        parts.append(f"This is {name} in the {c.get('window_days', 90)} days to the end of {c['period']}.")
    if active:
        regular = int(_n(mix.get("regular")))
        solving = int(_n(mix.get("solve")) + _n(mix.get("innovate")))
        parts.append(
            f"{active:,} members did something the others could see, and {solving:,} of them "
            f"({pct(solving / active)}) reached Solve or Innovate: they answered or got answers from other "
            f"members, or brought ideas that others supported. {regular:,} ({pct(regular / active)}) took "
            "part at least every two weeks; how often people take part is their persona, not their stage."
        )
    else:
        parts.append("Nobody took part in that window.")
    if _n(resp.get("originals")):
        t = resp.get("ttfr_median_h")
        wait = f", and the typical wait for a first response was {hours(t)}" if t is not None else ""
        parts.append(
            f"{pct(resp.get('response_rate'))} of new threads got a response from someone else{wait}."
        )
    if _n(resp.get("questions")):
        parts.append(
            f"{int(_n(resp.get('answered'))):,} of {int(_n(resp.get('questions'))):,} questions were answered "
            "by another member."
        )
    growth = (c.get("dynamics") or {}).get("growth") or {}
    v = growth.get("verdict")
    if v in ("growing", "holding", "shrinking"):
        words = {"growing": "is growing", "holding": "is holding steady", "shrinking": "is shrinking"}[v]
        parts.append(
            f"Compared with the months before, active membership {words} ({_signed(growth.get('change'))})."
        )
    # a check the export cannot measure (no idea signal at all) is neither passed nor missed
    checks = [ch for ch in c.get("checks") or [] if ch.get("measurable") is not False]
    if checks:
        passed = sum(1 for ch in checks if ch.get("passed"))
        missed = sorted({ch["stage"] for ch in checks if not ch.get("passed")}, key=_journey_order)
        failed = [stages.label(s) for s in missed]
        tail = f"; the ones missed concern {', '.join(failed)}" if failed else ""
        parts.append(f"It passes {passed} of {len(checks)} stage checks{tail}.")
    return " ".join(parts)


def _journey_order(stage: str) -> int:
    """Stages in journey order, anything unknown after them."""
    r = stages.rank(stage)
    return r if r >= 0 else len(stages.ORDER)


def _signed(v: Any) -> str:
    x = _n(v)
    return f"{'+' if x >= 0 else '−'}{abs(100 * x):.0f}%"
