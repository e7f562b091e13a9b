"""Upload jobs in the store: queue one for an uploaded export, record its progress as the background
worker goes, and list or find the jobs an account may follow (its own, and those of the communities it
may upload to; an administrator's, all); at the server's start, fail the jobs a stopped server left
running."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from covalue.store.models import Job, utcnow


def queue(
    db: Session, job_id: str, *, user_id: int, filename: str, community_id: str | None, size_bytes: int
) -> Job:
    """A new job waiting for the worker."""
    job = Job(
        id=job_id,
        user_id=user_id,
        filename=filename,
        community_id=community_id,
        state="queued",
        step="waiting to start",
        progress=0,
        size_bytes=size_bytes,
    )
    db.add(job)
    return job


def update(db: Session, job_id: str, **values: Any) -> None:
    """Set the job's state, step, progress, summary or error (a job deleted meanwhile is left alone)."""
    job = db.get(Job, job_id)
    if job is not None:
        for k, v in values.items():
            setattr(job, k, v)


def recent(db: Session, *, user_id: int, communities: list[str] | None, limit: int = 20) -> list[Job]:
    """The latest jobs the account follows: its own and those of ``communities`` (``None``: all)."""
    q = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if communities is not None:
        q = q.where(or_(Job.user_id == user_id, Job.community_id.in_(communities)))
    return list(db.scalars(q))


#: states of a job the worker has taken up and not finished
RUNNING = ("checking", "ingesting", "analysing")
#: what a job stopped by the server's end says (its upload is removed; the export was not kept)
STOPPED = "the server stopped while reading this file; nothing of it was kept — upload it again"


def interrupted(db: Session) -> tuple[list[str], list[str]]:
    """At the server's start: jobs a stopped server left running are marked failed with a plain
    reason; returns (the ids so marked, the ids still queued, for the worker to take up again)."""
    failed: list[str] = []
    for job in db.scalars(select(Job).where(Job.state.in_(RUNNING))):
        job.state, job.step, job.progress = "failed", "stopped", 100
        job.error, job.finished_at = STOPPED, utcnow()
        failed.append(job.id)
    waiting = list(db.scalars(select(Job.id).where(Job.state == "queued").order_by(Job.created_at)))
    return failed, waiting
