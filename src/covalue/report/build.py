"""Render the value report: one self-contained HTML file (plotly.js inlined once, no request leaves it).

    facts = gather(ws)                    # plain data (covalue.report.facts)
    html = render(facts)                  # the page as a string
    build(ws, "report.html")              # both, written to a file

Sections come in a fixed order per community; a section with nothing to show is left out rather than
shown empty. Work that people enter later (shared value, canvases, experiments, stories) slots in through
section providers: functions ``provider(ws, community_facts) -> Section | None`` registered with
:func:`register_section` or through the ``covalue.report_sections`` entry-point group.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from covalue import models
from covalue.report import charts, coaching
from covalue.report.facts import gather
from covalue.workspace import Workspace

log = logging.getLogger(__name__)

#: the entry-point group other packages (or later modules) use to add report sections
ENTRY_POINT_GROUP = "covalue.report_sections"


@dataclass
class Section:
    """A section contributed by a provider: ``html`` is trusted markup made by the provider's own
    (autoescaping) template; ``charts`` are chart specs from :func:`covalue.report.charts.chart`."""

    key: str
    title: str
    html: str
    charts: list[dict[str, Any]] | None = None


SectionProvider = Callable[[Workspace | None, dict[str, Any]], Section | None]
_PROVIDERS: list[SectionProvider] = []


def register_section(provider: SectionProvider) -> SectionProvider:
    """Add a section provider (usable as a decorator); it is asked once per community."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    return provider


def providers() -> list[SectionProvider]:
    found = list(_PROVIDERS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            fn = ep.load()
        except Exception as e:  # a broken plug-in must not stop the report; it is named in the log
            log.warning("report section %s could not be loaded: %s", ep.name, e)
            continue
        if fn not in found:
            found.append(fn)
    return found


@functools.cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@functools.cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("covalue.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = coaching.pct
    env.filters["num"] = _num
    env.filters["check_value"] = _check_value
    env.filters["op_words"] = _op_words
    env.filters["hours"] = coaching.hours
    env.filters["when"] = _when
    env.filters["text_of"] = _text_of
    env.filters["counts"] = _counts
    return env


def _num(v: Any, digits: int = 0) -> str:
    if v is None:
        return "–"
    try:
        return f"{float(v):,.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def _when(v: Any) -> str:
    """A timestamp to the minute (``2025-06-07 09:33``)."""
    return "–" if v is None else str(v).replace("T", " ")[:16]


def _text_of(v: Any) -> str:
    if isinstance(v, dict):
        return str(v.get("title_or_excerpt") or v.get("title") or v.get("item_id") or "")
    return str(v)


def _counts(d: Any) -> str:
    """``{"Engineering": 6, "Sales": 5}`` → ``Engineering 6, Sales 5``."""
    if isinstance(d, dict):
        return ", ".join(f"{k} {_num(v)}" for k, v in d.items())
    return str(d)


def _check_value(v: Any, check: dict[str, Any]) -> str:
    return coaching.check_number(v, check)


def _op_words(op: str) -> str:
    return coaching.OP_WORDS.get(op, op)


def _json_for_script(data: Any) -> Markup:
    # inside <script>, "</" could close the element early; "<\/" means the same to JSON.parse
    return Markup(orjson.dumps(data).decode().replace("</", "<\\/"))


def prepare(facts: dict[str, Any], *, coaching_model: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add to each community its verdict, coaching prompts and charts (all pure, no workspace)."""
    model = coaching_model or models.load("coaching")
    min_group = int(facts.get("min_group_size") or 5)
    for c in facts["communities"]:
        c["verdict"] = coaching.verdict(c)
        c["prompts"] = coaching.prompts(c, model)
        c["failed"] = coaching.failed_checks(c)
        made = {k: fn(c) for k, fn in charts.COMMUNITY_CHARTS.items()}
        made["retention"] = charts.retention(c, min_size=min_group)
        c["charts"] = {k: v for k, v in made.items() if v is not None}
        c.setdefault("extra_sections", [])
    facts["portfolio"] = portfolio(facts["communities"]) if len(facts["communities"]) > 1 else None
    return facts


def portfolio(communities: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for c in communities:
        h = c.get("health") or {}
        resp = h.get("responsiveness") or {}
        mix = c.get("mix") or {}
        active = int(mix.get("active") or 0)
        checks = c.get("checks") or []
        rows.append(
            {
                "id": c["id"],
                "name": c["name"],
                "period": c["period"],
                "shape": (h.get("shape") or {}).get("shape"),
                "active": active,
                "solving": (int(mix.get("solve") or 0) + int(mix.get("innovate") or 0)) / active
                if active
                else None,
                "growth": ((c.get("dynamics") or {}).get("growth") or {}).get("verdict"),
                "response_rate": resp.get("response_rate"),
                "ttfr": resp.get("ttfr_median_h"),
                "checks_passed": sum(1 for ch in checks if ch.get("passed")),
                "checks": sum(1 for ch in checks if ch.get("measurable") is not False),
                "first_prompt": c["prompts"][0]["title"] if c.get("prompts") else None,
            }
        )
    return {"rows": rows, "chart": charts.portfolio_mix(communities)}


def add_sections(
    ws: Workspace | None, facts: dict[str, Any], extra: list[SectionProvider] | None = None
) -> None:
    """Ask every section provider for each community's section; failures are named in the appendix."""
    provs = providers() + list(extra or [])
    for c in facts["communities"]:
        c.setdefault("extra_sections", [])
        for prov in provs:
            try:
                sec = prov(ws, c)
            except Exception as e:
                name = getattr(prov, "__name__", repr(prov))
                log.warning("report section %s failed for %s: %s", name, c["id"], e)
                facts.setdefault("errors", []).append(
                    f"section {name} ({c['name']}): {type(e).__name__}: {e}"
                )
                continue
            if sec is not None and sec.html.strip():
                c["extra_sections"].append(
                    {"key": sec.key, "title": sec.title, "html": Markup(sec.html), "charts": sec.charts or []}
                )


def all_charts(facts: dict[str, Any]) -> dict[str, Any]:
    """Chart id → plotly figure, for the one JSON block the page's script draws from."""
    out: dict[str, Any] = {}
    pf = facts.get("portfolio") or {}
    if pf.get("chart"):
        out[pf["chart"]["id"]] = pf["chart"]["figure"]
    for c in facts["communities"]:
        for ch in c["charts"].values():
            out[ch["id"]] = ch["figure"]
        for sec in c.get("extra_sections") or []:
            for ch in sec["charts"]:
                out[ch["id"]] = ch["figure"]
    return out


def render(facts: dict[str, Any], *, coaching_model: dict[str, Any] | None = None) -> str:
    """The report page for ``facts`` (as made by :func:`gather`, extended or planted by tests)."""
    if "portfolio" not in facts:
        prepare(facts, coaching_model=coaching_model)
    specs = all_charts(facts)
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            f=facts,
            plotly_js=Markup(plotly_js()),
            chart_json=_json_for_script(specs),
            n_charts=len(specs),
        )
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
