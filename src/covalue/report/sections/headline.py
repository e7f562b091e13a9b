"""The first screen of each community: the value headline (covalue.headline), the shape verdict and the
one thing the sponsor can do. The canvases' goals, decisions, stories and experiments follow it open;
every other section folds away (see :data:`FIRST_SCREEN`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from covalue.report import view
from covalue.report.sections import Section

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts
    from covalue.workspace import Workspace

#: the section keys shown open on the first screen; the others are folded (one click opens them)
FIRST_SCREEN: tuple[str, ...] = ("headline", "collaboration", "shared-value")


def sponsor_action(c: CommunityFacts) -> dict[str, Any] | None:
    """The one thing the sponsor can do: the first coaching prompt (its title and first thing to try)."""
    prompts = c.get("prompts") or []
    if not prompts:
        return None
    p = prompts[0]
    actions = p.get("actions") or []
    return {"title": p.get("title"), "try": actions[0] if actions else None}


def value(ws: Workspace | None, c: CommunityFacts) -> Section | None:
    """The value headline with its trend, the verdict and the sponsor's next step."""
    head = c.get("headline")
    if not head:
        return None
    shape = ((c.get("health") or {}).get("shape") or {}).get("shape")
    html = view.render("sections/headline.html.j2", c=c, head=head, shape=shape, action=sponsor_action(c))
    return Section(key="headline", title="Value at a glance", html=html, css="headline-block")
