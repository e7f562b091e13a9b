"""Built-in sections on a community's health: the shape verdict, responsiveness and the questions
waiting, membership and retention, and campaign spikes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts
    from covalue.workspace import Workspace

from covalue.report.sections import Section, from_template, if_charted


def shape(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    """The shape verdict (computed in ``metrics/health.py``, worded by ``diagnosis.health``)."""
    if not (c.get("health") or {}).get("shape"):
        return None
    return from_template("shape", "What kind of group is it?", "shape.html.j2", c)


def responsiveness(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    if not ((c.get("charts") or {}).get("responsiveness") or (c.get("health") or {}).get("unanswered")):
        return None
    return from_template("response", "Responsiveness", "response.html.j2", c)


def membership(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    return if_charted("members", "Membership and retention", "members.html.j2", c, "membership")


def spikes(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    return if_charted("spikes", "Campaign spikes and what persisted", "spikes.html.j2", c, "spikes")
