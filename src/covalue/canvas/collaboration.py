"""The Collaboration canvas as plain data: its sections, the three-way merge that keeps two people's
simultaneous edits, the evidence each section is prefilled with, role suggestions from the network
analysis, and the experiment rows the maturity model reads as evidence (participants with their
experiment's window and space, and the items linked to it).

Everything here is a pure function of its arguments (no store, no workspace), so the web app, the CLI
and the report share it and the tests can plant exactly what they check.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from covalue.presentation import plural

#: the fields people edit, per kind of object (the store versions and merges exactly these)
ENTRY_FIELDS = ("section", "kind", "text", "detail", "link", "member_id", "owner", "confirmed", "deleted")
EXPERIMENT_FIELDS = (
    "title",
    "hypothesis",
    "target",
    "owner",
    "starts_on",
    "ends_on",
    "measures",
    "status",
    "outcome",
    "lesson",
    "entry_id",
    "space_id",
)
STORY_FIELDS = (
    "title",
    "immediate",
    "potential",
    "applied",
    "realized",
    "reframing",
    "experiment_id",
    "goal_link",
    "items",
    "members",
)
#: text fields where two different edits are both kept (joined) rather than one chosen
TEXT_FIELDS = frozenset(
    {
        "text",
        "detail",
        "owner",
        "hypothesis",
        "measures",
        "outcome",
        "lesson",
        "immediate",
        "potential",
        "applied",
        "realized",
        "reframing",
        "title",
    }
)
MERGE_MARK = "\n— and, saved at the same time —\n"

#: the canvas sections in order: key, heading, what goes there, and the kinds of entry it takes
SECTIONS: list[dict[str, Any]] = [
    {
        "key": "goals",
        "title": "1. Goals and alignment",
        "intro": "The organisation's strategic goals, the community's own goals, and which strategic goal "
        "each community goal serves.",
        "kinds": ["goal", "strategic"],
    },
    {
        "key": "opportunities",
        "title": "2. Opportunities → action and experimentation",
        "intro": "Opportunities members see, turned into actions they can take alone or with others, and "
        "into experiments.",
        "kinds": ["opportunity", "action"],
    },
    {
        "key": "capability",
        "title": "3. Capability",
        "intro": "Skills people need to run this themselves, barriers in the way, and who clears each.",
        "kinds": ["skill", "barrier"],
    },
    {
        "key": "roles",
        "title": "4. Roles",
        "intro": "Leader, champions, core group and sponsor. Suggestions come from the network analysis; "
        "a person confirms each one.",
        "kinds": ["leader", "champion", "core", "sponsor"],
    },
]
SECTION_KEYS = tuple(s["key"] for s in SECTIONS)
KIND_WORDS = {
    "goal": "Community goal",
    "strategic": "Strategic goal",
    "opportunity": "Opportunity",
    "action": "Action",
    "skill": "Skill needed",
    "barrier": "Barrier",
    "leader": "Leader",
    "champion": "Champion",
    "core": "Core group",
    "sponsor": "Sponsor",
}
TARGETS = ("connect", "share", "solve", "innovate", "growth", "effectiveness", "velocity", "protection")
STATUSES = ("planned", "running", "completed", "dropped")


def section_of(kind: str) -> str | None:
    return next((s["key"] for s in SECTIONS if kind in s["kinds"]), None)


def merge3(
    base: dict[str, Any], theirs: dict[str, Any], mine: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Merge ``mine`` (an edit of ``base``) into ``theirs`` (what was saved meanwhile, also from
    ``base``). A field only one side changed takes that change; a field both changed alike is fine; a
    text both changed differently keeps both texts, theirs first; any other field takes mine (the
    later save) and is listed as a conflict, its other value stays in the history."""
    out: dict[str, Any] = {}
    conflicts: list[str] = []
    for key in set(base) | set(theirs) | set(mine):
        b, t, m = base.get(key), theirs.get(key), mine.get(key)
        if m in (b, t):
            out[key] = t
        elif t == b:
            out[key] = m
        else:
            conflicts.append(key)
            if key in TEXT_FIELDS and isinstance(t, str) and isinstance(m, str):
                out[key] = m if not t else t if not m else f"{t}{MERGE_MARK}{m}"
            elif isinstance(t, list) and isinstance(m, list):
                # lists (linked items, members): both sides' additions kept, both sides' removals done
                removed = {x for x in (b or []) if x not in t or x not in m}
                out[key] = [x for x in dict.fromkeys([*t, *m]) if x not in removed]
            else:
                out[key] = m
    return out, sorted(conflicts)


def evidence(c: dict[str, Any] | None) -> dict[str, list[str]]:
    """What the analysis says that each section should start from, in short sentences.
    ``c`` is a community's facts (covalue.report.facts.gather / the web snapshot)."""
    out: dict[str, list[str]] = {k: [] for k in SECTION_KEYS}
    if not c:
        for k in SECTION_KEYS:
            out[k].append("No analysis yet for this community: upload an export to see its evidence here.")
        return out
    mix = c.get("mix") or {}
    active = int(mix.get("active") or 0)
    h = c.get("health") or {}
    shape = (h.get("shape") or {}).get("shape")
    period = c.get("period")
    if active:
        parts = ", ".join(
            f"{int(mix.get(s) or 0)} at {s.title()}" for s in ("connect", "share", "solve", "innovate")
        )
        days = c.get("window_days") or 90
        out["goals"].append(
            f"In the {days} days to the end of {period}, {plural(active, 'member')} took part where others "
            f"could see it: {parts}."
        )
    if shape:
        why = (h.get("shape") or {}).get("explanation") or f"Shape: {shape} (the Health tab says why)."
        out["goals"].append(why)
    unanswered = h.get("unanswered") or []
    resp = h.get("responsiveness") or {}
    if unanswered:
        out["opportunities"].append(
            f"{plural(len(unanswered), 'question')} still had no answer from another member at the end of "
            f"{period}."
        )
    rate = resp.get("response_rate")
    if rate is not None:
        out["opportunities"].append(f"{rate:.0%} of posts got a reply or reaction in the window.")
    res = c.get("resonance") or {}
    topics = [t.get("term") or t.get("label") for t in (res.get("topics") or [])[:3] if isinstance(t, dict)]
    topics = [t for t in topics if t]
    if topics:
        out["opportunities"].append("What resonates most: " + ", ".join(topics) + ".")
    failed = [ch for ch in (c.get("checks") or []) if not ch.get("passed")]
    for ch in failed[:3]:
        out["capability"].append(
            f"Not yet passing ({ch.get('stage')}): {ch.get('measure')} is {ch.get('value')}, "
            f"needs {ch.get('op')} {ch.get('threshold')}."
        )
    champions = c.get("champions") or []
    if champions:
        out["roles"].append(
            f"{plural(len(champions), 'champion')} found by the network analysis; the suggestions below say why."
        )
    else:
        out["roles"].append("The network analysis found no champions in the window yet.")
    for k in SECTION_KEYS:
        if not out[k]:
            out[k].append("Nothing stands out in the data for this section: start from the questions.")
    return out


def role_suggestions(c: dict[str, Any] | None, *, limit: int = 5) -> list[dict[str, Any]]:
    """Leader, champions and core group suggested from the champions ranking, each with its evidence.
    The first champion is offered as leader; people confirm or ignore every suggestion."""
    champions = (c or {}).get("champions") or []
    out = []
    for i, ch in enumerate(champions[:limit]):
        kind = "leader" if i == 0 else "champion"
        out.append({"kind": kind, "member_id": ch["member_id"], "evidence": ch.get("evidence") or ""})
    for ch in champions[limit:]:
        if ch.get("in_core"):
            out.append({"kind": "core", "member_id": ch["member_id"], "evidence": ch.get("evidence") or ""})
    return out


def completion_time(ends_on: date | None, completed_at: datetime) -> datetime:
    """When an experiment's participation counts: the end of its last day when it has an end date
    (so the window it ran in is the one credited), else the moment it was marked complete."""
    if ends_on is None:
        return completed_at
    return min(datetime.combine(ends_on, time(23, 59, 59)), completed_at)


def start_time(starts_on: date | None, created_at: datetime | None) -> datetime | None:
    """When an experiment began: its start date at midnight, else when it was entered (an experiment
    without dates still has a moment before which nothing done counts as a contribution)."""
    if starts_on is not None:
        return datetime.combine(starts_on, time())
    return created_at


def window(e: dict[str, Any], now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """The span in which posting in the experiment's space counts as contributing: from its start to
    its completion (completed), else to the end of its last day, else open (``None``)."""
    start = start_time(_day(e.get("starts_on")), _moment(e.get("created_at")))
    ends_on = _day(e.get("ends_on"))
    done = _moment(e.get("completed_at"))
    if e.get("status") == "completed" and done is not None:
        end: datetime | None = completion_time(ends_on, done)
    elif ends_on is not None:
        end = datetime.combine(ends_on, time(23, 59, 59))
    else:
        end = now
    return start, end


def _day(v: Any) -> date | None:
    if isinstance(v, str):
        return date.fromisoformat(v) if v else None
    if isinstance(v, datetime):
        return v.date()
    return v


def _moment(v: Any) -> datetime | None:
    return datetime.fromisoformat(v) if isinstance(v, str) and v else v or None


def _completed(experiments: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The experiments completed (with a completion time): the ones the workspace tables hold."""
    return (e for e in experiments if e.get("status") == "completed" and e.get("completed_at") is not None)


def participant_rows(
    experiments: list[dict[str, Any]], participants: dict[int, list[str]]
) -> list[dict[str, Any]]:
    """``experiment_participants`` rows for the completed experiments: member_id, community_id,
    completed_at, experiment_id, and the evidence window's start (``started_at``) and the space it ran
    in (``space_id``), so the analysis can tell a member who contributed from one who was listed."""
    rows = []
    for e in _completed(experiments):
        started, at = window(e)
        for m in sorted(set(participants.get(e["id"], []))):
            rows.append(
                {
                    "member_id": m,
                    "community_id": e["community_id"],
                    "completed_at": at,
                    "experiment_id": int(e["id"]),
                    "started_at": started,
                    "space_id": e.get("space_id") or None,
                }
            )
    return rows


def item_rows(experiments: list[dict[str, Any]], items: dict[int, list[str]]) -> list[dict[str, Any]]:
    """``experiment_items`` rows (experiment_id, community_id, item_id): the items people linked to a
    completed experiment as its contributions (the same experiments as :func:`participant_rows`)."""
    rows = []
    for e in _completed(experiments):
        for i in sorted(set(items.get(e["id"], []))):
            rows.append({"experiment_id": int(e["id"]), "community_id": e["community_id"], "item_id": i})
    return rows
