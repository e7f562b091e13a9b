"""Built-in sections on the value journey: the verdict in short, where members stand, how they moved
between stages, and the stage checks."""

from __future__ import annotations

from typing import Any

from covalue.report.sections import Section, from_template


def summary(ws: Any, c: Any) -> Section:
    """The verdict and the headline figures (always shown)."""
    return from_template("verdict", "In short", "verdict.html.j2", c, css="verdict-block")


def stages(ws: Any, c: Any) -> Section | None:
    ch = c.get("charts") or {}
    if not (ch.get("mix_now") or ch.get("mix_over_time")):
        return None
    return from_template("stages", "Where members stand on the value journey", "stages.html.j2", c)


def journey(ws: Any, c: Any) -> Section | None:
    if not (c.get("charts") or {}).get("journey"):
        return None
    return from_template("journey", "The journey between stages", "journey.html.j2", c)


def checks(ws: Any, c: Any) -> Section | None:
    if not c.get("checks"):
        return None
    return from_template("checks", "Stage checks", "checks.html.j2", c)
