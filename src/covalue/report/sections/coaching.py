"""Built-in closing section: the coaching prompts chosen from what the report found."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts
    from covalue.workspace import Workspace

from covalue.report.sections import Section, from_template


def next_steps(ws: Workspace | None, c: CommunityFacts) -> Section:
    """What to do next (always shown, last: it reads every finding above it). With the canvases in
    use, the prompts also move on with the goals, experiments and stories written there."""
    from covalue import models
    from covalue.canvas.coaching import canvas_state_of
    from covalue.report import coaching

    canvas = canvas_state_of(ws, c["id"])
    if canvas is not None:
        overrides = ws.settings.model if ws is not None else None
        c["prompts"] = coaching.prompts(c, models.load("coaching", overrides), canvas)
    return from_template("next", "What to do next", "next.html.j2", c, css="coaching")
