"""Tables of the Shared Value canvas: member-needs surveys and their answers, candidate needs,
organisation goals, match reviews and decisions.

History is kept by appending: a need's status, a match verdict and a decision are each a new row; the
current state is the newest row, and every older one stays readable.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from covalue.store.models import Base, Keyed, OfCommunity, saved, utcnow
from covalue.store.shared_value_people import shown_evidence, through_merges


class EnteredByAccount:
    """Who in the team entered the row (the account may go later; the row stays) and when."""

    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), sort_order=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=1)


class Signed:
    """Who took an appended review or decision and when; the address stays if the account goes."""

    by_user: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), sort_order=1)
    by_email: Mapped[str | None] = mapped_column(String(320), sort_order=1)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=1)


class SvSurvey(OfCommunity, EnteredByAccount, Base):
    """A member-needs survey; its token is the only thing the public answer link carries."""

    __tablename__ = "sv_surveys"

    token: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SvResponse(OfCommunity, Base):
    """What one member said: a survey answer, an imported CSV row, or interview notes."""

    __tablename__ = "sv_responses"
    __table_args__ = (
        Index("ix_sv_responses_survey_at", "survey_id", "created_at"),
        Index("ix_sv_responses_client_at", "client", "created_at"),
    )

    survey_id: Mapped[int | None] = mapped_column(ForeignKey("sv_surveys.id", ondelete="SET NULL"))
    #: survey, csv or interview
    source: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    need: Mapped[str] = mapped_column(Text)
    challenges: Mapped[str | None] = mapped_column(Text)
    #: 1..5, how the member rates what the community gives them now
    rating: Mapped[int | None] = mapped_column(Integer)
    #: keyed hash of the answering client (rate limiting without keeping addresses)
    client: Mapped[str | None] = mapped_column(String(64))
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SvNeed(OfCommunity, EnteredByAccount, Base):
    """A candidate member need: from a response, from the data (resonance) or typed by the team."""

    __tablename__ = "sv_needs"

    text: Mapped[str] = mapped_column(Text)
    #: survey, csv, interview, data or team
    origin: Mapped[str] = mapped_column(String(16))
    #: how many members voiced it before any merge
    voices: Mapped[int] = mapped_column(Integer, default=1)
    evidence: Mapped[dict | None] = mapped_column(JSON)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("sv_responses.id", ondelete="SET NULL"))


class SvNeedReview(Keyed, Signed, Base):
    """One review of a need (accept, drop, merge into another, reopen); the newest one counts."""

    __tablename__ = "sv_need_reviews"

    need_id: Mapped[int] = mapped_column(ForeignKey("sv_needs.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    into_id: Mapped[int | None] = mapped_column(ForeignKey("sv_needs.id", ondelete="SET NULL"))


class SvGoal(OfCommunity, EnteredByAccount, Base):
    """A goal or problem of the sponsoring organisation, typed and tied to one of Terry's drivers."""

    __tablename__ = "sv_goals"

    text: Mapped[str] = mapped_column(Text)
    #: isolation, field (knowledge not reaching the field), adoption (knowledge not adopted), other
    kind: Mapped[str] = mapped_column(String(16))
    #: growth, effectiveness, velocity, protection
    driver: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SvMatchReview(OfCommunity, Signed, Base):
    """A person's verdict on one need-goal match; appended, the newest per pair counts."""

    __tablename__ = "sv_match_reviews"
    __table_args__ = (Index("ix_sv_match_reviews_pair", "need_id", "goal_id", "at"),)

    need_id: Mapped[int] = mapped_column(ForeignKey("sv_needs.id", ondelete="CASCADE"))
    goal_id: Mapped[int] = mapped_column(ForeignKey("sv_goals.id", ondelete="CASCADE"))
    #: confirmed or rejected
    verdict: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str | None] = mapped_column(String(16))
    words: Mapped[list | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


class SvDecision(OfCommunity, Signed, Base):
    """A decision on the community's purpose; appended, never edited, with the overlap seen when taken."""

    __tablename__ = "sv_decisions"

    #: shift_purpose, realign_membership or continue
    path: Mapped[str] = mapped_column(String(24))
    rationale: Mapped[str] = mapped_column(Text)
    sponsor_agreed: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot: Mapped[dict | None] = mapped_column(JSON)


# -- what pages, the API, the CLI and the report do with these tables ------------------------------------
#: answers allowed from one client to one survey, and to one survey in all, per window
PER_CLIENT = 5
PER_SURVEY = 120
WINDOW_MINUTES = 10
#: origins whose needs members voiced themselves: on the canvas until the team drops them
VOICED = ("survey", "csv", "interview", "team")
NEED_ACTIONS = ("accept", "drop", "merge", "reopen")


class Refused(Exception):
    """An answer or change that cannot be taken; ``code`` is the HTTP status that says why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_token() -> str:
    # 32 random bytes: unguessable, and the link grants nothing but answering this one survey
    return secrets.token_urlsafe(32)


def create_survey(db: Session, community_id: str, title: str, user_id: int | None) -> SvSurvey:
    return saved(
        db,
        SvSurvey(
            community_id=community_id,
            token=new_token(),
            title=title.strip()[:300] or "Member needs",
            created_by=user_id,
        ),
    )


def close_survey(db: Session, community_id: str, survey_id: int, user_id: int | None) -> SvSurvey:
    s = db.get(SvSurvey, survey_id)
    if s is None or s.community_id != community_id:
        raise Refused(404, "There is no such survey in this community.")
    if s.closed_at is None:
        s.closed_at = utcnow()
        s.closed_by = user_id
    return s


def survey_by_token(db: Session, token: str) -> SvSurvey | None:
    if not token or len(token) > 64:
        return None
    return db.scalars(select(SvSurvey).where(SvSurvey.token == token)).first()


def _clean(text: str | None, limit: int) -> str | None:
    t = (text or "").strip()
    return t[:limit] if t else None


def answer(
    db: Session,
    survey: SvSurvey,
    *,
    need: str,
    challenges: str | None = None,
    rating: int | None = None,
    name: str | None = None,
    client: str,
) -> SvResponse:
    """A member's answer through the survey link: refused when the survey is closed (410), when the
    need is empty (400), or when this client or the survey as a whole answered too often lately (429)."""
    if survey.closed_at is not None:
        raise Refused(410, "This survey is closed and takes no more answers. Thank you for your interest.")
    text = _clean(need, 4000)
    if not text:
        raise Refused(400, "Please say what you need from the community.")
    if rating is not None and not 1 <= rating <= 5:
        raise Refused(400, "The rating goes from 1 to 5.")
    since = utcnow() - timedelta(minutes=WINDOW_MINUTES)
    recent = (
        select(func.count())
        .select_from(SvResponse)
        .where(SvResponse.survey_id == survey.id, SvResponse.created_at >= since)
    )
    if db.scalar(recent.where(SvResponse.client == client)) >= PER_CLIENT:
        raise Refused(429, f"Too many answers from here; please try again in {WINDOW_MINUTES} minutes.")
    if db.scalar(recent) >= PER_SURVEY:
        raise Refused(
            429, f"This survey is receiving many answers; please try again in {WINDOW_MINUTES} minutes."
        )
    return _response(
        db, survey.community_id, "survey", text, challenges, rating, name, survey_id=survey.id, client=client
    )


def add_response(
    db: Session,
    community_id: str,
    source: str,
    need: str,
    challenges: str | None = None,
    rating: int | None = None,
    name: str | None = None,
    *,
    user_id: int | None = None,
) -> SvResponse:
    """A response entered by the team: an imported CSV row or interview notes."""
    text = _clean(need, 4000)
    if not text:
        raise Refused(400, "The need is empty.")
    return _response(db, community_id, source, text, challenges, rating, name, user_id=user_id)


def _response(
    db: Session,
    community_id: str,
    source: str,
    need: str,
    challenges: str | None,
    rating: int | None,
    name: str | None,
    *,
    survey_id: int | None = None,
    client: str | None = None,
    user_id: int | None = None,
) -> SvResponse:
    r = SvResponse(
        community_id=community_id,
        survey_id=survey_id,
        source=source,
        need=need,
        challenges=_clean(challenges, 4000),
        rating=rating,
        name=_clean(name, 200),
        client=client,
        entered_by=user_id,
    )
    db.add(r)
    db.flush()
    db.add(
        SvNeed(
            community_id=community_id,
            text=need,
            origin=source,
            voices=1,
            response_id=r.id,
            created_by=user_id,
        )
    )
    db.flush()
    return r


def add_need(
    db: Session,
    community_id: str,
    text: str,
    origin: str = "team",
    *,
    voices: int = 1,
    evidence: dict | None = None,
    user_id: int | None = None,
) -> SvNeed:
    t = _clean(text, 4000)
    if not t:
        raise Refused(400, "The need is empty.")
    return saved(
        db,
        SvNeed(
            community_id=community_id,
            text=t,
            origin=origin,
            voices=max(1, voices),
            evidence=evidence,
            created_by=user_id,
        ),
    )


def _need(db: Session, community_id: str, need_id: int) -> SvNeed:
    n = db.get(SvNeed, need_id)
    if n is None or n.community_id != community_id:
        raise Refused(404, "There is no such need in this community.")
    return n


def review_need(
    db: Session,
    community_id: str,
    need_id: int,
    action: str,
    *,
    into_id: int | None = None,
    user_id: int | None = None,
    email: str | None = None,
) -> SvNeedReview:
    """Accept, drop, reopen, or merge a need into another (its voices then count for the other)."""
    if action not in NEED_ACTIONS:
        raise Refused(400, f"Unknown action {action!r}.")
    _need(db, community_id, need_id)
    if action == "merge":
        if into_id is None or into_id == need_id:
            raise Refused(400, "Choose another need to merge this one into.")
        _need(db, community_id, into_id)
        status = statuses(db, community_id)
        # following merges from the target must not lead back here, or voices would go round in circles
        seen, cur = {need_id}, into_id
        while cur is not None:
            if cur in seen:
                raise Refused(400, "That merge would make a circle of needs.")
            seen.add(cur)
            cur = status.get(cur, ("", None))[1]
    return saved(
        db,
        SvNeedReview(
            need_id=need_id,
            action=action,
            into_id=into_id if action == "merge" else None,
            by_user=user_id,
            by_email=email,
        ),
    )


def statuses(db: Session, community_id: str) -> dict[int, tuple[str, int | None]]:
    """need id -> (status, merged into) from the newest review, or the default of its origin."""
    out: dict[int, tuple[str, int | None]] = {}
    for n in db.scalars(select(SvNeed).where(SvNeed.community_id == community_id)):
        out[n.id] = ("accepted" if n.origin in VOICED else "candidate", None)
    q = (
        select(SvNeedReview)
        .join(SvNeed, SvNeed.id == SvNeedReview.need_id)
        .where(SvNeed.community_id == community_id)
        .order_by(SvNeedReview.at, SvNeedReview.id)
    )
    words = {"accept": "accepted", "drop": "dropped", "merge": "merged"}
    for r in db.scalars(q):
        if r.action == "reopen":
            n = db.get(SvNeed, r.need_id)
            out[r.need_id] = ("accepted" if n and n.origin in VOICED else "candidate", None)
        else:
            out[r.need_id] = (words[r.action], r.into_id)
    return out


def add_goal(
    db: Session, community_id: str, text: str, kind: str, driver: str, *, user_id: int | None = None
) -> SvGoal:
    from covalue.canvas.shared_value import DRIVERS, KINDS

    t = _clean(text, 4000)
    if not t:
        raise Refused(400, "The goal is empty.")
    if kind not in KINDS:
        raise Refused(400, f"Choose the kind of problem: {', '.join(KINDS)}.")
    if driver not in DRIVERS:
        raise Refused(400, f"Choose one of the four drivers: {', '.join(DRIVERS)}.")
    return saved(db, SvGoal(community_id=community_id, text=t, kind=kind, driver=driver, created_by=user_id))


def review_match(
    db: Session,
    community_id: str,
    need_id: int,
    goal_id: int,
    verdict: str,
    *,
    score: float | None = None,
    method: str | None = None,
    words: list[str] | None = None,
    note: str | None = None,
    user_id: int | None = None,
    email: str | None = None,
) -> SvMatchReview:
    if verdict not in ("confirmed", "rejected"):
        raise Refused(400, "A match is either confirmed or rejected.")
    _need(db, community_id, need_id)
    g = db.get(SvGoal, goal_id)
    if g is None or g.community_id != community_id:
        raise Refused(404, "There is no such goal in this community.")
    return saved(
        db,
        SvMatchReview(
            community_id=community_id,
            need_id=need_id,
            goal_id=goal_id,
            verdict=verdict,
            score=score,
            method=method,
            words=words,
            note=_clean(note, 2000),
            by_user=user_id,
            by_email=email,
        ),
    )


def add_decision(
    db: Session,
    community_id: str,
    path: str,
    rationale: str,
    *,
    sponsor_agreed: bool = False,
    snapshot: dict | None = None,
    user_id: int | None = None,
    email: str | None = None,
) -> SvDecision:
    from covalue.canvas.shared_value import PATHS

    if path not in PATHS:
        raise Refused(400, f"Choose a path: {', '.join(PATHS)}.")
    why = _clean(rationale, 4000)
    if not why:
        raise Refused(400, "Say why: a decision without its reasons cannot be revisited.")
    if path == "shift_purpose" and not sponsor_agreed:
        raise Refused(
            400, "Shifting the community's purpose needs the sponsor's agreement; tick it once given."
        )
    return saved(
        db,
        SvDecision(
            community_id=community_id,
            path=path,
            rationale=why,
            sponsor_agreed=sponsor_agreed,
            snapshot=snapshot,
            by_user=user_id,
            by_email=email,
        ),
    )


def state(db: Session, community_id: str) -> dict[str, Any]:
    """Everything of one community's canvas as plain dicts: needs (with status and the distinct people
    behind them per measure, merged needs included), goals, match reviews and decisions oldest first, surveys, and response figures."""
    status = statuses(db, community_id)
    needs = list(db.scalars(select(SvNeed).where(SvNeed.community_id == community_id).order_by(SvNeed.id)))
    own, people, legacy = through_merges(needs, status)
    need_rows = [
        {
            "id": n.id,
            "text": n.text,
            "origin": n.origin,
            "respondents": len(people[n.id]["respondents"]),
            "askers": len(people[n.id]["askers"]),
            "people": {m: sorted(ids) for m, ids in people[n.id].items()},
            "own_respondents": len(own[n.id][0]["respondents"]),
            "own_askers": len(own[n.id][0]["askers"]),
            # needs taken from the data before people were counted carry question counts: shown, not counted
            "questions_uncounted": legacy[n.id],
            "status": status[n.id][0],
            "merged_into": status[n.id][1],
            "evidence": shown_evidence(n.evidence),
            "created_at": _iso(n.created_at),
        }
        for n in needs
    ]
    goals = [
        {"id": g.id, "text": g.text, "kind": g.kind, "driver": g.driver, "created_at": _iso(g.created_at)}
        for g in db.scalars(
            select(SvGoal).where(SvGoal.community_id == community_id, SvGoal.active).order_by(SvGoal.id)
        )
    ]
    reviews = [
        {
            "id": r.id,
            "need_id": r.need_id,
            "goal_id": r.goal_id,
            "verdict": r.verdict,
            "score": r.score,
            "method": r.method,
            "words": r.words or [],
            "note": r.note,
            "by": r.by_email,
            "at": _iso(r.at),
        }
        for r in db.scalars(
            select(SvMatchReview)
            .where(SvMatchReview.community_id == community_id)
            .order_by(SvMatchReview.at, SvMatchReview.id)
        )
    ]
    decisions = [
        {
            "id": d.id,
            "path": d.path,
            "rationale": d.rationale,
            "sponsor_agreed": d.sponsor_agreed,
            "by": d.by_email,
            "at": _iso(d.at),
            "snapshot": d.snapshot,
        }
        for d in db.scalars(
            select(SvDecision)
            .where(SvDecision.community_id == community_id)
            .order_by(SvDecision.at, SvDecision.id)
        )
    ]
    surveys = [
        {
            "id": s.id,
            "title": s.title,
            "token": s.token,
            "created_at": _iso(s.created_at),
            "closed_at": _iso(s.closed_at),
            "answers": db.scalar(
                select(func.count()).select_from(SvResponse).where(SvResponse.survey_id == s.id)
            ),
        }
        for s in db.scalars(
            select(SvSurvey).where(SvSurvey.community_id == community_id).order_by(SvSurvey.id)
        )
    ]
    resp = db.execute(
        select(SvResponse.source, func.count(), func.avg(SvResponse.rating))
        .where(SvResponse.community_id == community_id)
        .group_by(SvResponse.source)
    ).all()
    return {
        "needs": need_rows,
        "goals": goals,
        "reviews": reviews,
        "decisions": decisions,
        "surveys": surveys,
        "responses": {
            src: {"n": n, "avg_rating": float(avg) if avg is not None else None} for src, n, avg in resp
        },
    }


def challenges(db: Session, community_id: str, limit: int = 50) -> list[str]:
    """The challenges members wrote (no names), newest first, for the team to read beside the needs."""
    q = (
        select(SvResponse.challenges)
        .where(SvResponse.community_id == community_id, SvResponse.challenges.is_not(None))
        .order_by(SvResponse.created_at.desc(), SvResponse.id.desc())
        .limit(limit)
    )
    return [c for c in db.scalars(q) if c]


def _iso(v: datetime | None) -> str | None:
    return v.isoformat(timespec="seconds") + "Z" if v else None
