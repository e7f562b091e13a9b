"""Render the value report: one self-contained HTML file (plotly.js inlined once, no request leaves it).

    facts = gather(ws)                    # plain data (covalue.report.facts)
    html = render(facts)                  # the page as a string
    build(ws, "report.html")              # both, written to a file

Each community's page is a list of sections (``covalue.report.sections``): the built-in ones, those
added with ``register_section`` and those of other packages (``covalue.report_sections`` entry points),
all contributed the same way, so ``build(ws)`` from Python and ``covalue report`` write the same page.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from covalue import models
from covalue.presentation import json_for_script
from covalue.report import view
from covalue.report.display import prepare
from covalue.report.facts import ReportFacts, gather
from covalue.report.sections import Section, add_sections, register_section
from covalue.workspace import Workspace

__all__ = ["ReportResult", "Section", "add_sections", "all_charts", "build", "prepare", "register_section"]

log = logging.getLogger(__name__)


@functools.cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def all_charts(facts: ReportFacts) -> dict[str, Any]:
    """Chart id → plotly figure, for the one JSON block the page's script draws from."""
    out: dict[str, Any] = {}
    pf = facts.get("portfolio") or {}
    if pf.get("chart"):
        out[pf["chart"]["id"]] = pf["chart"]["figure"]
    for c in facts["communities"]:
        for ch in (c.get("charts") or {}).values():
            out[ch["id"]] = ch["figure"]
        for sec in c.get("sections") or []:
            for ch in sec["charts"]:
                out[ch["id"]] = ch["figure"]
    return out


def render(facts: ReportFacts, *, coaching_model: dict[str, Any] | None = None) -> str:
    """The report page for ``facts`` (as made by :func:`gather`, extended or planted by tests); facts
    not yet prepared or given their sections get them here, without a workspace."""
    if "portfolio" not in facts:
        prepare(facts, coaching_model=coaching_model)
    if any("sections" not in c for c in facts["communities"]):
        add_sections(None, facts)
    specs = all_charts(facts)
    return view.render(
        "report.html.j2",
        f=facts,
        plotly_js=Markup(plotly_js()),
        chart_json=json_for_script(specs),
        n_charts=len(specs),
    )


@dataclass
class ReportResult:
    path: Path
    communities: int
    charts: int
    bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "communities": self.communities,
            "charts": self.charts,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 2),
        }


def build(
    ws: Workspace,
    out: str | Path = "report.html",
    *,
    community: str | None = None,
    period: str | None = None,
) -> ReportResult:
    """Gather, render and write the report of ``ws`` to ``out``."""
    t0 = time.perf_counter()
    facts = gather(ws, community=community, period=period)
    prepare(facts, coaching_model=models.load("coaching", ws.settings.model))
    add_sections(ws, facts)
    html = render(facts)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    n = len(all_charts(facts))
    return ReportResult(path, len(facts["communities"]), n, path.stat().st_size, time.perf_counter() - t0)
