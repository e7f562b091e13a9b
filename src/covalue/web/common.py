"""What pages and the API share: the request context dependency, access checks, rendering, and the
views of a community's results that each role may see."""

from __future__ import annotations

import functools
import re
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from covalue import presentation
from covalue.report import charts
from covalue.store import User
from covalue.store import accounts as acc
from covalue.web.security import Ctx, finish, load_ctx
from covalue.web.site import PERSON_LEVEL_CHARTS, Site

TABS = [
    ("overview", "Overview"),
    ("journey", "Journey"),
    ("health", "Health"),
    ("people", "People"),
    ("content", "Content"),
    ("shared-value", "Shared value"),
    ("canvas", "Canvas"),
]
STATE_WORDS = {
    "queued": "Waiting",
    "checking": "Checking",
    "ingesting": "Reading",
    "analysing": "Analysing",
    "done": "Finished",
    "failed": "Failed",
    "refused": "Refused",
}
OP_WORDS = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
#: suggestions shown to a member for moving on from each stage
TIPS = {
    "observer": [
        "Reply to a post that helped you, or react to it: a small signal tells the author it mattered.",
        "Introduce yourself and what you work on, so others know what to ask you about.",
    ],
    "connect": [
        "Share something you found useful this week: a link, a result, a lesson learned.",
        "Ask others what they think of it; a response is what turns sharing into value.",
    ],
    "share": [
        "Look for an open question you can answer, even in part.",
        "Bring a problem of your own: asking a question others answer is solving too.",
    ],
    "solve": [
        "Propose an improvement or a new idea and invite others to build on it.",
        "Join or start an experiment with the community team.",
    ],
    "innovate": [
        "Help newcomers take their first steps, and support others' ideas.",
        "Tell the story of what changed thanks to the community.",
    ],
}


class LoginRequired(Exception):
    """Raised by page handlers when nobody is signed in; answered with a redirect to the sign-in page."""


def site_of(request: Request) -> Site:
    return request.app.state.site


def get_ctx(request: Request) -> Ctx:
    """The request's context, loaded once (the CSRF check and the handler share it)."""
    ctx = getattr(request.state, "ctx", None)
    if ctx is None:
        ctx = request.state.ctx = load_ctx(site_of(request), request)
    return ctx


CtxDep = Depends(get_ctx)


def signed_in(ctx: Ctx) -> Ctx:
    if not ctx.signed_in:
        raise LoginRequired()
    return ctx


def admin_only(ctx: Ctx, refusal: str) -> None:
    """Go on only for a signed-in administrator; anyone else is refused (403) with ``refusal``."""
    signed_in(ctx)
    assert ctx.access is not None
    if not ctx.access.is_admin:
        raise HTTPException(403, refusal)


def community(ctx: Ctx, cid: str, what: str = "view") -> dict[str, Any]:
    """The community's results if ``ctx`` may ``what`` there; 404 when unknown, 403 when not allowed.
    (A manager of another community learns no more than that the page is not theirs.)"""
    signed_in(ctx)
    assert ctx.access is not None
    snap = ctx.site.snapshot()
    if cid not in snap.names:
        raise HTTPException(404, "There is no such community in this workspace.")
    if not ctx.access.can(what, cid):
        raise HTTPException(403, "Your account has no access to this page of this community.")
    c = snap.communities.get(cid)
    if c is None:
        raise HTTPException(404, "This community has no analysed activity yet.")
    return c


def community_tabs(ctx: Ctx, cid: str) -> list[tuple[str, str]]:
    """The community's tabs this account may open (People only with access to people)."""
    assert ctx.access is not None
    return [(k, label) for k, label in TABS if k != "people" or ctx.access.can("people", cid)]


def render_tab(
    ctx: Ctx, c: dict[str, Any], template: str, tab: str, heading: str, code: int = 200, **values: Any
) -> HTMLResponse:
    """A page under one of a community's tabs: its title, the portfolio's navigation and the tabs
    this account may open."""
    return render(
        ctx,
        template,
        code,
        title=f"{c['name']} · {heading}",
        nav="portfolio",
        c=c,
        tab=tab,
        tabs=community_tabs(ctx, c["id"]),
        **values,
    )


def names_allowed(ctx: Ctx, cid: str) -> bool:
    """Whether pages show members' names here (the role allows it and the workspace shows names)."""
    return ctx.access is not None and ctx.access.can("names", cid) and ctx.site.show_names


def audit(ctx: Ctx, action: str, cid: str | None, subject: str | None) -> None:
    """Record a person-level read or a change in the audit log, under the signed-in account."""
    with ctx.site.store.session() as db:
        user = db.get(User, ctx.user.id) if ctx.user else None
        acc.audit(db, user, action, community=cid, subject=subject)


def redirect(ctx: Ctx, url: str) -> Response:
    """See other (303), keeping a new anonymous CSRF cookie."""
    return finish(ctx, RedirectResponse(url, status_code=303))


def visible_communities(ctx: Ctx, what: str = "view") -> list[dict[str, Any]]:
    assert ctx.access is not None
    snap = ctx.site.snapshot()
    return [
        c
        for cid, c in sorted(snap.communities.items(), key=lambda kv: kv[1]["name"].lower())
        if ctx.access.can(what, cid)
    ]


def summary_row(c: dict[str, Any]) -> dict[str, Any]:
    """A community in one row: the figures the portfolio and the API show (no person-level data)."""
    h = c.get("health") or {}
    mix = c.get("mix") or {}
    active = int(mix.get("active") or 0)
    checks = c.get("checks") or []
    return {
        "id": c["id"],
        "name": c["name"],
        "period": c["period"],
        "shape": (h.get("shape") or {}).get("shape"),
        "verdict": c.get("verdict"),
        "active": active,
        "stage_mix": {s: int(mix.get(s) or 0) for s in charts.STAGES},
        "solving": (int(mix.get("solve") or 0) + int(mix.get("innovate") or 0)) / active if active else None,
        "response_rate": (h.get("responsiveness") or {}).get("response_rate"),
        "growth": ((c.get("dynamics") or {}).get("growth") or {}).get("verdict"),
        "passed": sum(1 for ch in checks if ch.get("passed")),
        # a check the export cannot measure (no idea signal) is neither passed nor missed
        "checks": sum(1 for ch in checks if ch.get("measurable") is not False),
    }


def visible_charts(ctx: Ctx, c: dict[str, Any]) -> dict[str, Any]:
    """The community's charts minus those that single out people, unless the user may see people."""
    people = ctx.access is not None and ctx.access.can("people", c["id"])
    return {k: v for k, v in c.get("charts", {}).items() if people or k not in PERSON_LEVEL_CHARTS}


def _check(v: Any, measure: str) -> str:
    """A stage check's value: a share as a percentage, a count as a number."""
    if v is None:
        return presentation.MISSING
    if re.search(r"\b(share|kept|rate)\b", measure):
        return presentation.pct(v)
    return presentation.num(v, 0 if float(v).is_integer() else 1)


@functools.cache
def env() -> Environment:
    """The pages' Jinja environment: the shared one (``covalue.presentation``) plus the stage-check
    filter and the words for comparison operators."""
    e = presentation.environment("covalue.web")
    e.filters["check"] = _check
    e.globals["op_words"] = OP_WORDS
    return e


def render(ctx: Ctx, template: str, code: int = 200, **values: Any) -> HTMLResponse:
    roles = ", ".join(f"{r}{' of ' + c if c else ''}" for r, c in ctx.access.roles) if ctx.access else ""
    html = env().get_template(template).render(ctx=ctx, role_text=roles, **values)
    return finish(ctx, HTMLResponse(html, status_code=code))
