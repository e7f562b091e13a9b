"""The Collaboration canvas as a section of the report: the sponsor's one-pager (goals, shared value,
experiments, stories, movement). It reads the store only, so writing a report needs no web server.
The report finds it as a built-in section and through the ``covalue.report_sections`` entry point."""

from __future__ import annotations

import functools
import logging
from typing import Any

from jinja2 import Environment

from covalue import presentation
from covalue.canvas import stories
from covalue.canvas.collaboration_data import counted, sponsor_view
from covalue.report import Section
from covalue.store import existing

log = logging.getLogger(__name__)


@functools.cache
def _env() -> Environment:
    # the section's template sits with the web app's, which shows the same one-pager
    return presentation.environment("covalue.web")


def report_section(ws: Any, c: dict[str, Any]) -> Section | None:
    """The sponsor's one-pager for community ``c``; left out when the workspace has no store or
    nothing was entered for this community."""
    # no store: nobody has used the web app on this workspace, so nothing was entered
    with existing(ws.path if ws is not None else None, migrate=False) as store:
        if store is None:
            return None
        with store.session() as db:
            try:
                view = sponsor_view(db, c["id"], c)
            except Exception as e:  # a store from before the canvas existed has no tables for it
                log.info("collaboration: no canvas data for the report: %s", e)
                return None
    if not (view["stories"] or view["experiments"] or view["goals"]):
        return None
    html = (
        _env()
        .get_template("cc_report_section.html.j2")
        .render(one=counted(view), cycle_words=stories.CYCLE_WORDS)
    )
    return Section(key="collaboration", title="Goals, experiments and value stories", html=html)
