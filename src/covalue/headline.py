"""The value headline: what a community did for its members in one window, said in one sentence.

    In the 90 days to 2020-05-31, 11 members got help and 20 colleagues answered questions; 11 of 19
    questions were answered, and half of the threads that got a reply had it within 20.2 hours; ideas
    cannot be seen in this export.

The two people counts are said apart: a colleague who helped may have answered an older question, so the
helpers are not only those of the members who got help in the window.

Every figure is counted with the rule that decides members' stages (``metrics.member_stages``: a member
got help when another member answered their question; a colleague helped when they answered someone
else's; an idea gathered support when enough other members backed it) or with health's responsiveness
(``metrics.health.responsiveness``: thread-opening questions, first reply by someone else), so the
headline never contradicts the journey or health on the same window. Each figure keeps its previous
window (the same length, just before) for the trend, and says how it was counted.

:func:`figures` is the pure part (Ibis tables in, one row per community and period out);
:func:`compose` words one community's rows; :func:`for_workspace` runs both on a workspace, for the
whole community or one of its spaces (channel, category, stream or tag).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.metrics import health as hm
from covalue.metrics.member_stages import contributions_in_windows
from covalue.metrics.windows import periods_table
from covalue.periods import period_index, period_label, window_label
from covalue.presentation import hours, num, table_rows

_KEY = ["community_id", "pidx"]

#: figure key → (label, word in the trend, how it is counted); the order is the order they are shown in
FIGURES: dict[str, tuple[str, str, str]] = {
    "got_help": (
        "members who got help",
        "got help",
        "members whose question was answered by another member in the window (the Solve rule)",
    ),
    "helpers": (
        "colleagues who helped",
        "helped",
        "members who answered another member's question in the window (the Solve rule)",
    ),
    "questions": (
        "questions asked",
        "questions",
        "threads opened with a question in the window, bots left out",
    ),
    "answered": (
        "questions answered",
        "answered",
        "of those questions, the ones another member answered by the window's end",
    ),
    "reply_median_h": (
        "time to a first reply (median)",
        "first reply",
        "half of the threads started in the window had a first reply by someone else within this time",
    ),
    "threads": ("threads started", "threads", "conversations opened by people in the window, bots left out"),
    "ideas": (
        "ideas that gathered support",
        "supported ideas",
        "ideas (by tag, channel or wording) backed by enough other members by the window's end",
    ),
}


def months_back(days: int) -> int:
    """How many months the previous window starts before this one: about one window's length."""
    return max(1, round(days / 30))


def figures(facts: ir.Table, periods: ir.Table, days: int) -> ir.Table:
    """Per community and period (the rows of ``periods``): the headline's figures over the trailing
    window of ``days``, from item facts (pass ``facts`` narrowed to one space to get
    that space's figures)."""
    fw = contributions_in_windows(facts, periods, days)
    people = fw.group_by(*_KEY).aggregate(
        got_help=fw.member_id.nunique(where=fw._seek),
        helpers=fw.member_id.nunique(where=fw._help),
        ideas=fw._idea.ifelse(1, 0).sum(),
    )
    resp = hm.responsiveness(facts, periods, days).select(
        _c="community_id",
        _p="pidx",
        questions="questions",
        answered="answered",
        threads="originals",
        reply_median_h="ttfr_median_h",
    )
    j = resp.left_join(people, (resp._c == people.community_id) & (resp._p == people.pidx))
    return j.select(
        community_id=j._c,
        pidx=j._p,
        got_help=j.got_help.fill_null(0),
        helpers=j.helpers.fill_null(0),
        ideas=j.ideas.fill_null(0),
        questions=j.questions,
        answered=j.answered,
        threads=j.threads,
        reply_median_h=j.reply_median_h,
    )


@dataclass
class Figure:
    """One number of the headline, with the previous window's and how it was counted."""

    key: str
    label: str
    short: str
    value: float | None
    previous: float | None
    window: str
    previous_window: str
    evidence: str

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    def text(self, v: float | None) -> str:
        """A value of this figure as shown: a count, or hours for the reply time."""
        return hours(v) if self.key == "reply_median_h" else num(v)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "delta": self.delta,
            "value_text": self.text(self.value),
            "previous_text": self.text(self.previous),
            "delta_text": signed(self.delta, self.key),
        }


@dataclass
class Headline:
    """A community's value headline for one window (and, when ``space`` is set, one of its spaces)."""

    community_id: str
    community: str
    period: str
    window: str
    previous_period: str
    previous_window: str
    figures: list[Figure]
    sentence: str
    trend: str
    ideas_measurable: bool
    space: str | None = None
    space_name: str | None = None
    #: the shape verdict and the one thing the sponsor can do (added by whoever knows them)
    shape: str | None = None
    shape_sentence: str | None = None
    action: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> float | None:
        return next((f.value for f in self.figures if f.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["figures"] = [f.to_dict() for f in self.figures]
        return d


def _int(v: Any) -> int:
    return int(v or 0)


def _people(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _sentence(row: dict[str, Any], window: str, ideas_measurable: bool, where: str) -> str:
    got, helpers = _int(row.get("got_help")), _int(row.get("helpers"))
    q, a = _int(row.get("questions")), _int(row.get("answered"))
    med = row.get("reply_median_h")
    parts = []
    if got or helpers:
        parts.append(
            f"{_people(got, 'member', 'members')} got help and "
            f"{_people(helpers, 'colleague', 'colleagues')} answered questions"
        )
    else:
        parts.append("no member's question was answered by a colleague")
    if q:
        ans = f"{a:,} of {q:,} {'question was' if q == 1 else 'questions were'} answered"
    else:
        ans = "no question was asked"
    if med is not None:
        # the median is over the threads that got a reply: a thread with none has no time to count
        ans += f", and half of the threads that got a reply had it within {hours(med)}"
    parts.append(ans)
    if not ideas_measurable:
        parts.append("ideas cannot be seen in this export")
    else:
        n = _int(row.get("ideas"))
        parts.append(
            f"{_people(n, 'idea', 'ideas')} gathered support" if n else "no idea gathered support yet"
        )
    return f"In the {window}{where}, " + "; ".join(parts) + "."


def signed(d: float | None, key: str) -> str:
    """A change in words: ``+3``, ``−2``, or for the reply time ``4.8 hours faster``."""
    if d is None:
        return "no earlier window"
    if not d:
        return "no change"
    if key == "reply_median_h":
        return hours(abs(d)) + (" faster" if d < 0 else " slower")
    return f"{d:+,.0f}".replace("-", "\u2212")


def _trend(figs: list[Figure], previous_window: str) -> str:
    moved = [f for f in figs if f.delta]
    if not moved:
        return f"The same as in the {previous_window}."
    said = ", ".join(f"{f.short} {signed(f.delta, f.key)}" for f in moved)
    return f"Compared with the {previous_window}: {said}."


def compose(
    community_id: str,
    community: str,
    period: str,
    days: int,
    now: dict[str, Any] | None,
    before: dict[str, Any] | None,
    *,
    ideas_measurable: bool = True,
    space: str | None = None,
    space_name: str | None = None,
) -> Headline:
    """The headline of one community at ``period`` from its :func:`figures` rows for this window
    (``now``) and the previous one (``before``); a missing row means nothing happened in that window."""
    prev = period_label(period_index(period) - months_back(days))
    window = window_label("window", period, days)
    prev_window = window_label("window", prev, days)
    now = now or {}
    figs = []
    for key, (label, short, how) in FIGURES.items():
        if key == "ideas" and not ideas_measurable:
            continue
        empty = None if key == "reply_median_h" else 0
        v = now.get(key, empty)
        p = (before or {}).get(key, empty)
        figs.append(Figure(key, label, short, v, p, window, prev_window, how))
    where = f" in {space_name}" if space_name else ""
    return Headline(
        community_id=community_id,
        community=community,
        period=period,
        window=window,
        previous_period=prev,
        previous_window=prev_window,
        figures=figs,
        sentence=_sentence(now, window, ideas_measurable, where),
        trend=_trend(figs, prev_window),
        ideas_measurable=ideas_measurable,
        space=space,
        space_name=space_name,
    )


def for_workspace(
    ws: Any,
    *,
    community: str | None = None,
    period: str | None = None,
    space: str | None = None,
    periods_by_community: dict[str, str] | None = None,
) -> dict[str, Headline]:
    """Each community's headline (or one community's, or one space's when ``space`` is a space id) at
    ``period``, at ``periods_by_community[cid]``, or at the community's default month as health shows it."""
    from covalue import diagnosis, journey

    days = int(diagnosis.model(ws)["window"]["days"])
    facts = journey.derived(ws, "item_facts")
    names = {r["community_id"]: r["name"] for r in table_rows(ws.table("communities"))}
    space_name = None
    if space:
        sp = ws.table("spaces")
        found = table_rows(sp.filter(sp.space_id == space).select("community_id", "name", "kind"))
        if not found:
            raise LookupError(f"no space {space!r} in {ws.path}")
        community = found[0]["community_id"]
        space_name = " ".join(x for x in (found[0].get("kind"), found[0]["name"]) if x)
        facts = facts.filter(facts.space_id == space)
    if community:
        facts = facts.filter(facts.community_id == community)
    if period:
        chosen = {cid: period_index(period) for cid in ([community] if community else names)}
    elif periods_by_community:
        chosen = {cid: period_index(p) for cid, p in periods_by_community.items()}
    else:
        chosen = diagnosis.default_periods(ws, community)
    if community:
        chosen = {k: v for k, v in chosen.items() if k == community}
    back = months_back(days)
    wanted = sorted({p for v in chosen.values() for p in (v, v - back)})
    if not wanted:
        return {}
    periods = ibis.memtable(periods_table(min(wanted), max(wanted), days))
    periods = periods.filter(periods.pidx.isin(wanted))
    rows = {(r["community_id"], r["pidx"]): r for r in table_rows(figures(facts, periods, days))}
    with_ideas = set(
        facts.filter(facts.is_idea).select("community_id").distinct().to_pyarrow().column(0).to_pylist()
    )
    out = {}
    for cid, p in sorted(chosen.items()):
        out[cid] = compose(
            cid,
            names.get(cid, cid),
            period_label(p),
            days,
            rows.get((cid, p)),
            rows.get((cid, p - back)),
            ideas_measurable=cid in with_ideas,
            space=space,
            space_name=space_name,
        )
    return out


def shape_sentence(explanation: str | None) -> str | None:
    """The verdict part of a shape explanation (``metrics.health.explain_shape``), without the numbers
    that follow it: "Shape: community — no single voice dominates (...)"."""
    if not explanation:
        return None
    said = explanation.split(" The numbers:", 1)[0].strip()
    verdict, sep, why = said.partition(": ")
    # "Community: no single voice..." would read as a name beside the community's own
    return f"Shape: {verdict.lower()} — {why}" if sep and len(verdict) <= 30 else said
