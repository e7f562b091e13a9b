"""From a community's numbers to plain words: the findings, the one-paragraph verdict, and the coaching
prompts picked from the question bank in ``models/coaching.toml``.

Findings are named facts with the numbers behind them (``{"key": "unanswered", "unanswered": 4, ...}``);
the prompts quote those numbers, so the team sees why a prompt was chosen.
"""

from __future__ import annotations

import re
import statistics
from typing import TYPE_CHECKING, Any

from covalue import stages
from covalue.item_links import item_link
from covalue.presentation import hours, pct, plural

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
        "active_people": plural(active, "person"),
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
    themes = waiting_themes(c, th)
    waiting = [q for t in themes for q in t["questions"]]
    waiting += [q for q in recent_waiting(c, th) if q not in waiting]
    shown = int(th.get("waiting_shown", 3))
    about_waiting = {
        "where": _where(waiting),
        "themes": " and ".join(f"“{t['label']}”" for t in themes[:2]),
        "waiting": [{k: v for k, v in q.items() if k != "_words"} for q in waiting[:shown]],
        "waiting_titles": "; ".join(f"“{q['title']}”" for q in waiting[:shown]),
        "fast_champions": ", ".join(fast_champions(c, th)),
        "months": int(th.get("max_age_months", 12)),
    }
    experts = theme_champions(c, themes, th)
    if experts:
        about_waiting["theme_champions"] = ", ".join(
            f"{e['label']} ({plural(e['answers'], 'answer')}, half within {hours(e['median_h'])})"
            for e in experts
        )
        about_waiting["theme_champion_ids"] = [e["member_id"] for e in experts]
    else:  # nobody known for the theme: the quick champions, so the waiting questions still go to someone
        about_waiting["quick_fallback"] = about_waiting["fast_champions"]
    if questions and (
        unanswered >= th["unanswered_min"]
        or (answered_share is not None and answered_share < th["answered_share_min"])
    ):
        found["unanswered"] = {
            "unanswered": unanswered,
            "questions_word": "question" if unanswered == 1 else "questions",
            "answered_share": pct(answered_share),
            **about_waiting,
        }
    elif waiting:
        # the window's questions were answered, but older ones from the year still wait
        found["waiting"] = {
            "waiting_n": len(waiting),
            "questions_word": "question" if len(waiting) == 1 else "questions",
            "months": int(th.get("max_age_months", 12)),
            **about_waiting,
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
        if not _recent(str(sp.get("month") or ""), c, th):
            continue  # a campaign years before the period is history, not a prompt
        # months not yet observed after the spike are None: judge on the last month seen
        kept = [v for v in sp.get("still_active") or [] if v is not None]
        if kept and kept[-1] < th["spike_kept_min"]:
            found["spike_faded"] = {
                "spike_month": sp["month"],
                "newcomers": sp.get("newcomers", 0),
                "newcomers_text": plural(sp.get("newcomers", 0), "newcomer"),
                "kept": pct(kept[-1]),
                "follow": len(kept),
                "follow_text": plural(len(kept), "month"),
            }
    absence = conc.get("absence_factor")
    if (
        absence is not None
        and _n(absence) <= th["concentrated_max_people"]
        and active >= th["concentrated_min_active"]
    ):
        found["concentrated"] = {
            "absence": int(_n(absence)),
            "absence_people": plural(int(_n(absence)), "person"),
        }
    if not found and active:
        found["thriving"] = {}
    order = [p["finding"] for p in model["prompt"]]
    keys = sorted(found, key=lambda k: order.index(k) if k in order else len(order))
    return [{"key": k, **base, **found[k]} for k in keys]


def _cutoff(c: CommunityFacts, th: dict[str, Any]) -> str:
    """The first day (YYYY-MM-DD) of the months a prompt may still cite: ``max_age_months`` up to the
    end of the period shown."""
    months = int(th.get("max_age_months", 12))
    try:
        y, m = (int(x) for x in str(c.get("period") or "")[:7].split("-"))
    except ValueError:
        return ""
    idx = y * 12 + (m - 1) + 1 - months  # the month after the period, less the allowed age
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}-01"


def _recent(when: str, c: CommunityFacts, th: dict[str, Any]) -> bool:
    """Whether a date or month (ISO text) lies within the months a prompt may cite."""
    cut = _cutoff(c, th)
    return bool(when) and (not cut or when[: len(cut)] >= cut[: len(when)])


def recent_waiting(c: CommunityFacts, th: dict[str, Any]) -> list[dict[str, Any]]:
    """Questions still waiting for an answer, asked within the months a prompt may cite, newest
    first, each as shown in a prompt: title, date and the platform link when the export has one."""
    out = []
    for q in (c.get("health") or {}).get("unanswered") or []:
        when = str(q.get("created_at") or "")[:10]
        if not _recent(when, c, th):
            continue
        title = " ".join(str(q.get("title") or q.get("excerpt") or "").split())
        if not title:
            continue
        out.append(
            {
                "item_id": q.get("item_id"),
                "title": title if len(title) <= 90 else title[:89].rstrip() + "…",
                "date": when,
                "link": q.get("link") or item_link(str(q.get("item_id") or ""), c.get("name"), "question"),
                "space": q.get("space"),
                "space_kind": q.get("space_kind"),
                "_words": set(_WORD.findall(f"{q.get('title') or ''} {q.get('excerpt') or ''}".lower())),
            }
        )
    out.sort(key=lambda q: q["date"], reverse=True)
    return out


_WORD = re.compile(r"[a-z][a-z0-9']+")


def waiting_themes(c: CommunityFacts, th: dict[str, Any]) -> list[dict[str, Any]]:
    """The themes of the unanswered questions that still have recent questions waiting, most waiting
    first; each recent question goes to the theme whose words it shares most (ties to the larger
    theme). A theme known only from old questions is not named."""
    themes = ((c.get("resonance") or {}).get("unanswered_themes")) or []
    groups: dict[str, dict[str, Any]] = {}
    for q in recent_waiting(c, th):
        scored = [(len(q["_words"] & set(t.get("terms") or [])), -i) for i, t in enumerate(themes)]
        if not scored or max(scored)[0] == 0:
            continue
        t = themes[-max(scored)[1]]
        groups.setdefault(t["label"], {"label": t["label"], "questions": []})["questions"].append(q)
    return sorted(groups.values(), key=lambda g: (-len(g["questions"]), g["label"]))


def _where(waiting: list[dict[str, Any]]) -> str:
    """Where most of the waiting questions were asked (``the stream “python-dev”``), or "" when the
    export names no space or they spread evenly."""
    seen: dict[tuple[str, str], int] = {}
    for q in waiting:
        if q.get("space") and q.get("space_kind") != "site":  # the whole site says nothing
            key = (str(q.get("space_kind") or "space"), str(q["space"]))
            seen[key] = seen.get(key, 0) + 1
    if not seen:
        return ""
    (kind, name), n = max(seen.items(), key=lambda kv: (kv[1], kv[0]))
    if n < 2 and len(waiting) > 1:
        return ""
    return f"the {kind} “{name}”"


def fast_champions(c: CommunityFacts, th: dict[str, Any]) -> list[str]:
    """Champions not known to be slow (median first response within the slow-response limit, or not
    measured), best first: a response rota never leans on someone who typically answers days later."""
    limit = _n(th["slow_response_hours"])
    out = []
    for ch in c.get("champions") or []:
        h = ch.get("median_response_h")
        if (h is None or _n(h) <= limit) and ch.get("label"):
            out.append(ch["label"])
    return out[:3]


def _best_theme(words: set[str], themes: list[dict[str, Any]]) -> str | None:
    """The label of the theme whose terms a text shares most (ties to the earlier, larger theme)."""
    best, label = 0, None
    for t in themes:
        n = len(words & set(t.get("terms") or []))
        if n > best:
            best, label = n, t.get("label")
    return label


def theme_champions(
    c: CommunityFacts, themes: list[dict[str, Any]], th: dict[str, Any]
) -> list[dict[str, Any]]:
    """The members who answer questions like the waiting ones, and fast: answers (``c["answers"]``,
    from the months a prompt may cite) to questions of a waiting theme (by the words they share most
    with it) or asked in the same channel, stream or tag as a waiting question of that theme. A member
    needs ``theme_min_answers`` such answers and a median wait within the slow-response limit; most
    answers first, then the quicker. Each: ``member_id``, ``label``, ``answers``, ``median_h``."""
    answers = c.get("answers") or []
    if not answers or not themes:
        return []
    res = c.get("resonance") or {}
    every = res.get("question_themes") or res.get("unanswered_themes") or []
    wanted = {t["label"] for t in themes}
    spaces = {
        (q.get("space_kind"), q["space"])
        for t in themes
        for q in t["questions"]
        if q.get("space") and q.get("space_kind") != "site"  # the whole site says nothing
    }
    per: dict[str, dict[str, Any]] = {}
    for a in answers:
        if a.get("hours") is None:
            continue
        on_theme = _best_theme(set(_WORD.findall(str(a.get("text") or "").lower())), every) in wanted
        if not on_theme and (a.get("space_kind"), a.get("space")) not in spaces:
            continue
        m = per.setdefault(a["member_id"], {"member_id": a["member_id"], "label": a.get("label"), "h": []})
        m["h"].append(float(a["hours"]))
    least = int(th.get("theme_min_answers", 2))
    limit = _n(th["slow_response_hours"])
    out = []
    for m in per.values():
        med = statistics.median(m["h"])
        if len(m["h"]) >= least and med <= limit and m["label"]:
            out.append(
                {"member_id": m["member_id"], "label": m["label"], "answers": len(m["h"]), "median_h": med}
            )
    out.sort(key=lambda m: (-m["answers"], m["median_h"], m["member_id"]))
    return out[: int(th.get("theme_champions_shown", 3))]


class _Blank(dict):
    """format_map mapping that leaves unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class _Missing(KeyError):
    """A line names a value this community does not have (no fast champion, no goal yet)."""


class _Strict(dict):
    """format_map mapping for lines that make sense only with every value: an empty one drops the line."""

    def __missing__(self, key: str) -> str:
        raise _Missing(key)

    def __getitem__(self, key: str) -> Any:
        v = super().__getitem__(key)
        if v in (None, "", []):
            raise _Missing(key)
        return v


def _lines(texts: list[str], vals: dict[str, Any]) -> list[str]:
    """Each line with its numbers filled in; a line whose value is missing here is left out, so a
    response rota is never proposed without someone quick to answer."""
    out = []
    for t in texts:
        try:
            out.append(t.format_map(_Strict(vals)))
        except _Missing:
            continue
    return out


def prompts(
    c: CommunityFacts, model: dict[str, Any], canvas: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The coaching prompts for a community: at most ``max_prompts``, each with what was seen (numbers
    quoted), open questions and concrete actions, and the waiting questions it is about. ``canvas``
    (goals, experiments and stories already written down, from ``canvas.coaching.canvas_state``)
    adds the next step on the canvas, so a team that runs an experiment is not asked to start one."""
    bank = {p["finding"]: p for p in model["prompt"]}
    out = []
    for f in findings(c, model):
        p = bank.get(f["key"])
        if p is None:
            continue
        out.append(
            {
                "finding": f["key"],
                "title": p["title"],
                "saw": p["saw"].format_map(_Blank(f)),
                # what a sponsor reads beside the title: the finding in one short sentence
                "brief": p.get("brief", p["saw"]).format_map(_Blank(f)),
                "questions": _lines(p["questions"], f),
                "actions": _lines(p["actions"], f),
                "waiting": f.get("waiting") or [],
            }
        )
    cap = int(model["max_prompts"])
    step = canvas_step(canvas, model)
    if step is not None:
        # the team's own work comes right after the most pressing finding
        out = [*out[:1], step, *out[1 : cap - 1]]
    return out[:cap]


def canvas_step(canvas: dict[str, Any] | None, model: dict[str, Any]) -> dict[str, Any] | None:
    """The next step on the canvas, chosen by what it already holds: goals first, then an experiment
    toward them, then the story of what it changed. None when the canvas is not known."""
    if canvas is None:
        return None
    goals = [g for g in canvas.get("goals") or [] if g]
    experiments = canvas.get("experiments") or []
    running = [e["title"] for e in experiments if e.get("status") != "completed" and e.get("title")]
    done = [e["title"] for e in experiments if e.get("status") == "completed" and e.get("title")]
    stories = [s for s in canvas.get("stories") or [] if s]
    if stories:
        when = "stories"
    elif done:
        when = "completed"
    elif running:
        when = "running"
    elif goals:
        when = "goals"
    else:
        when = "empty"
    steps = {s["when"]: s for s in model.get("canvas_step") or []}
    s = steps.get(when)
    if s is None:
        return None
    vals = {
        "goal": goals[0] if goals else "",
        "experiment": (running or done or [""])[0],
        "story": stories[0] if stories else "",
        "n_goals": len(goals),
        "n_experiments": len(experiments),
        "n_stories": len(stories),
        # the counts with their nouns, for sentences ("1 goal", "2 value stories")
        "goals": plural(len(goals), "goal"),
        "experiments": plural(len(experiments), "experiment"),
        "stories": plural(len(stories), "value story", "value stories"),
    }
    return {
        "finding": "canvas_" + when,
        "title": s["title"].format_map(_Blank(vals)),
        "saw": s["saw"].format_map(_Blank(vals)),
        "brief": s["saw"].format_map(_Blank(vals)),
        "questions": _lines(s["questions"], vals),
        "actions": _lines(s["actions"], vals),
        "waiting": [],
    }


def next_steps(
    c: CommunityFacts, canvas: dict[str, Any] | None = None, model: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The next-step cards for one community, as the web overview shows them: the coaching prompts
    with the canvas's next step, each card with its title, what was seen, questions, actions and the
    waiting questions (title, date, link when the export has one)."""
    from covalue import models

    m = model or models.load("coaching")
    return prompts(c, m, canvas)


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
            f"{plural(active, 'member')} did something the others could see, and {solving:,} of them "
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
