"""Charts of the value journey: the stage mix now and over time, the journey between stages (a Sankey),
and the portfolio of communities side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covalue import stages
from covalue.presentation import pct, plural
from covalue.report.charts.base import (
    GREY,
    STAGE_COLOURS,
    STAGE_WORDS,
    STAGES,
    chart,
    layout,
    ranked_layout,
    rgba,
)

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts

JOURNEY = stages.JOURNEY


def innovate_measurable(c: CommunityFacts) -> bool:
    """False when the export shows no idea at all: Innovate then cannot be told from 0 %."""
    rows = [ch for ch in c.get("checks") or [] if ch.get("stage") == "innovate"]
    return not rows or any(ch.get("measurable", True) for ch in rows)


def mix_now(c: CommunityFacts) -> dict | None:
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
        "layout": layout(
            f"Where members stand in {c['period']}",
            x="members (people)",
            y="stage",
            height=300,
            showlegend=False,
            # journey order from the bottom up, so Innovate is on top as in the Sankey of movements
            yaxis={
                "categoryorder": "array",
                "categoryarray": names,
                "title": {"text": "stage"},
                "automargin": True,
            },
        ),
    }
    top = max(range(len(JOURNEY)), key=lambda i: counts[i])
    observers, readers = int(mix.get("observer") or 0), int(mix.get("readers") or 0)
    summary = (
        f"Of {plural(active, 'member')} who did something others could see in the {c.get('window_days', 90)} days "
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
            + (
                f"; {plural(readers, 'member')} {'was' if readers == 1 else 'were'} seen reading."
                if readers
                else "."
            )
            if observers
            else ""
        )
    )
    rows = [[nm, n, pct(n / active)] for nm, n in zip(names, counts, strict=True)]
    return chart(c["id"], "mix-now", fig, summary, ["stage", "members", "share"], rows)


def mix_over_time(c: CommunityFacts) -> dict | None:
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
        "layout": layout(
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


def journey(c: CommunityFacts) -> dict | None:
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
        lcol.append(rgba(colours[b], 0.45))
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
        "layout": layout(f"The journey between stages, {start} → {end} (width = members)", height=440),
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
        f"Between {start} and {end}: {plural(moved_up, 'member')} moved up a stage or more, {down:,} moved down, "
        f"{new:,} became active and {gone:,} {'was' if gone == 1 else 'were'} no longer active."
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


def portfolio_mix(communities: list[CommunityFacts]) -> dict | None:
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
        "layout": ranked_layout(
            "Stage mix by community (latest month)",
            x="share of active members (%)",
            y="community",
            rows=len(cs),
            least=300,
            top=110,
            per_row=26,
            barmode="stack",
            xaxis={"title": {"text": "share of active members (%)"}, "range": [0, 100], "ticksuffix": "%"},
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
