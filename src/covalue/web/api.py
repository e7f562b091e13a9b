"""The JSON API under ``/api`` (OpenAPI schema at ``/api/openapi.json``). It uses the same session
cookie as the pages; state-changing calls need the ``X-CSRF-Token`` header (its value is in
``GET /api/me``)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from covalue.store import User
from covalue.store import accounts as acc
from covalue.web import uploads
from covalue.web.common import STATE_WORDS, CtxDep, community, summary_row, visible_communities
from covalue.web.pages import accept_upload, load_job
from covalue.web.security import Ctx

router = APIRouter(prefix="/api", tags=["covalue"])


class Me(BaseModel):
    email: str
    roles: list[tuple[str, str | None]]
    member_id: str | None
    csrf_token: str


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


class Check(BaseModel):
    stage: str
    question: str
    measure: str
    value: float | None
    threshold: float | None
    op: str
    #: the span measured: "2020-05" (the month) or "90 days to 2020-05-31" (the trailing window)
    window: str | None = None
    #: false when the export cannot show this at all (no idea signal): value and passed are then empty
    measurable: bool = True
    passed: bool | None


class CommunityDetail(CommunitySummary):
    stage_checks: list[Check]
    shape_explanation: str | None
    growth_explanation: str | None


class Person(BaseModel):
    member_id: str
    label: str
    stage: str
    persona: str | None
    n_interactions: int
    n_items: int
    responders: int


class JobOut(BaseModel):
    id: str
    filename: str
    community_id: str | None
    state: str
    state_text: str
    step: str | None
    progress: int
    error: str | None
    summary: dict[str, Any] | None


def _user(ctx: Ctx) -> Ctx:
    if not ctx.signed_in:
        raise HTTPException(401, "sign in first")
    return ctx


def _job_out(job: Any) -> JobOut:
    return JobOut(
        id=job.id,
        filename=job.filename,
        community_id=job.community_id,
        state=job.state,
        state_text=STATE_WORDS.get(job.state, job.state),
        step=job.step,
        progress=job.progress,
        error=job.error,
        summary=job.summary,
    )


@router.get("/me", response_model=Me)
def me(ctx: Ctx = CtxDep) -> Me:
    """Who is signed in, their roles, and the CSRF token for state-changing calls."""
    _user(ctx)
    assert ctx.user is not None and ctx.access is not None
    return Me(
        email=ctx.user.email, roles=list(ctx.access.roles), member_id=ctx.user.member_id, csrf_token=ctx.csrf
    )


@router.get("/communities", response_model=list[CommunitySummary])
def communities(ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    """The communities this account may see, each with its latest month's figures."""
    _user(ctx)
    return [summary_row(c) for c in visible_communities(ctx)]


@router.get("/communities/{cid}", response_model=CommunityDetail)
def community_detail(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    """One community's figures, stage checks, and the explanations of its shape and growth."""
    _user(ctx)
    c = community(ctx, cid)
    h = c.get("health") or {}
    return {
        **summary_row(c),
        "stage_checks": [
            {
                k: ch.get(k)
                for k in ("stage", "question", "measure", "value", "threshold", "op", "window", "passed")
            }
            | {"measurable": ch.get("measurable") is not False}
            for ch in c.get("checks") or []
        ],
        "shape_explanation": (h.get("shape") or {}).get("explanation"),
        "growth_explanation": ((c.get("dynamics") or {}).get("growth") or {}).get("explanation"),
    }


@router.get("/communities/{cid}/people", response_model=list[Person])
def people(cid: str, ctx: Ctx = CtxDep) -> list[dict[str, Any]]:
    """Members of the community in its latest month (person-level: roles with people access only;
    each call is recorded in the audit log)."""
    _user(ctx)
    community(ctx, cid, "people")
    assert ctx.access is not None
    names = ctx.access.can("names", cid) and ctx.site.show_names
    rows = ctx.site.people(cid, names=names)
    with ctx.site.store.session() as db:
        acc.audit(
            db,
            db.get(User, ctx.user.id) if ctx.user else None,
            "viewed people (api)",
            community=cid,
            subject=f"{len(rows)} members",
        )
    return rows


@router.get("/communities/{cid}/members/{mid}")
def member(cid: str, mid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    """Why a member is at their stage (person-level; audited)."""
    _user(ctx)
    community(ctx, cid, "people")
    ex = ctx.site.explain(mid, cid)
    if ex is None or not ex["communities"]:  # members of other communities stay out of reach
        raise HTTPException(404, "no such member in this community")
    with ctx.site.store.session() as db:
        acc.audit(
            db,
            db.get(User, ctx.user.id) if ctx.user else None,
            "viewed member journey (api)",
            community=cid,
            subject=ex["member_id"],
        )
    return ex


@router.get("/journey")
def my_journey(ctx: Ctx = CtxDep) -> dict[str, Any]:
    """The signed-in member's own stage, evidence and next step."""
    _user(ctx)
    assert ctx.user is not None
    if not ctx.user.member_id:
        raise HTTPException(404, "this account is not linked to a member")
    ex = ctx.site.explain(ctx.user.member_id)
    if ex is None:
        raise HTTPException(404, "no activity for this member in the analysed data")
    return ex


@router.post("/uploads", response_model=JobOut, status_code=202)
async def upload(ctx: Ctx = CtxDep) -> JobOut:
    """Upload an export (multipart field ``file``, optional ``community``; the CSRF token as the
    ``X-CSRF-Token`` header or a ``csrf_token`` field before the file). Returns the job to poll."""
    _user(ctx)
    sent = ctx.request.headers.get("x-csrf-token")
    if sent is not None and not hmac.compare_digest(sent, ctx.csrf):
        raise HTTPException(403, "CSRF token missing or wrong")
    try:
        job = await accept_upload(ctx, header_checked=sent is not None)
    except uploads.UploadRefused as e:
        raise HTTPException(e.status, e.message) from None
    return _job_out(job)


@router.get("/jobs/{job_id}", response_model=JobOut)
def job(job_id: str, ctx: Ctx = CtxDep) -> JobOut:
    """The state and progress of an upload; ``summary`` holds the counts and rejects when done."""
    _user(ctx)
    return _job_out(load_job(ctx, job_id))
