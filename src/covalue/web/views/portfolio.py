"""The portfolio: every community this account may see, one row each with its latest month's figures,
as the home page (with the stage-mix chart) and as ``GET /api/communities``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from covalue.canvas import collaboration_data
from covalue.presentation import json_for_script
from covalue.report import charts
from covalue.web.common import redirect, render, signed_in, summary_row, visible_communities
from covalue.web.views.base import Ctx, CtxDep, joined, routers

pages, api = routers()
log = logging.getLogger(__name__)


class CommunitySummary(BaseModel):
    id: str
    name: str
    period: str
    shape: str | None
    verdict: str | None
    active: int
    stage_mix: dict[str, int]
    solving: float | None
    response_rate: float | None
    growth: str | None
    passed: int
    checks: int


@pages.get("/")
def portfolio(ctx: Ctx = CtxDep) -> Response:
    if not ctx.signed_in:
        return redirect(ctx, "/login")
    assert ctx.access is not None
    if not ctx.access.can("view") and ctx.user and ctx.user.member_id:
        return redirect(ctx, "/me")
    cs = visible_communities(ctx)
    snap = ctx.site.snapshot()
    chart = None
    if len(cs) > 1:
        try:
            chart = charts.portfolio_mix(cs)
        except Exception as e:  # the table above carries the same numbers
            snap.errors.append(f"portfolio chart: {e}")
    specs = json_for_script({chart["id"]: chart["figure"]} if chart else {})
    errors = snap.errors if ctx.access.is_admin else []
    glance = []
    for c in cs:
        prompts = c.get("prompts") or []
        try:  # the canvases people filled in: goals, agreed shared value, experiments, stories
            with ctx.site.store.session() as db:
                one = collaboration_data.sponsor_view(db, c["id"], c)
            canvas = {
                "goals": len(one.get("goals") or []),
                "decisions": len(one.get("shared_value") or []),
                "experiments": len(one.get("experiments") or []),
                "stories": len(one.get("stories") or []),
            }
        except Exception as e:  # a store without canvas tables: the headline still stands
            log.info("portfolio: no canvas for %s: %s", c["id"], e)
            canvas = None
        glance.append(
            {
                "id": c["id"],
                "name": c["name"],
                "shape": ((c.get("health") or {}).get("shape") or {}).get("shape"),
                "verdict": c.get("verdict"),
                "head": c.get("headline"),
                "action": prompts[0] if prompts else None,
                "canvas": canvas,
            }
        )
    return render(
        ctx,
        "portfolio.html.j2",
        title="Communities",
        nav="portfolio",
        glance=glance,
        rows=[summary_row(c) for c in cs],
        chart=chart,
        specs=specs,
        no_data=not snap.names,
        errors=errors,
    )


@pages.get("/report.html")
def report_download(ctx: Ctx = CtxDep) -> Response:
    """The value report of the communities this account may see, as ``covalue report`` writes it."""
    signed_in(ctx)
    cs = visible_communities(ctx)
    if not cs:
        return HTMLResponse("<p>No community is shared with your account, so there is no report.</p>", 404)
    html = ctx.site.report_html([c["id"] for c in cs])
    return HTMLResponse(html, headers={"Content-Disposition": 'attachment; filename="covalue-report.html"'})


@api.get("/communities", response_model=list[CommunitySummary])
def communities(ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    """The communities this account may see, each with its latest month's figures."""
    signed_in(ctx)
    return [summary_row(c) for c in visible_communities(ctx)]


router = joined(pages, api)
