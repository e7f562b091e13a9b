"""Built-in sections on a community's health: the shape verdict, responsiveness and the questions
waiting, membership and retention, and campaign spikes."""

from __future__ import annotations

from typing import Any

from covalue.report.sections import Section, from_template, if_charted


def shape(ws: Any, c: Any) -> Section | None:
    """The shape verdict (computed in ``metrics/health.py``, worded by ``diagnosis.health``)."""
    if not (c.get("health") or {}).get("shape"):
        return None
    return from_template("shape", "What kind of group is it?", "shape.html.j2", c)


def responsiveness(ws: Any, c: Any) -> Section | None:
    if not ((c.get("charts") or {}).get("responsiveness") or (c.get("health") or {}).get("unanswered")):
        return None
    return from_template("response", "Responsiveness", "response.html.j2", c)


def membership(ws: Any, c: Any) -> Section | None:
    return if_charted("members", "Membership and retention", "members.html.j2", c, "membership")


def spikes(ws: Any, c: Any) -> Section | None:
    return if_charted("spikes", "Campaign spikes and what persisted", "spikes.html.j2", c, "spikes")
