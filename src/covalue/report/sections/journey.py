"""Built-in sections on the value journey: the verdict in short, where members stand, how they moved
between stages, and the stage checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts
    from covalue.workspace import Workspace

from covalue.report.sections import Section, from_template, if_charted


def summary(ws: Workspace | None, c: CommunityFacts) -> Section:
    """The verdict and the headline figures (always shown)."""
    return from_template("verdict", "In short", "verdict.html.j2", c, css="verdict-block")


def stages(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    title = "Where members stand on the value journey"
    return if_charted("stages", title, "stages.html.j2", c, "mix_now", "mix_over_time")


def journey(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    return if_charted("journey", "The journey between stages", "journey.html.j2", c, "journey")


def checks(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    if not c.get("checks"):
        return None
    return from_template("checks", "Stage checks", "checks.html.j2", c)
