"""The tables of what people enter in the web app: accounts, their roles per community, sessions, login
attempts (throttling), the audit log of person-level views, and upload jobs.

Timestamps are naive UTC (``utcnow``) so SQLite and PostgreSQL store and compare them alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    orm,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: roles in the order of what they may see; ``admin`` is workspace-wide
ROLES = ("admin", "manager", "champion", "sponsor", "member")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


Row = TypeVar("Row", bound=Base)


def saved(db: orm.Session, row: Row) -> Row:
    """``row`` added to ``db`` and flushed, so that the database has given it its key."""
    db.add(row)
    db.flush()
    return row


class Keyed:
    """A table keyed by an integer the database assigns (the key is its first column)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-2)


class OfCommunity(Keyed):
    """A row that belongs to one community and is looked up by it."""

    community_id: Mapped[str] = mapped_column(String(200), index=True, sort_order=-1)


class User(Keyed, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the workspace member this account is (members see their own journey)
    member_id: Mapped[str | None] = mapped_column(String(64))
    #: sha256 of a personal journey link token, so a leaked database does not leak working links
    journey_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)

    roles: Mapped[list[Role]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class Role(Keyed, Base):
    """One role of a user in one community; ``community_id`` is NULL for workspace-wide roles (admin)."""

    __tablename__ = "roles"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "community_id", name="uq_roles_user_role_community"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship(back_populates="roles")


class Session(Base):
    """A signed-in browser; the cookie carries only the signed id, so signing out ends it server-side."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class LoginAttempt(Keyed, Base):
    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Keyed, Base):
    """Who viewed person-level data (or changed accounts), when, and which."""

    __tablename__ = "audit_log"

    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    community_id: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    """An uploaded export being ingested and analysed in the background."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    community_id: Mapped[str | None] = mapped_column(String(200))
    #: queued, ingesting, analysing, done, failed
    state: Mapped[str] = mapped_column(String(16), default="queued")
    step: Mapped[str | None] = mapped_column(String(200))
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    summary: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
