"""Built-in sections on people: the network of who responds to whom, and the champions. Both are
shown only when the workspace could compute them (an empty result says so in words)."""

from __future__ import annotations

from typing import Any

from covalue.report.sections import Section, from_template


def network(ws: Any, c: Any) -> Section | None:
    if c.get("network") is None:
        return None
    return from_template("network", "The network", "network.html.j2", c)


def champions(ws: Any, c: Any) -> Section | None:
    if c.get("champions") is None:
        return None
    return from_template("champions", "Champions", "champions.html.j2", c)
