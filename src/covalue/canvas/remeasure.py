"""Re-measure: what changed alongside each experiment. The month before it started and the month it
ended (or the first measured since), the community as a whole and the experiment's participants beside
everyone else, with the figures its own "measures to watch" names first. It shows movement, not cause,
and says so (:data:`CALM`)."""

from __future__ import annotations

import logging
import re
from typing import Any

import ibis
import pyarrow as pa

from covalue import diagnosis, journey, privacy, stages
from covalue.canvas.collaboration_service import Workbench
from covalue.metrics import health as hm
from covalue.metrics.windows import periods_table
from covalue.periods import period_index
from covalue.presentation import hours, pct

log = logging.getLogger(__name__)
CALM = (
    "These figures were measured before and after the experiment's window. They show what changed "
    "alongside it, not what it caused: other things happened in the same months, and a small group "
    "moves a lot by chance."
)


#: figures re-measure shows for both groups, in their default order: key, label, how it reads
MEASURES: list[tuple[str, str]] = [
    ("active", "Active members"),
    ("solve_plus", "At Solve or beyond (share of the active)"),
    *[(f"stage:{st}", f"At {stages.label(st)} (share of the active)") for st in stages.ORDER],
    ("response_rate", "Threads they opened that got a response"),
    ("ttfr", "Median time to first reply on their threads"),
    ("answered", "Their questions answered by another member"),
]
_LABELS = dict(MEASURES)
#: what an experiment's own "measures to watch" may name, most specific first (a phrase matched is
#: blanked out, so "time to first answer" does not also read as "questions answered")
WATCH_WORDS: list[tuple[str, str]] = [
    (
        "ttfr",
        r"time\s+to\s+(?:the\s+)?first\s+(?:response|reply|answer)|first[- ]response\s+time|"
        r"response\s+times?|reply\s+times?|\bttfr\b|\bwait(?:ing)?\b|d[ée]lai",
    ),
    (
        "response_rate",
        r"response\s+rate|reply\s+rate|\bresponded\b|got\s+a\s+(?:response|reply)|taux\s+de\s+r[ée]ponse",
    ),
    ("answered", r"questions?\s+answered|\bunanswered\b|\banswered\b|answer\s+rate|r[ée]solu"),
    ("active", r"active\s+members?|\bactive\b|\bparticipation\b|membres\s+actifs"),
    ("solve_plus", r"solve\s+or\s+beyond|solve\s*\+"),
    # a stage by name only where it reads as one ("at Solve", "reach Innovate", "the Share stage"):
    # "share" and "connect" are ordinary words too
    *[
        (f"stage:{st}", rf"\b(?:at|reach\w*|into|stage)\s+{st}\b|\b{st}\s+(?:stage|level)\b")
        for st in reversed(stages.ORDER)
    ],
]


def watched(text: str) -> list[str]:
    """The figures an experiment's "measures to watch" names, in the order the text names them."""
    low = (text or "").lower()
    found: list[tuple[int, str]] = []
    for key, pattern in WATCH_WORDS:
        for m in re.finditer(pattern, low):
            found.append((m.start(), key))
            low = low[: m.start()] + " " * (m.end() - m.start()) + low[m.end() :]
    seen: dict[str, None] = {}
    for _pos, key in sorted(found):
        seen.setdefault(key, None)
    return list(seen)


def remeasure(
    site: Workbench, cid: str, c: dict[str, Any], exps: list[dict[str, Any]], *, see_people: bool = False
) -> list[dict[str, Any]]:
    """Per experiment with dates: the month before it started and the month it ended (or the first
    measured since), the community as a whole (stage mix, shape, response rate) and its participants
    beside everyone else, with the figures its own "measures to watch" names first. A group of
    participants too small to hide a person is shown only to ``see_people`` viewers."""
    hist = {m["period"]: m for m in c.get("mix_history") or []}
    periods = sorted(hist)
    out = []
    for e in exps:
        start, end = e.get("starts_on"), e.get("ends_on")
        watch = watched(e.get("measures") or "")
        row: dict[str, Any] = {
            "experiment": e,
            "before": None,
            "after": None,
            "note": None,
            "watched": watch,
            "unread": bool((e.get("measures") or "").strip()) and not watch,
            "measures": [],
            "group_note": None,
            "window_days": None,
        }
        if not start or not periods:
            row["note"] = "Give the experiment a start date to compare before and after."
            out.append(row)
            continue
        s_month = start[:7]
        before = [p for p in periods if p < s_month]
        e_month = (end or start)[:7]
        after = [p for p in periods if p >= e_month] or []
        if not before:
            row["note"] = "No month was measured before this experiment started."
        if not after:
            row["note"] = "No month has been measured since this experiment ended; upload newer data."
        sides = {"before": before[-1] if before else None, "after": after[0] if after else None}
        for key, p in sides.items():
            if p is None:
                continue
            row[key] = {"period": p, "mix": hist[p], **_health_at(site, cid, p)}
        members = e.get("participants")
        if isinstance(members, list) and members and not see_people and privacy.small(len(members), site.ws):
            row["group_note"] = (
                f"Fewer than {site.ws.settings.privacy.min_group_size} participants: their own figures "
                "are shown only to people who may see members."
            )
        elif isinstance(members, list) and any(sides.values()):
            figs = _group_figures(site, cid, [p for p in sides.values() if p], set(members))
            row["window_days"] = figs.pop("window_days", None)
            if figs:
                row["measures"] = _measure_rows(figs, sides, watch, len(members))
        out.append(row)
    return out


def _group_figures(site: Workbench, cid: str, periods: list[str], members: set[str]) -> dict[str, Any]:
    """For each period and group (``participants``, ``others``): members present, active, at each
    stage, and the threads they opened in the window: how many, how many got a response or a reply,
    the median hours to the first reply, questions and questions answered (health's definitions)."""
    out: dict[str, Any] = {}
    wanted = sorted({period_index(p) for p in periods})
    try:
        with site.lock:
            ws = site.ws
            days = int(diagnosis.model(ws)["window"]["days"])
            out["window_days"] = days
            ms = journey.derived(ws, "member_stages", run_if_missing=False)
            ms = ms.filter((ms.community_id == cid) & ms.period.isin(periods))
            people = ms.select("member_id", "period", "stage", "n_interactions").to_pyarrow().to_pylist()
            pt = pa.concat_tables([periods_table(p, p, days) for p in wanted])
            facts = journey.derived(ws, "item_facts", run_if_missing=False)
            facts = facts.filter(facts.community_id == cid)
            ids = sorted(members) or ["\x00"]
            threads = {}
            for group, sel in (
                ("participants", facts.author_member.isin(ids)),
                ("others", ~facts.author_member.isin(ids)),
            ):
                r = hm.responsiveness(facts.filter(sel), ibis.memtable(pt), days)
                threads[group] = {x["pidx"]: x for x in r.to_pyarrow().to_pylist()}
    except Exception as e:  # a workspace without results: the groups are left out, said in the log
        log.warning("collaboration: participants/others of %s unreadable: %s", cid, e)
        return {}
    for p in periods:
        pidx = period_index(p)
        for group in ("participants", "others"):
            rows = [
                r
                for r in people
                if r["period"] == p and (r["member_id"] in members) == (group == "participants")
            ]
            active = [r for r in rows if (r["n_interactions"] or 0) > 0]
            f: dict[str, Any] = {
                "present": len(members) if group == "participants" else len(rows),
                "active": len(active),
                **{st: sum(1 for r in active if r["stage"] == st) for st in stages.ORDER},
            }
            f["solve_plus"] = f["solve"] + f["innovate"]
            t = threads[group].get(pidx) or {}
            for k in ("originals", "responded", "questions", "answered", "ttfr_median_h"):
                f[k] = t.get(k)
            out.setdefault(p, {})[group] = f
    return out


def _pct(num: Any, den: Any) -> tuple[float | None, str]:
    if not den:
        return None, "–"
    v = float(num or 0) / float(den)
    return v, f"{pct(v)} ({int(num or 0)} of {int(den)})"


def _measure_value(key: str, f: dict[str, Any] | None, listed: int) -> dict[str, Any]:
    """One figure of one group in one month, as a number (for the API) and as text (for the page)."""
    if not f:
        return {"value": None, "text": "–"}
    if key == "active":
        of = f" of {listed} listed" if listed else ""
        return {"value": f["active"], "text": f"{f['active']}{of}" if of else str(f["active"])}
    if key == "solve_plus" or key.startswith("stage:"):
        st = key.split(":", 1)[1] if ":" in key else "solve_plus"
        v, text = _pct(f[st], f["active"])
        return {"value": v, "count": f[st], "text": text}
    if key == "response_rate":
        v, text = _pct(f["responded"], f["originals"])
        return {"value": v, "text": text}
    if key == "answered":
        v, text = _pct(f["answered"], f["questions"])
        return {"value": v, "text": text}
    if key == "ttfr":
        h = f.get("ttfr_median_h")
        return {"value": h, "text": hours(h)}
    raise KeyError(key)


def _measure_rows(
    figs: dict[str, Any], sides: dict[str, str | None], watch: list[str], listed: int
) -> list[dict[str, Any]]:
    """The figures in the order to show them: the ones the experiment watches first, then the rest."""
    order = [*watch, *[k for k, _ in MEASURES if k not in watch]]
    rows = []
    for key in order:
        row: dict[str, Any] = {"key": key, "label": _LABELS[key], "watched": key in watch}
        for group in ("participants", "others"):
            row[group] = {
                side: _measure_value(
                    key,
                    (figs.get(p) or {}).get(group) if p else None,
                    listed if group == "participants" else 0,
                )
                for side, p in sides.items()
            }
        rows.append(row)
    return rows


def _health_at(site: Workbench, cid: str, period: str) -> dict[str, Any]:
    try:
        with site.lock:
            h = diagnosis.health(site.ws, community=cid, period=period).get(cid) or {}
    except Exception as e:  # a month the health model cannot judge shows without health
        log.warning("collaboration: health of %s at %s failed: %s", cid, period, e)
        return {"shape": None, "response_rate": None}
    return {
        "shape": (h.get("shape") or {}).get("shape"),
        "response_rate": (h.get("responsiveness") or {}).get("response_rate"),
    }
