"""Data: uploading an export (from the page's form or ``POST /api/uploads``, the same multipart body
through the same checks), the upload's job with its progress and results, and the list of recent
uploads an account may see."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from covalue.presentation import json_for_script
from covalue.store import Job, jobs
from covalue.web import uploads
from covalue.web.common import STATE_WORDS, redirect, render, signed_in, visible_charts
from covalue.web.csrf import streams_body
from covalue.web.views.base import Ctx, CtxDep, joined, routers

pages, api = routers()
#: the routes that stream an upload to disk: the app's guard gives them the upload size limit
STREAMED_PATHS = frozenset({"/data/upload", "/api/uploads"})


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

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
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


def _upload_targets(ctx: Ctx) -> list[tuple[str, str]]:
    assert ctx.access is not None
    names = ctx.site.snapshot().names
    return [
        (cid, names[cid])
        for cid in sorted(names, key=lambda k: names[k].lower())
        if ctx.access.can("upload", cid)
    ]


def _jobs_for(ctx: Ctx) -> list[Job]:
    assert ctx.access is not None and ctx.user is not None
    mine = None if ctx.access.is_admin else [cid for cid, _ in _upload_targets(ctx)]
    with ctx.site.store.session() as db:
        return jobs.recent(db, user_id=ctx.user.id, communities=mine)


def _may_upload(ctx: Ctx) -> None:
    signed_in(ctx)
    assert ctx.access is not None
    if not ctx.access.can("upload"):
        raise HTTPException(403, "Your account cannot upload data.")


def _data_page(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
    _may_upload(ctx)
    assert ctx.access is not None
    return render(
        ctx,
        "data.html.j2",
        status,
        title="Data",
        nav="data",
        communities=_upload_targets(ctx),
        jobs=_jobs_for(ctx),
        status=ctx.site.status() if ctx.access.is_admin else None,
        error=error,
        max_size=uploads.size_text(ctx.site.limits.max_upload_bytes),
    )


async def accept_upload(ctx: Ctx) -> Job:
    """Receive an upload (size limited, and the CSRF field checked before the file unless the router
    already checked a header) and queue its job."""
    _may_upload(ctx)
    assert ctx.access is not None and ctx.user is not None
    site = ctx.site
    job_id = uuid.uuid4().hex
    got = await uploads.receive(
        ctx.request,
        site.upload_dir() / job_id,
        max_bytes=site.limits.max_upload_bytes,
        token=ctx.csrf if ctx.csrf_pending else None,
    )
    target = (got.fields.get("community") or "").strip() or None
    if not (ctx.access.is_admin or (target is not None and ctx.access.can("upload", target))):
        site.discard_upload(job_id)
        raise uploads.UploadRefused(403, "Choose one of your communities for this export.")
    with site.store.session() as db:
        job = jobs.queue(
            db,
            job_id,
            user_id=ctx.user.id,
            filename=got.filename or "upload",
            community_id=target,
            size_bytes=got.size,
        )
    site.submit(job_id)
    return job


def load_job(ctx: Ctx, job_id: str) -> Job:
    """The upload's job when this account started it or may upload to its community (else 404)."""
    signed_in(ctx)
    assert ctx.access is not None and ctx.user is not None
    with ctx.site.store.session() as db:
        job = db.get(Job, job_id)
    if job is None:
        raise HTTPException(404, "There is no such upload.")
    mine = job.user_id == ctx.user.id
    if not (mine or ctx.access.is_admin or (job.community_id and ctx.access.can("upload", job.community_id))):
        raise HTTPException(404, "There is no such upload.")
    return job


@pages.get("/data")
def data(ctx: Ctx = CtxDep) -> Response:
    return _data_page(ctx)


@pages.post("/data/upload")
@streams_body
async def upload(ctx: Ctx = CtxDep) -> Response:
    try:
        job = await accept_upload(ctx)
    except uploads.UploadRefused as e:
        return _data_page(ctx, e.status, error=f"The upload was refused: {e.message}.")
    return redirect(ctx, f"/data/jobs/{quote(job.id)}")


@pages.get("/data/jobs/{job_id}")
def job_page(job_id: str, ctx: Ctx = CtxDep) -> Response:
    job = load_job(ctx, job_id)
    assert ctx.access is not None
    summary = job.summary or {}
    snap = ctx.site.snapshot()
    results = []
    if job.state == "done":
        for cid in summary.get("communities") or []:
            c = snap.communities.get(cid)
            if c is not None and ctx.access.can("view", cid):
                results.append({**c, "charts": visible_charts(ctx, c)})
    specs = {
        c["charts"]["mix_now"]["id"]: c["charts"]["mix_now"]["figure"]
        for c in results
        if "mix_now" in c["charts"]
    }
    return render(
        ctx,
        "job.html.j2",
        title=job.filename,
        nav="data",
        job=job,
        summary=summary,
        results=results,
        running=job.state not in ("done", "failed", "refused"),
        state_words=STATE_WORDS,
        specs=json_for_script(specs) if specs else None,
    )


@api.post("/uploads", response_model=JobOut, status_code=202)
@streams_body
async def upload_api(ctx: Ctx = CtxDep) -> JobOut:
    """Upload an export (multipart field ``file``, optional ``community``; the CSRF token as the
    ``X-CSRF-Token`` header or a ``csrf_token`` field before the file). Returns the job to poll."""
    try:
        job = await accept_upload(ctx)
    except uploads.UploadRefused as e:
        raise HTTPException(e.status, e.message) from None
    return JobOut.of(job)


@api.get("/jobs/{job_id}", response_model=JobOut)
def job(job_id: str, ctx: Ctx = CtxDep) -> JobOut:
    """The state and progress of an upload; ``summary`` holds the counts and rejects when done."""
    return JobOut.of(load_job(ctx, job_id))


router = joined(pages, api)
