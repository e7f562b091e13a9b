"""Charts of a community's health: responsiveness month by month, membership and retention, and
campaign spikes with what persisted after them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covalue import periods
from covalue.presentation import hours, pct
from covalue.report.charts.base import CYCLE, OKABE_ITO, chart, layout, round_ticks

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts


def responsiveness(c: CommunityFacts) -> dict | None:
    rows = [r for r in c.get("response_monthly") or [] if r.get("threads")]
    if not rows:
        return None
    months = [r["month"] for r in rows]
    fig = {
        "data": [
            {
                "type": "bar",
                "name": "threads with a response (%)",
                "x": months,
                "y": [round(100 * (r["rate"] or 0), 1) for r in rows],
                "marker": {"color": OKABE_ITO["sky"]},
                "hovertemplate": "%{x}: %{y:.0f}% got a response<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "median hours to first response",
                "x": months,
                "y": [None if r["median_h"] is None else round(r["median_h"], 1) for r in rows],
                "yaxis": "y2",
                "line": {"color": OKABE_ITO["vermillion"], "width": 2},
                "marker": {"symbol": "diamond"},
                "hovertemplate": "%{x}: median %{y} h<extra></extra>",
            },
        ],
        "layout": layout(
            "Responsiveness by month",
            x="month the thread was started",
            y="threads with a response (%)",
            yaxis={"title": {"text": "threads with a response (%)"}, "range": [0, 105], "ticksuffix": "%"},
            yaxis2={
                "title": {"text": "median hours to first response (h)"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
                "tickformat": ",.0f",
                "nticks": 6,
            },
            margin={"l": 70, "r": 70, "t": 50, "b": 60},
        ),
    }
    waits = [r["median_h"] for r in rows if r["median_h"] is not None]
    if waits and max(waits) < 2:  # near-instant responses: keep the hour axis readable
        fig["layout"]["yaxis2"].update(range=[0, 2], tickformat=".1f", rangemode="normal")
    elif waits:
        # the hour axis beside a percentage axis ticks at round hours, not at a fifth of its maximum
        ticks = round_ticks(max(waits))
        fig["layout"]["yaxis2"].update(**ticks, rangemode="normal", tickformat=",~g")
        fig["layout"]["yaxis2"].pop("nticks", None)
    last = rows[-1]
    wait = "" if last["median_h"] is None else f", after a median of {hours(last['median_h'])}"
    summary = (
        f"In {last['month']}, {last['responded']:,} of {last['threads']:,} new threads ({pct(last['rate'])}) got a "
        f"response from someone else{wait}."
    )
    columns = ["month", "threads", "with a response", "share", "median hours"]
    table = [[r["month"], r["threads"], r["responded"], pct(r["rate"]), r["median_h"]] for r in rows]
    if any(r.get("inferred") for r in rows):
        # chat without threads: say which waits rest on replies covalue inferred, not ones the export holds
        n = sum(int(r.get("inferred") or 0) for r in rows)
        summary += f" {n:,} of the waits shown rest on inferred replies (inferred: {c['chat_reply_rule']})."
        columns.append("first replies inferred")
        table = [[*t, int(r.get("inferred") or 0)] for t, r in zip(table, rows, strict=True)]
    return chart(c["id"], "response", fig, summary, columns, table)


def membership(c: CommunityFacts) -> dict | None:
    d = c.get("dynamics") or {}
    months = d.get("monthly") or []
    if not months:
        return None
    x = [m["month"] for m in months]
    mode = "lines+markers" if len(x) <= 24 else "lines"  # markers crowd a long history
    data = [
        {
            "type": "bar",
            "name": "active members",
            "x": x,
            "y": [m["active"] for m in months],
            "marker": {"color": OKABE_ITO["blue"]},
            "hovertemplate": "%{x}: %{y} active<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": mode,
            "name": "newcomers",
            "x": x,
            "y": [m["newcomers"] for m in months],
            "line": {"color": OKABE_ITO["orange"], "width": 2},
            "hovertemplate": "%{x}: %{y} newcomers<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": mode,
            "name": "lapsed (quiet for 3 months)",
            "x": x,
            "y": [m.get("lapsed") for m in months],
            "line": {"color": OKABE_ITO["vermillion"], "width": 2, "dash": "dot"},
            "marker": {"symbol": "x"},
            "hovertemplate": "%{x}: %{y} lapsed<extra></extra>",
        },
    ]
    spikes = [s for s in d.get("spikes") or [] if s.get("month") in x]
    shapes = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": _month_edge(s["month"], -1),
            "x1": _month_edge(s["month"], 0),
            "y0": 0,
            "y1": 1,
            "fillcolor": OKABE_ITO["yellow"],
            "opacity": 0.35,
            "line": {"width": 0},
            "layer": "below",
        }
        for s in spikes
    ]
    notes = [
        {
            "x": s["month"],
            "y": 1,
            "yref": "paper",
            "text": "campaign spike",
            "showarrow": False,
            "yanchor": "bottom",
            "font": {"size": 11},
        }
        for s in spikes
    ]
    fig = {
        "data": data,
        "layout": layout(
            "Membership by month", x="month", y="members (people)", shapes=shapes, annotations=notes
        ),
    }
    g = d.get("growth") or {}
    summary = f"Active members per month went from {months[0]['active']:,} in {x[0]} to {months[-1]['active']:,} in {x[-1]}"
    summary += f"; growth verdict: {g['verdict']}." if g.get("verdict") else "."
    rows = [
        [m["month"], m["active"], m["newcomers"], m["joined"], m["left"], m.get("lapsed")] for m in months
    ]
    return chart(
        c["id"], "members", fig, summary, ["month", "active", "newcomers", "joined", "left", "lapsed"], rows
    )


def _month_edge(month: str, shift: int) -> str:
    """The middle of the gap between ``month`` and its neighbour: plotly centres a month's bar on its
    first day, so a band from the 16th before to the 15th of the month covers that bar."""
    if shift < 0:
        return f"{periods.shift(month, -1)}-16"
    return f"{month}-15"


def retention(c: CommunityFacts, min_size: int = 5, most: int = 6) -> dict | None:
    """Share of each monthly cohort still active k months after its first month; only cohorts of at
    least ``min_size`` people (privacy), at most ``most`` of the largest, plus the all-cohort average."""
    ret = (c.get("dynamics") or {}).get("retention") or []
    cohorts: dict[str, list[dict]] = {}
    for r in ret:
        cohorts.setdefault(r["cohort"], []).append(r)
    big = {k: v for k, v in cohorts.items() if v and v[0]["size"] >= min_size}
    if not big:
        return None
    chosen = sorted(sorted(big, key=lambda k: -big[k][0]["size"])[:most])
    data = []
    for i, k in enumerate(chosen):
        pts = sorted(big[k], key=lambda r: r["k"])
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"joined {k} ({pts[0]['size']})",
                "x": [p["k"] for p in pts],
                "y": [round(100 * p["share"], 1) for p in pts],
                "line": {"color": CYCLE[i % len(CYCLE)], "width": 1.5},
                "hovertemplate": f"cohort {k}, month +%{{x}}: %{{y:.0f}}%<extra></extra>",
            }
        )
    avg: dict[int, list[int]] = {}
    for v in big.values():
        for r in v:
            a = avg.setdefault(r["k"], [0, 0])
            a[0] += r["active"]
            a[1] += r["size"]
    everyone = sum(v[0]["size"] for v in big.values())
    # later months are seen only for the oldest cohorts; stop the average when they hold under half the people
    ks = [k for k in sorted(avg) if avg[k][1] * 2 >= everyone]
    mean = [round(100 * avg[k][0] / avg[k][1], 1) if avg[k][1] else None for k in ks]
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "all cohorts",
            "x": ks,
            "y": mean,
            "line": {"color": "#000000", "width": 3, "dash": "dash"},
            "hovertemplate": "all cohorts, month +%{x}: %{y:.0f}%<extra></extra>",
        }
    )
    fig = {
        "data": data,
        "layout": layout(
            "Retention: who is still active after their first month",
            x="months after first activity",
            y="cohort still active (%)",
            yaxis={"title": {"text": "cohort still active (%)"}, "range": [0, 105], "ticksuffix": "%"},
            xaxis={"title": {"text": "months after first activity"}, "dtick": 1},
            legend={"orientation": "h", "y": -0.3, "x": 0},
            margin={"l": 70, "r": 30, "t": 50, "b": 110},
            height=400,
        ),
    }
    k3 = next((i for i, k in enumerate(ks) if k == 3), None)
    summary = f"Across {len(big)} cohort{'' if len(big) == 1 else 's'} of at least {min_size} people, " + (
        f"{mean[k3]:.0f}% were still active 3 months after their first month."
        if k3 is not None and mean[k3] is not None
        else f"{len(ks)} months of follow-up are available."
    )
    rows = [[k, mean[i]] for i, k in enumerate(ks)]
    return chart(
        c["id"], "retention", fig, summary, ["months after first activity", "still active (%)"], rows
    )


def spikes(c: CommunityFacts) -> dict | None:
    sp = [
        s
        for s in (c.get("dynamics") or {}).get("spikes") or []
        if any(v is not None for v in s.get("still_active") or [])
    ]
    if not sp:
        return None
    data = []
    for i, s in enumerate(sp):
        ks = list(range(1, len(s["still_active"]) + 1))
        data.append(
            {
                "type": "bar",
                "name": f"spike {s['month']} ({s.get('newcomers', 0)} newcomers)",
                "x": [f"+{k} month{'s' if k > 1 else ''}" for k in ks],
                "y": [None if v is None else round(100 * v, 1) for v in s["still_active"]],
                "marker": {"color": CYCLE[i % len(CYCLE)]},
                "hovertemplate": "%{x}: %{y:.0f}% still active<extra></extra>",
            }
        )
    fig = {
        "data": data,
        "layout": layout(
            "What persisted after campaign spikes",
            x="time after the spike month",
            y="spike newcomers still active (%)",
            yaxis={
                "title": {"text": "spike newcomers still active (%)"},
                "range": [0, 100],
                "ticksuffix": "%",
            },
            barmode="group",
            height=320,
        ),
    }
    summary = " ".join(s.get("explanation") or "" for s in sp).strip()
    rows = [
        [
            s["month"],
            s.get("acts"),
            s.get("baseline"),
            s.get("newcomers"),
            *[pct(v) for v in (s["still_active"] + [None] * 3)[:3]],
        ]
        for s in sp
    ]
    return chart(
        c["id"],
        "spikes",
        fig,
        summary,
        ["month", "acts", "everyday median", "newcomers", "after 1 month", "after 2", "after 3"],
        rows,
    )


# -- network and resonance ------------------------------------------------------------------------------
