"""Built-in section on what resonates: the content members view, reply to and react to, and the
themes of questions still unanswered."""

from __future__ import annotations

from typing import Any

from covalue.report.sections import Section, from_template


def resonance(ws: Any, c: Any) -> Section | None:
    if c.get("resonance") is None:
        return None
    return from_template("resonance", "What resonates with members", "resonance.html.j2", c)
