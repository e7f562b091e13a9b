"""The portfolio: every community this account may see, one row each with its latest month's figures,
as the home page (with the stage-mix chart) and as ``GET /api/communities``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from covalue.presentation import json_for_script
from covalue.report import charts
from covalue.web.common import (
    CtxDep,
    redirect,
    render,
    signed_in,
    summary_row,
    visible_communities,
)
from covalue.web.security import Ctx

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["covalue"])


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
    return render(
        ctx,
        "portfolio.html.j2",
        title="Communities",
        nav="portfolio",
        rows=[summary_row(c) for c in cs],
        chart=chart,
        specs=specs,
        no_data=not snap.names,
        errors=errors,
    )


@api.get("/communities", response_model=list[CommunitySummary])
def communities(ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    """The communities this account may see, each with its latest month's figures."""
    signed_in(ctx)
    return [summary_row(c) for c in visible_communities(ctx)]


router = APIRouter()
router.include_router(pages)
router.include_router(api)
