"""Built-in closing section: the coaching prompts chosen from what the report found."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts
    from covalue.workspace import Workspace

from covalue.report.sections import Section, from_template


def next_steps(ws: Workspace | None, c: CommunityFacts) -> Section:
    """What to do next (always shown, last: it reads every finding above it)."""
    return from_template("next", "What to do next", "next.html.j2", c, css="coaching")
