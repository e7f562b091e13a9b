"""The Shared Value canvas read from the store and rendered: as JSON (``canvas_data``), as a
self-contained HTML page (``render_page``), and as a section of ``covalue report`` (registered on import).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import orjson
from jinja2 import Environment

from covalue import presentation
from covalue.canvas import shared_value as sv
from covalue.report.build import Section, register_section
from covalue.store import Store, existing
from covalue.store import shared_value as svs

log = logging.getLogger(__name__)


def canvas_data(
    store: Store, community_id: str, name: str | None = None, method: str = "tfidf"
) -> dict[str, Any]:
    """The whole canvas of one community as plain data: needs, goals, history, sweet spot, gaps,
    suggestions to review and the decisions taken (oldest first; the last one stands)."""
    with store.session() as db:
        st = svs.state(db, community_id)
        notes = svs.challenges(db, community_id)
    accepted = [n for n in st["needs"] if n["status"] == "accepted"]
    suggestions = sv.match(accepted, st["goals"], method) if accepted and st["goals"] else []
    cv = sv.canvas(st["needs"], st["goals"], st["reviews"], suggestions)
    return {
        "community_id": community_id,
        "community": name or community_id,
        "method": method,
        **st,
        # who is behind a need is counted on the page, never listed in an export
        "needs": [{k: v for k, v in n.items() if k != "people"} for n in st["needs"]],
        "surveys": [{k: v for k, v in s.items() if k != "token"} for s in st["surveys"]],
        "challenges": notes,
        "canvas": cv,
        "decision": st["decisions"][-1] if st["decisions"] else None,
    }


def has_content(data: dict[str, Any]) -> bool:
    return bool(data["needs"] or data["goals"] or data["decisions"])


def to_json(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)


@functools.cache
def _env() -> Environment:
    # the canvas's templates sit with the web app's, which shows the same canvas
    e = presentation.environment("covalue.web")
    e.globals.update(kinds=sv.KINDS, drivers=sv.DRIVERS, paths=sv.PATHS)
    return e


def render_section(data: dict[str, Any]) -> str:
    """The canvas as an HTML fragment (the report's section and the body of the export page)."""
    return _env().get_template("sv_section.html.j2").render(d=data, cv=data["canvas"])


def render_page(data: dict[str, Any]) -> str:
    """The canvas as one HTML file with its own styles, readable offline."""
    return _env().get_template("sv_export.html.j2").render(d=data, body=render_section(data))


@register_section
def shared_value_section(ws: Any, c: dict[str, Any]) -> Section | None:
    """``covalue report``: the community's Shared Value canvas, when anything was entered for it."""
    # no store yet means nobody entered anything: do not create one as a side effect of a report
    with existing(ws.path if ws is not None else None) as store:
        if store is None:
            return None
        data = canvas_data(store, c["id"], c.get("name"))
    if not has_content(data):
        return None
    return Section(key="shared-value", title="Shared Value canvas", html=render_section(data))
