"""The network chart: who responds to whom, the core drawn with its champions named."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from covalue.presentation import plural
from covalue.report.charts.base import OKABE_ITO, chart, layout

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts


def network(c: CommunityFacts) -> dict | None:
    """The core of the interaction network: champions and core members placed by a seeded force
    layout, only the strongest ties drawn, only champions named."""
    net = c.get("network") or {}
    nodes = net.get("nodes") or []
    if len(nodes) < 3:
        return None
    pos = layout_positions(nodes, net.get("edges") or [])
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
        "layout": layout(
            "Who responds to whom: the core of the network",
            height=520,
            xaxis=hide,
            yaxis=hide,
            legend={"orientation": "h", "y": -0.05, "x": 0},
        ),
    }
    champs = sum(1 for n in nodes if n.get("is_champion"))
    summary = (
        f"{plural(net.get('n_members', len(nodes)), 'member')} with {plural(net.get('n_edges', 0), 'tie')} "
        "(who responded to someone in the window, and whom they responded to); "
        f"the picture shows the {len(nodes)} best connected, {champs} of them champions. The core "
        f"({plural(net.get('core_size', 0), 'member')}) all have at least "
        f"{plural(net.get('core_k', 0), 'partner')} within it."
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


def layout_positions(nodes: list[dict], edges: list[dict]) -> dict[str, tuple[float, float]]:
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
