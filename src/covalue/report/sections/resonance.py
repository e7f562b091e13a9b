"""Built-in section on what resonates: the content members view, reply to and react to, and the
themes of questions still unanswered."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts
    from covalue.workspace import Workspace

from covalue.report.sections import Section, from_template


def resonance(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    if c.get("resonance") is None:
        return None
    return from_template("resonance", "What resonates with members", "resonance.html.j2", c)
