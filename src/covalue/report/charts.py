"""Plotly chart specs for the report, as plain dicts (``{"data": [...], "layout": {...}}``) rendered in the
page by the plotly.js inlined once. Every chart comes with a title, axis titles with units, a one-line
text summary (also its aria-label) and a data table, so the numbers are there without the picture.

Colours follow the Okabe–Ito palette, which stays distinguishable for the common colour-vision
deficiencies; stages also differ in position and label, never in colour alone.
"""

from __future__ import annotations

import math
from typing import Any

from covalue import stages
from covalue.report.coaching import pct

OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
GREY = "#A0A0A0"
STAGE_COLOURS = stages.COLOURS
STAGE_WORDS = stages.LABELS
STAGES = stages.ORDER
CYCLE = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]
FONT = {
    "family": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    "size": 13,
    "color": "#222",
}


def _layout(
    title: str, *, x: str | None = None, y: str | None = None, height: int = 340, **extra: Any
) -> dict:
    lay: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": FONT,
        "height": height,
        "margin": {"l": 70, "r": 30, "t": 50, "b": 60},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": -0.25, "x": 0},
        "hoverlabel": {"font": {"size": 12}},
    }
    axis = {"gridcolor": "#e5e5e5", "linecolor": "#888", "zeroline": False, "automargin": True}
    if x is not None:
        lay["xaxis"] = {**axis, "title": {"text": x}}
    if y is not None:
        lay["yaxis"] = {**axis, "title": {"text": y}}
    lay.update(extra)
    return lay


def chart(cid: str, key: str, figure: dict, summary: str, columns: list[str], rows: list[list[Any]]) -> dict:
    """A chart with its text alternatives; ``cid``/``key`` make a unique DOM id."""
    safe = "".join(ch if ch.isalnum() else "-" for ch in f"{cid}-{key}")
    return {
        "id": f"chart-{safe}",
        "title": figure["layout"]["title"]["text"],
        "figure": figure,
        "summary": summary,
        "columns": columns,
        "rows": [[_cell(v) for v in r] for r in rows],
    }


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}" if not v.is_integer() else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# -- stage mix -----------------------------------------------------------------------------------------
#: the stages of active members: Observers did nothing others could see, so they stand beside the mix
JOURNEY = stages.JOURNEY


def innovate_measurable(c: dict[str, Any]) -> bool:
    """False when the export shows no idea at all: Innovate then cannot be told from 0 %."""
    rows = [ch for ch in c.get("checks") or [] if ch.get("stage") == "innovate"]
    return not rows or any(ch.get("measurable", True) for ch in rows)


def mix_now(c: dict[str, Any]) -> dict | None:
    mix = c.get("mix")
    if not mix or not mix.get("active"):
        return None
    counts = [int(mix.get(s) or 0) for s in JOURNEY]
    names = [STAGE_WORDS[s] for s in JOURNEY]
    active = int(mix["active"])
    can_innovate = innovate_measurable(c)
    labels = [f"{n:,} ({pct(n / active)})" for n in counts]
    if not can_innovate:
        labels[-1] = ""
        names = [*names[:-1], "Innovate (not measurable)"]
    fig = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": counts,
                "y": names,
                "marker": {"color": [STAGE_COLOURS[s] for s in JOURNEY]},
                "text": labels,
                "textposition": "auto",
                "hovertemplate": "%{y}: %{x} members<extra></extra>",
            }
        ],
        "layout": _layout(
            f"Where members stand in {c['period']}",
            x="members (people)",
            y="stage",
            height=300,
            showlegend=False,
            yaxis={"autorange": "reversed", "title": {"text": "stage"}, "automargin": True},
        ),
    }
    top = max(range(len(JOURNEY)), key=lambda i: counts[i])
    observers, readers = int(mix.get("observer") or 0), int(mix.get("readers") or 0)
    summary = (
        f"Of {active:,} members who did something others could see in the {c.get('window_days', 90)} days "
        f"to the end of {c['period']}, "
        + ", ".join(f"{n:,} at {nm}" for n, nm in zip(counts, names, strict=True))
        + f"; the largest group is {names[top]}."
        + (
            " Innovate is not measurable from this export: it shows no ideas at all (no idea tags, "
            "channels or proposals)."
            if not can_innovate
            else ""
        )
        + (
            f" Beside them, {observers:,} observed only (joined, read or followed, nothing others could see)"
            + (f"; {readers:,} members were seen reading." if readers else ".")
            if observers
            else ""
        )
    )
    rows = [[nm, n, pct(n / active)] for nm, n in zip(names, counts, strict=True)]
    return chart(c["id"], "mix-now", fig, summary, ["stage", "members", "share"], rows)


def mix_over_time(c: dict[str, Any]) -> dict | None:
    hist = [m for m in c.get("mix_history") or [] if m.get("active")]
    if len(hist) < 2:
        return None
    months = [m["period"] for m in hist]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "stackgroup": "mix",
            "name": STAGE_WORDS[s],
            "x": months,
            "y": [round(100 * (m.get(f"{s}_share") or 0), 1) for m in hist],
            "line": {"color": STAGE_COLOURS[s], "width": 1},
            "fillcolor": STAGE_COLOURS[s],
            "hovertemplate": f"{STAGE_WORDS[s]} %{{x}}: %{{y:.0f}}%<extra></extra>",
        }
        for s in JOURNEY
    ]
    fig = {
        "data": data,
        "layout": _layout(
            "Stage mix over time",
            x=f"month (end of the {c.get('window_days', 90)}-day window)",
            y="share of active members (%)",
            yaxis={"title": {"text": "share of active members (%)"}, "range": [0, 100], "ticksuffix": "%"},
            legend={"orientation": "h", "y": -0.3, "x": 0, "traceorder": "normal"},
            margin={"l": 70, "r": 30, "t": 50, "b": 80},
        ),
    }
    first, last = hist[0], hist[-1]

    def up(m: dict) -> float:
        return (m.get("solve_share") or 0) + (m.get("innovate_share") or 0)

    summary = (
        f"From {first['period']} to {last['period']} the share of active members at Solve or Innovate went "
        f"from {pct(up(first))} to {pct(up(last))}; active members from {first['active']:,} to {last['active']:,}."
    )
    rows = [[m["period"], m["active"], *[int(m.get(s) or 0) for s in JOURNEY]] for m in hist]
    return chart(
        c["id"], "mix-time", fig, summary, ["month", "active", *[STAGE_WORDS[s] for s in JOURNEY]], rows
    )


def journey(c: dict[str, Any]) -> dict | None:
    j = c.get("journey") or {}
    flows = [f for f in j.get("flows") or [] if f["members"]]
    if not flows:
        return None
    start, end = j["start"], j["end"]
    left = ["not active", *[STAGE_WORDS[s] for s in STAGES]]
    right = [*[STAGE_WORDS[s] for s in STAGES], "no longer active"]
    labels = [f"{n} ({start})" for n in left] + [f"{n} ({end})" for n in right]
    colours = [GREY, *[STAGE_COLOURS[s] for s in STAGES], *[STAGE_COLOURS[s] for s in STAGES], "#666666"]
    colours[0] = "#d0d0d0"
    src, tgt, val, lcol = [], [], [], []
    for f in flows:
        a = 0 if f["from"] is None else 1 + STAGES.index(f["from"])
        b = len(left) + (len(STAGES) if f["to"] is None else STAGES.index(f["to"]))
        src.append(a)
        tgt.append(b)
        val.append(f["members"])
        lcol.append(_rgba(colours[b], 0.45))
    nx, ny = _sankey_positions(src, tgt, val, len(left), len(labels))
    # plotly drops nodes without links and then misplaces fixed positions: keep only the used nodes
    used = sorted(set(src) | set(tgt))
    at = {old: new for new, old in enumerate(used)}
    src, tgt = [at[a] for a in src], [at[b] for b in tgt]
    labels, colours = [labels[i] for i in used], [colours[i] for i in used]
    nx, ny = [nx[i] for i in used], [ny[i] for i in used]
    fig = {
        "data": [
            {
                "type": "sankey",
                "arrangement": "fixed",
                "node": {
                    "label": labels,
                    "color": colours,
                    "pad": 12,
                    "thickness": 16,
                    "x": nx,
                    "y": ny,
                    "line": {"color": "#555", "width": 0.5},
                    "hovertemplate": "%{label}: %{value} members<extra></extra>",
                },
                "link": {
                    "source": src,
                    "target": tgt,
                    "value": val,
                    "color": lcol,
                    "hovertemplate": "%{source.label} → %{target.label}: %{value} members<extra></extra>",
                },
            }
        ],
        "layout": _layout(f"The journey between stages, {start} → {end} (width = members)", height=440),
    }
    moved_up = sum(
        f["members"]
        for f in flows
        if f["from"] and f["to"] and STAGES.index(f["to"]) > STAGES.index(f["from"])
    )
    down = sum(
        f["members"]
        for f in flows
        if f["from"] and f["to"] and STAGES.index(f["to"]) < STAGES.index(f["from"])
    )
    new = sum(f["members"] for f in flows if f["from"] is None)
    gone = sum(f["members"] for f in flows if f["to"] is None)
    summary = (
        f"Between {start} and {end}: {moved_up:,} members moved up a stage or more, {down:,} moved down, "
        f"{new:,} became active and {gone:,} were no longer active."
    )
    rows = [
        [
            STAGE_WORDS.get(f["from"] or "", "not active"),
            STAGE_WORDS.get(f["to"] or "", "no longer active"),
            f["members"],
        ]
        for f in flows
    ]
    return chart(c["id"], "journey", fig, summary, [f"stage in {start}", f"stage in {end}", "members"], rows)


def _sankey_positions(
    src: list[int], tgt: list[int], val: list[int], n_left: int, n_all: int
) -> tuple[list[float], list[float]]:
    """Fixed node places: left column then right column, the highest stage on top and the
    not-active nodes at the bottom, so upward flows are members moving up the journey."""
    size = [0] * n_all
    for a, b, v in zip(src, tgt, val, strict=True):
        size[a] += v
        size[b] += v
    n_st = len(STAGES)
    # top to bottom: innovate ... observer, then not active (left index 0, right index n_left + n_st)
    left = [*range(n_st, 0, -1), 0]
    right = [*(n_left + i for i in range(n_st - 1, -1, -1)), n_left + n_st]
    xs, ys = [0.0] * n_all, [0.0] * n_all
    for col, x in ((left, 0.001), (right, 0.999)):
        shown = [i for i in col if size[i]]
        total = sum(size[i] for i in shown) or 1
        gap = 0.03
        room = 1 - gap * max(len(shown) - 1, 0)
        at = 0.0
        for i in col:
            xs[i] = x
            h = room * size[i] / total
            ys[i] = min(max(at + h / 2, 0.001), 0.999)
            if size[i]:
                at += h + gap
    return xs, ys


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# -- responsiveness and dynamics ------------------------------------------------------------------------
def responsiveness(c: dict[str, Any]) -> dict | None:
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
        "layout": _layout(
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
    last = rows[-1]
    wait = "" if last["median_h"] is None else f", after a median of {last['median_h']:.1f} hours"
    summary = (
        f"In {last['month']}, {last['responded']:,} of {last['threads']:,} new threads ({pct(last['rate'])}) got a "
        f"response from someone else{wait}."
    )
    columns = ["month", "threads", "with a response", "share", "median hours"]
    table = [[r["month"], r["threads"], r["responded"], pct(r["rate"]), r["median_h"]] for r in rows]
    if any(r.get("inferred") for r in rows):
        # chat without threads: say which waits rest on replies covalue inferred, not ones the export holds
        n = sum(int(r.get("inferred") or 0) for r in rows)
        summary += (
            f" {n:,} of the waits shown rest on inferred replies (inferred: a message by someone else within "
            f"{_reply_minutes(c):g} minutes, in a channel without threads)."
        )
        columns.append("first replies inferred")
        table = [[*t, int(r.get("inferred") or 0)] for t, r in zip(table, rows, strict=True)]
    return chart(c["id"], "response", fig, summary, columns, table)


def _reply_minutes(c: dict[str, Any]) -> float:
    """The chat-reply rule's minutes, as the community's facts carry them (30 by default)."""
    return float(c.get("chat_reply_minutes") or 30)


def membership(c: dict[str, Any]) -> dict | None:
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
        "layout": _layout(
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
    y, m = (int(v) for v in month.split("-"))
    if shift < 0:
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        return f"{y:04d}-{m:02d}-16"
    return f"{y:04d}-{m:02d}-15"


def retention(c: dict[str, Any], min_size: int = 5, most: int = 6) -> dict | None:
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
        "layout": _layout(
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


def spikes(c: dict[str, Any]) -> dict | None:
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
        "layout": _layout(
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
def network(c: dict[str, Any]) -> dict | None:
    """The core of the interaction network: champions and core members placed by a seeded force
    layout, only the strongest ties drawn, only champions named."""
    net = c.get("network") or {}
    nodes = net.get("nodes") or []
    if len(nodes) < 3:
        return None
    pos = _layout_positions(nodes, net.get("edges") or [])
    ex, ey = [], []
    for e in net.get("edges") or []:
        a, b = pos.get(e["source"]), pos.get(e["target"])
        if a and b:
            ex += [a[0], b[0], None]
            ey += [a[1], b[1], None]
    groups = [
        ("champions", OKABE_ITO["vermillion"], "diamond", [n for n in nodes if n.get("is_champion")]),
        (
            "core members",
            OKABE_ITO["blue"],
            "circle",
            [
                n
                for n in nodes
                if not n.get("is_champion") and n.get("core_number", 0) >= (net.get("core_k") or 0)
            ],
        ),
        (
            "others",
            OKABE_ITO["sky"],
            "circle-open",
            [
                n
                for n in nodes
                if not n.get("is_champion") and n.get("core_number", 0) < (net.get("core_k") or 0)
            ],
        ),
    ]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": ex,
            "y": ey,
            "name": "ties",
            "line": {"color": "rgba(120,120,120,0.35)", "width": 1},
            "hoverinfo": "skip",
            "showlegend": False,
        }
    ]
    for name, colour, symbol, ns in groups:
        if not ns:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text" if name == "champions" else "markers",
                "name": name,
                "x": [pos[n["id"]][0] for n in ns],
                "y": [pos[n["id"]][1] for n in ns],
                "text": [n.get("label") or n["id"] for n in ns],
                "textposition": "top center",
                "textfont": {"size": 11},
                "marker": {
                    "color": colour,
                    "symbol": symbol,
                    "line": {"color": "#333", "width": 0.5},
                    "size": [8 + 2.5 * math.sqrt(n.get("degree") or 0) for n in ns],
                },
                "customdata": [[n.get("degree", 0), n.get("core_number", 0)] for n in ns],
                "hovertemplate": "%{text}<br>%{customdata[0]} partners, core %{customdata[1]}<extra></extra>",
            }
        )
    hide = {"visible": False, "showgrid": False, "zeroline": False}
    fig = {
        "data": data,
        "layout": _layout(
            "Who responds to whom: the core of the network",
            height=520,
            xaxis=hide,
            yaxis=hide,
            legend={"orientation": "h", "y": -0.05, "x": 0},
        ),
    }
    champs = sum(1 for n in nodes if n.get("is_champion"))
    summary = (
        f"{net.get('n_members', len(nodes)):,} members with {net.get('n_edges', 0):,} ties; the picture shows "
        f"the {len(nodes)} best connected, {champs} of them champions. The core "
        f"({net.get('core_size', 0)} members) all have at least {net.get('core_k', 0)} partners within it."
    )
    rows = [
        [
            n.get("label") or n["id"],
            n.get("degree"),
            n.get("core_number"),
            _f(n.get("bridging")),
            "yes" if n.get("is_champion") else "",
            n.get("org_unit") or "",
        ]
        for n in sorted(nodes, key=lambda n: -(n.get("degree") or 0))
    ]
    return chart(
        c["id"],
        "network",
        fig,
        summary,
        ["member", "partners", "core number", "bridging", "champion", "org unit"],
        rows,
    )


def _f(v: Any) -> Any:
    return round(v, 3) if isinstance(v, float) else v


def _layout_positions(nodes: list[dict], edges: list[dict]) -> dict[str, tuple[float, float]]:
    import rustworkx as rx

    g = rx.PyGraph()
    idx = {n["id"]: g.add_node(n["id"]) for n in nodes}
    for e in edges:
        if e["source"] in idx and e["target"] in idx and e["source"] != e["target"]:
            g.add_edge(idx[e["source"]], idx[e["target"]], float(e.get("weight") or 1))
    # a seeded start on a circle keeps the picture the same from one report to the next
    start = {
        i: [math.cos(2 * math.pi * i / len(nodes)), math.sin(2 * math.pi * i / len(nodes))]
        for i in range(len(nodes))
    }
    # a longer ideal distance than the default spreads the core so that names do not overlap
    p = rx.spring_layout(
        g, pos=start, k=2.0 / math.sqrt(len(nodes)), num_iter=200, seed=1, weight_fn=lambda w: w
    )
    return {n["id"]: (round(p[idx[n["id"]]][0], 4), round(p[idx[n["id"]]][1], 4)) for n in nodes}


def themes(c: dict[str, Any]) -> dict | None:
    res = c.get("resonance") or {}
    th = res.get("question_themes") or []
    if not th:
        return None
    th = sorted(th, key=lambda t: -(t.get("n_questions") or 0))[:12]
    open_ = {t["label"]: t.get("n_questions", 0) for t in res.get("unanswered_themes") or []}
    labels = [t["label"] for t in th]
    fig = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "questions",
                "y": labels,
                "x": [t.get("n_questions", 0) for t in th],
                "marker": {"color": OKABE_ITO["blue"]},
                "hovertemplate": "%{y}: %{x} questions<extra></extra>",
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "still unanswered",
                "y": labels,
                "x": [open_.get(lbl, 0) for lbl in labels],
                "marker": {"color": OKABE_ITO["vermillion"], "pattern": {"shape": "/"}},
                "hovertemplate": "%{y}: %{x} unanswered<extra></extra>",
            },
        ],
        "layout": _layout(
            "What members ask about",
            x="questions (count)",
            y="theme",
            barmode="overlay",
            height=max(280, 60 + 28 * len(th)),
            yaxis={"autorange": "reversed", "title": {"text": "theme"}, "automargin": True},
        ),
    }
    summary = f"The most asked-about theme is “{labels[0]}” ({th[0].get('n_questions', 0)} questions)" + (
        f"; {sum(open_.values())} questions in {len(open_)} themes are still unanswered." if open_ else "."
    )
    rows = [
        [t["label"], ", ".join(t.get("terms") or []), t.get("n_questions", 0), open_.get(t["label"], 0)]
        for t in th
    ]
    return chart(c["id"], "themes", fig, summary, ["theme", "terms", "questions", "unanswered"], rows)


# -- portfolio ------------------------------------------------------------------------------------------
def portfolio_mix(communities: list[dict[str, Any]]) -> dict | None:
    cs = [c for c in communities if (c.get("mix") or {}).get("active")]
    if len(cs) < 2:
        return None
    names = [c["name"] for c in cs]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": STAGE_WORDS[s],
            "y": names,
            "x": [round(100 * int(c["mix"].get(s) or 0) / c["mix"]["active"], 1) for c in cs],
            "marker": {"color": STAGE_COLOURS[s]},
            "hovertemplate": f"%{{y}}: %{{x:.0f}}% at {STAGE_WORDS[s]}<extra></extra>",
        }
        for s in STAGES
    ]
    fig = {
        "data": data,
        "layout": _layout(
            "Stage mix by community (latest month)",
            x="share of active members (%)",
            y="community",
            barmode="stack",
            height=max(300, 110 + 26 * len(cs)),
            xaxis={"title": {"text": "share of active members (%)"}, "range": [0, 100], "ticksuffix": "%"},
            yaxis={"autorange": "reversed", "title": {"text": "community"}, "automargin": True},
            legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
        ),
    }
    fig["layout"]["margin"]["t"] = 80
    best = max(
        cs,
        key=lambda c: (
            (int(c["mix"].get("solve") or 0) + int(c["mix"].get("innovate") or 0)) / c["mix"]["active"]
        ),
    )
    summary = f"{len(cs)} communities compared; the highest share of members at Solve or Innovate is in {best['name']}."
    rows = [[c["name"], c["mix"]["active"], *[int(c["mix"].get(s) or 0) for s in STAGES]] for c in cs]
    return chart(
        "portfolio", "mix", fig, summary, ["community", "active", *[STAGE_WORDS[s] for s in STAGES]], rows
    )


COMMUNITY_CHARTS = {
    "mix_now": mix_now,
    "mix_over_time": mix_over_time,
    "journey": journey,
    "responsiveness": responsiveness,
    "membership": membership,
    "spikes": spikes,
    "network": network,
    "themes": themes,
}
