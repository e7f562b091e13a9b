"""The sections of a community's page in the report, all contributed the same way.

A section provider is a function ``provider(ws, c) -> Section | None``: ``ws`` is the workspace (None
when a page is rendered from facts alone, in tests), ``c`` one community's prepared facts
(:class:`covalue.report.facts.CommunityFacts`). It returns None, or a section with empty html, when it
has nothing to show, and the section is left out rather than shown empty.

Providers are asked in page order, from four places:

1. :data:`DEFAULT_SECTIONS`: the built-in sections, always loaded (the value headline, the verdict, the journey, health,
   people, resonance, and the canvases people fill in);
2. providers added at run time with :func:`register_section` (a notebook, a test);
3. the ``covalue.report_sections`` entry-point group: other packages' sections;
4. :data:`CLOSING_SECTIONS`: the coaching prompts, which close each community.

A provider that raises costs only its section: the failure is named in the report's appendix. When two
providers give a section with the same key for a community, the first one stands.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from covalue.report import view

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts, ReportFacts
    from covalue.workspace import Workspace

log = logging.getLogger(__name__)

#: the entry-point group other packages use to add report sections
ENTRY_POINT_GROUP = "covalue.report_sections"

#: the built-in sections in page order, as ``module:function`` (loaded when first asked for)
DEFAULT_SECTIONS: tuple[str, ...] = (
    "covalue.report.sections.headline:value",
    "covalue.report.sections.journey:summary",
    "covalue.report.sections.journey:stages",
    "covalue.report.sections.journey:journey",
    "covalue.report.sections.journey:checks",
    "covalue.report.sections.health:shape",
    "covalue.report.sections.health:responsiveness",
    "covalue.report.sections.health:membership",
    "covalue.report.sections.health:spikes",
    "covalue.report.sections.people:network",
    "covalue.report.sections.people:champions",
    "covalue.report.sections.resonance:resonance",
    "covalue.canvas.shared_value_export:shared_value_section",
    "covalue.canvas.collaboration_section:report_section",
)
#: built-in sections that come after every other one
CLOSING_SECTIONS: tuple[str, ...] = ("covalue.report.sections.coaching:next_steps",)


@dataclass
class Section:
    """One block of a community's page. ``html`` is trusted markup made by the provider's own
    (autoescaping) template; ``charts`` are chart specs from :func:`covalue.report.charts.chart`
    drawn below it; ``css`` is an extra class on the block."""

    key: str
    title: str
    html: str
    charts: list[dict[str, Any]] | None = None
    css: str = "extra"


SectionProvider = Callable[["Workspace | None", "CommunityFacts"], Section | None]
_REGISTERED: list[SectionProvider] = []


def register_section(provider: SectionProvider) -> SectionProvider:
    """Add a section provider at run time (usable as a decorator); it is asked once per community."""
    if provider not in _REGISTERED:
        _REGISTERED.append(provider)
    return provider


def load(spec: str) -> SectionProvider:
    """The provider named ``module:function``."""
    module, _, name = spec.partition(":")
    fn: SectionProvider = getattr(importlib.import_module(module), name)
    return fn


def providers(errors: list[str] | None = None) -> list[SectionProvider]:
    """Every provider in page order, each once. One that cannot be loaded is named in ``errors``."""
    found: list[SectionProvider] = []

    def add(fns: Iterable[tuple[str, Callable[[], SectionProvider]]]) -> None:
        for name, get in fns:
            try:
                fn = get()
            except Exception as e:  # a broken plug-in must not stop the report
                log.warning("report section %s could not be loaded: %s", name, e)
                if errors is not None:
                    errors.append(f"section {name} could not be loaded: {type(e).__name__}: {e}")
                continue
            if fn not in found:
                found.append(fn)

    add((spec, lambda spec=spec: load(spec)) for spec in DEFAULT_SECTIONS)
    add((getattr(fn, "__name__", repr(fn)), lambda fn=fn: fn) for fn in _REGISTERED)
    add((ep.name, ep.load) for ep in entry_points(group=ENTRY_POINT_GROUP))
    closing = [load(spec) for spec in CLOSING_SECTIONS]
    return [fn for fn in found if fn not in closing] + closing


def add_sections(
    ws: Workspace | None, facts: ReportFacts, extra: list[SectionProvider] | None = None
) -> None:
    """Ask every provider (and ``extra`` ones, placed before the closing sections) for each community's
    section; failures are named in ``facts["errors"]``."""
    errors = facts.setdefault("errors", [])
    provs = providers(errors)
    if extra:
        n = len(CLOSING_SECTIONS)
        provs = provs[: len(provs) - n] + [p for p in extra if p not in provs] + provs[len(provs) - n :]
    for c in facts["communities"]:
        out: list[dict[str, Any]] = []
        for prov in provs:
            try:
                sec = prov(ws, c)
            except Exception as e:
                name = getattr(prov, "__name__", repr(prov))
                log.warning("report section %s failed for %s: %s", name, c["id"], e)
                errors.append(f"section {name} ({c['name']}): {type(e).__name__}: {e}")
                continue
            if sec is None or not sec.html.strip() or any(s["key"] == sec.key for s in out):
                continue
            out.append(
                {
                    "key": sec.key,
                    "title": sec.title,
                    "html": Markup(sec.html),
                    "charts": sec.charts or [],
                    "css": sec.css,
                }
            )
        c["sections"] = out


def from_template(key: str, title: str, template: str, c: CommunityFacts, *, css: str = "") -> Section:
    """A built-in section drawn by ``templates/sections/<template>`` from the community's facts."""
    h = c.get("health") or {}
    html = view.render(
        f"sections/{template}",
        c=c,
        h=h,
        resp=h.get("responsiveness") or {},
        conc=h.get("concentration") or {},
        dyn=c.get("dynamics") or {},
        mix=c.get("mix") or {},
    )
    return Section(key=key, title=title, html=html, css=css)


def if_charted(key: str, title: str, template: str, c: CommunityFacts, *charts: str) -> Section | None:
    """A built-in section drawn only when the community has one of ``charts`` (else left out)."""
    made = c.get("charts") or {}
    if not any(made.get(ch) for ch in charts):
        return None
    return from_template(key, title, template, c)
