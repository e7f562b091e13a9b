"""Tables of the Collaboration canvas: canvas entries, experiments with their participants
and linked items, value stories, and the append-only revisions of all three.

Concurrent editing: every canvas entry, experiment and story is its own row carrying a ``version``. A
save names the version it started from; the row is updated only if that is still the current version
(one conditional UPDATE), otherwise the change is merged field by field with whatever was saved in
between (``covalue.canvas.collaboration.merge3``) and tried again. Every saved state is appended to
``cc_revisions``, so nothing anyone typed is lost and the history can be read back.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from covalue.canvas import collaboration as cc
from covalue.canvas.collaboration import ENTRY_FIELDS, EXPERIMENT_FIELDS, STORY_FIELDS, merge3
from covalue.journey import EXPERIMENT_ITEMS_TABLE, EXPERIMENTS_TABLE
from covalue.store.models import Base, Keyed, OfCommunity, saved, utcnow

if TYPE_CHECKING:
    from covalue.workspace import Workspace


class Edited:
    """A canvas object edited by several people: the version a save must start from (see the module's
    note), who created it and when it last changed."""

    version: Mapped[int] = mapped_column(Integer, default=1, sort_order=1)
    created_by: Mapped[str | None] = mapped_column(String(320), sort_order=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=1)


class OfExperiment:
    """A row tied to one experiment (part of its key), with who added it and when."""

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("cc_experiments.id", ondelete="CASCADE"), primary_key=True, sort_order=-1
    )
    added_by: Mapped[str | None] = mapped_column(String(320), sort_order=1)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=1)


class CcEntry(Keyed, Edited, Base):
    """One item on a community's canvas for one period: a goal, an opportunity, an action, a skill, a
    barrier, a role holder, or a strategic goal typed directly."""

    __tablename__ = "cc_entries"
    __table_args__ = (Index("ix_cc_entries_community_period", "community_id", "period"),)

    community_id: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(7))
    #: strategy, goals, opportunities, capability, roles
    section: Mapped[str] = mapped_column(String(16))
    #: per section, e.g. goal / opportunity / action / skill / barrier / leader / champion / core / sponsor
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    #: what this links to: "sv:<id>" (a Shared Value goal) or "cc:<id>" (a strategic goal entry)
    link: Mapped[str] = mapped_column(String(32), default="")
    #: a member id (roles) or the person who owns an action or clears a barrier (free text)
    member_id: Mapped[str] = mapped_column(String(64), default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class CcExperiment(OfCommunity, Edited, Base):
    """An experiment: a hypothesis tried for a while with some members, then its outcome and lesson."""

    __tablename__ = "cc_experiments"

    title: Mapped[str] = mapped_column(String(300))
    hypothesis: Mapped[str] = mapped_column(Text, default="")
    #: a stage (connect, share, solve, innovate) or a value driver (growth, effectiveness, ...)
    target: Mapped[str] = mapped_column(String(16), default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    measures: Mapped[str] = mapped_column(Text, default="")
    #: planned, running, completed, dropped
    status: Mapped[str] = mapped_column(String(16), default="running")
    outcome: Mapped[str] = mapped_column(Text, default="")
    lesson: Mapped[str] = mapped_column(Text, default="")
    #: the canvas entry (opportunity or goal) it came from
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("cc_entries.id", ondelete="SET NULL"))
    #: the workspace space (channel, category, site) it runs in: posting there within its dates is
    #: evidence of taking part
    space_id: Mapped[str | None] = mapped_column(String(300))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)


class CcParticipant(OfExperiment, Base):
    """A member taking part in an experiment (pseudonymous member id)."""

    __tablename__ = "cc_participants"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class CcExperimentItem(OfExperiment, Base):
    """An item of the workspace (post, answer, thread) someone linked to an experiment as what it
    produced: its author contributed to the experiment, not only appeared on its list."""

    __tablename__ = "cc_experiment_items"

    item_id: Mapped[str] = mapped_column(String(300), primary_key=True)


class CcStory(OfCommunity, Edited, Base):
    """A value-creation story (Wenger, Trayner & de Laat): each cycle's step is optional."""

    __tablename__ = "cc_stories"

    title: Mapped[str] = mapped_column(String(300))
    immediate: Mapped[str] = mapped_column(Text, default="")
    potential: Mapped[str] = mapped_column(Text, default="")
    applied: Mapped[str] = mapped_column(Text, default="")
    realized: Mapped[str] = mapped_column(Text, default="")
    reframing: Mapped[str] = mapped_column(Text, default="")
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("cc_experiments.id", ondelete="SET NULL"))
    #: "sv:<id>" or "cc:<id>", the goal the story serves
    goal_link: Mapped[str] = mapped_column(String(32), default="")
    #: item ids and member ids the story is about
    items: Mapped[list | None] = mapped_column(JSON)
    members: Mapped[list | None] = mapped_column(JSON)


class CcMemberRequest(OfCommunity, Base):
    """What a member asks of the team from their own pages: an opportunity they suggest for the canvas
    (``kind`` "opportunity", with its text) or to join an experiment ("join"). The team sees both."""

    __tablename__ = "cc_member_requests"

    kind: Mapped[str] = mapped_column(String(16))
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("cc_experiments.id", ondelete="CASCADE"))
    member_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    by_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CcRevision(Keyed, Base):
    """One saved state of an entry, experiment or story; never updated, never deleted."""

    __tablename__ = "cc_revisions"
    __table_args__ = (Index("ix_cc_revisions_object", "kind", "object_id", "version"),)

    #: entry, experiment or story
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON)
    #: the fields where two people changed the same thing and both texts were kept
    conflicts: Mapped[list | None] = mapped_column(JSON)
    by_email: Mapped[str | None] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


KINDS: dict[str, tuple[type[Base], tuple[str, ...]]] = {
    "entry": (CcEntry, ENTRY_FIELDS),
    "experiment": (CcExperiment, EXPERIMENT_FIELDS),
    "story": (CcStory, STORY_FIELDS),
}


class Conflict(LookupError):
    """The object is gone (deleted or unknown)."""


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date | datetime) else v


def state(obj: Base, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: _jsonable(getattr(obj, f)) for f in fields}


def _parse(fields_types: type[Base], name: str, value: Any) -> Any:
    col = fields_types.__table__.columns[name]  # type: ignore[attr-defined]
    if value in (None, "") and isinstance(col.type, Date):
        return None
    if isinstance(col.type, Date) and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def record(db: Session, kind: str, obj: Base, by: str | None, conflicts: list[str] | None = None) -> None:
    """Append the object's current state to the history."""
    _, fields = KINDS[kind]
    db.add(
        CcRevision(
            kind=kind,
            object_id=obj.id,  # type: ignore[attr-defined]
            version=obj.version,  # type: ignore[attr-defined]
            data=state(obj, fields),
            conflicts=conflicts or None,
            by_email=by,
        )
    )


def create(db: Session, what: str, by: str | None, /, **values: Any) -> Base:
    """A new ``what`` (entry, experiment or story) from its field values, with its first revision."""
    model, _ = KINDS[what]
    obj = saved(db, model(**{k: _parse(model, k, v) for k, v in values.items()}, created_by=by, version=1))
    record(db, what, obj, by)
    return obj


def revision(db: Session, kind: str, object_id: int, version: int) -> dict[str, Any] | None:
    row = db.scalars(
        select(CcRevision).where(
            CcRevision.kind == kind, CcRevision.object_id == object_id, CcRevision.version == version
        )
    ).first()
    return dict(row.data) if row else None


def history(db: Session, kind: str, object_id: int) -> list[CcRevision]:
    return list(
        db.scalars(
            select(CcRevision)
            .where(CcRevision.kind == kind, CcRevision.object_id == object_id)
            .order_by(CcRevision.version, CcRevision.id)
        )
    )


def save(
    db: Session, kind: str, object_id: int, base_version: int, changes: dict[str, Any], by: str | None
) -> tuple[Base, list[str]]:
    """Apply ``changes`` made on ``base_version``; when someone saved in between, merge field by field.
    Returns the saved object and the fields where both texts had to be kept side by side."""
    model, fields = KINDS[kind]
    changes = {k: v for k, v in changes.items() if k in fields}
    for _attempt in range(5):
        obj = db.get(model, object_id, populate_existing=True)
        if obj is None:
            raise Conflict(f"there is no {kind} {object_id}")
        current = state(obj, fields)
        conflicts: list[str] = []
        if obj.version == base_version:  # type: ignore[attr-defined]
            merged = {**current, **{k: _jsonable(v) for k, v in changes.items()}}
        else:
            base = revision(db, kind, object_id, base_version) or current
            mine = {**base, **{k: _jsonable(v) for k, v in changes.items()}}
            merged, conflicts = merge3(base, current, mine)
        new = {k: _parse(model, k, merged[k]) for k in fields if merged.get(k) != current.get(k)}
        seen = obj.version  # type: ignore[attr-defined]
        if not new:
            return obj, conflicts
        # the conditional update is the lock: it only lands on the version this merge was made against
        res = db.execute(
            update(model)
            .where(model.id == object_id, model.version == seen)  # type: ignore[attr-defined]
            .values(**new, version=seen + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if res.rowcount == 1:
            obj = db.get(model, object_id, populate_existing=True)
            assert obj is not None
            record(db, kind, obj, by, conflicts)
            db.flush()
            return obj, conflicts
    raise Conflict(f"{kind} {object_id} kept changing while saving; try again")


# -- the bridge to the workspace: completed experiments' participants and linked items --------------
PARTICIPANTS_SCHEMA = pa.schema(
    [
        ("member_id", pa.string()),
        ("community_id", pa.string()),
        ("completed_at", pa.timestamp("us")),
        ("experiment_id", pa.int64()),
        ("started_at", pa.timestamp("us")),
        ("space_id", pa.string()),
    ]
)
ITEMS_SCHEMA = pa.schema(
    [("experiment_id", pa.int64()), ("community_id", pa.string()), ("item_id", pa.string())]
)
ITEMS_TABLE = EXPERIMENT_ITEMS_TABLE


def _completed(db: Session) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "community_id": e.community_id,
            "status": e.status,
            "starts_on": e.starts_on,
            "ends_on": e.ends_on,
            "created_at": e.created_at,
            "completed_at": e.completed_at,
            "space_id": e.space_id,
        }
        for e in db.scalars(select(CcExperiment).where(CcExperiment.status == "completed"))
    ]


def linked_items(db: Session, experiment_ids: list[int] | None = None) -> dict[int, list[str]]:
    """Item ids linked to each experiment (all experiments, or only ``experiment_ids``), sorted."""
    q = select(CcExperimentItem).order_by(CcExperimentItem.experiment_id, CcExperimentItem.item_id)
    if experiment_ids is not None:
        q = q.where(CcExperimentItem.experiment_id.in_(experiment_ids or [-1]))
    out: dict[int, list[str]] = {}
    for r in db.scalars(q):
        out.setdefault(r.experiment_id, []).append(r.item_id)
    return out


def link_items(db: Session, experiment_id: int, item_ids: list[str], by: str | None) -> list[str]:
    """Link items to an experiment (ids already checked against the workspace); returns the ones new."""
    have = set(linked_items(db, [experiment_id]).get(experiment_id, []))
    new = sorted({i for i in item_ids if i and i not in have})
    for i in new:
        db.add(CcExperimentItem(experiment_id=experiment_id, item_id=i, added_by=by))
    db.flush()
    return new


def unknown_items(ws: Workspace, community_id: str, item_ids: list[str]) -> list[str]:
    """The ids among ``item_ids`` that are not items of the community in the workspace (a typo would
    link nothing and credit nobody, so callers refuse them by name)."""
    if not item_ids:
        return []
    marks = ",".join("?" * len(item_ids))
    found = {
        r[0]
        for r in ws.raw.execute(
            f"SELECT item_id FROM items WHERE community_id = ? AND item_id IN ({marks})",
            [community_id, *item_ids],
        ).fetchall()
    }
    return [i for i in item_ids if i not in found]


def participant_rows(db: Session, completed: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every completed experiment's participants, as ``experiment_participants`` rows (``completed``:
    the completed experiments when the caller has already read them)."""
    parts: dict[int, list[str]] = {}
    for p in db.scalars(select(CcParticipant)):
        parts.setdefault(p.experiment_id, []).append(p.member_id)
    return cc.participant_rows(_completed(db) if completed is None else completed, parts)


def item_rows(db: Session, completed: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every completed experiment's linked items, as ``experiment_items`` rows."""
    return cc.item_rows(_completed(db) if completed is None else completed, linked_items(db))


def workspace_rows(db: Session) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(participant rows, item rows) of the completed experiments, read from the store once."""
    completed = _completed(db)
    return participant_rows(db, completed), item_rows(db, completed)


def _replace(ws: Workspace, table: str, batch: pa.Table) -> None:
    name = f"_covalue_{table}"
    ws.raw.register(name, batch)
    try:
        ws.raw.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {name}")
    finally:
        ws.raw.unregister(name)


def write_participants(
    ws: Workspace, rows: list[dict[str, Any]], items: list[dict[str, Any]] | None = None
) -> int:
    """Replace the workspace's ``experiment_participants`` table with ``rows`` and, when given, its
    ``experiment_items`` table with ``items`` (the store is their source: completing, reopening or
    dropping an experiment is reflected on the next write). Without ``items`` an existing
    ``experiment_items`` is kept and a missing one is created empty, so the analysis can always read
    it. Rows written by older callers (no ``started_at``/``space_id``) get nulls there. The caller
    holds the workspace's one writer (the web app's ``site.lock``). Returns the participant rows."""
    full = [{k: r.get(k) for k in PARTICIPANTS_SCHEMA.names} for r in rows]
    batch = pa.Table.from_pylist(full, schema=PARTICIPANTS_SCHEMA)
    _replace(ws, EXPERIMENTS_TABLE, batch)
    if items is not None:
        _replace(ws, ITEMS_TABLE, pa.Table.from_pylist(items, schema=ITEMS_SCHEMA))
    elif ITEMS_TABLE not in {r[0] for r in ws.raw.execute("SHOW TABLES").fetchall()}:
        _replace(ws, ITEMS_TABLE, ITEMS_SCHEMA.empty_table())
    return batch.num_rows


def write_rows(ws: Workspace, parts: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, int]:
    """Write both workspace tables (:func:`workspace_rows`); returns how many rows of each were written."""
    return {"participants_written": write_participants(ws, parts, items), "items_written": len(items)}


def sync(db: Session, ws: Workspace) -> dict[str, int]:
    """Write both workspace tables from the store; returns how many rows of each were written."""
    return write_rows(ws, *workspace_rows(db))


def add_member_request(
    db: Session,
    community_id: str,
    kind: str,
    *,
    member_id: str | None,
    by: str | None,
    text: str | None = None,
    experiment_id: int | None = None,
) -> CcMemberRequest:
    """Record a member's suggestion or request to join; a second identical request is the first one."""
    if kind == "join":
        same = db.scalars(
            select(CcMemberRequest).where(
                CcMemberRequest.community_id == community_id,
                CcMemberRequest.kind == "join",
                CcMemberRequest.experiment_id == experiment_id,
                CcMemberRequest.member_id == member_id,
            )
        ).first()
        if same is not None:
            return same
    return saved(
        db,
        CcMemberRequest(
            community_id=community_id,
            kind=kind,
            experiment_id=experiment_id,
            member_id=member_id,
            text=text,
            by_email=by,
        ),
    )


def member_requests(db: Session, community_id: str) -> list[dict[str, Any]]:
    """The members' suggestions and requests to join in a community, newest first."""
    rows = db.scalars(
        select(CcMemberRequest)
        .where(CcMemberRequest.community_id == community_id)
        .order_by(CcMemberRequest.created_at.desc(), CcMemberRequest.id.desc())
    )
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "experiment_id": r.experiment_id,
            "member_id": r.member_id,
            "text": r.text,
            "created_at": r.created_at.isoformat(timespec="seconds") if r.created_at else None,
        }
        for r in rows
    ]
