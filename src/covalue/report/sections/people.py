"""Built-in sections on people: the network of who responds to whom, and the champions. Both are
shown only when the workspace could compute them (an empty result says so in words)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts
    from covalue.workspace import Workspace

from covalue.report.sections import Section, from_template


def network(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    if c.get("network") is None:
        return None
    return from_template("network", "The network", "network.html.j2", c)


def champions(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    if c.get("champions") is None:
        return None
    return from_template("champions", "Champions", "champions.html.j2", c)
