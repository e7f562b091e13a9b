"""Accounts on the store: argon2 password hashes, roles scoped per community, sessions, login throttling
and the audit log. No web code here, so the CLI (``covalue user add``) and the app share it.

Throttling slows guessing down without locking anyone out: each account and each address has a few
free failures, then must wait after its latest failure, twice as long each time, up to a minute.
An attempt made while waiting is refused unchecked and unrecorded, so an attacker's guesses do not
lengthen the owner's wait, and the owner's right password works as soon as the wait is over."""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DB
from zxcvbn import zxcvbn

from covalue.store.models import ROLES, AuditEvent, LoginAttempt, Role, Session, User, utcnow

_HASHER = PasswordHasher()
#: argon2 runs take a core and 64 MiB each: a process-wide ceiling on how many run at once
_HASH_SLOTS = threading.BoundedSemaphore(4)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
    Made at the first sign-in, not at import: every command that imports the store would pay an
    argon2 run (about 0.15 s) for it."""
    return _HASHER.hash(secrets.token_hex(16))


#: what each role may do in the communities it is given
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"view", "content", "people", "names", "upload", "accounts"}),
    "manager": frozenset({"view", "content", "people", "names", "upload"}),
    "champion": frozenset({"view", "content", "people"}),
    "sponsor": frozenset({"view", "content"}),
    "member": frozenset(),
}
MIN_PASSWORD = 10
MAX_PASSWORD = 1000
#: zxcvbn's guessability score (0 to 4) a new password must reach: 3 means "safely unguessable"
MIN_PASSWORD_SCORE = 3
SESSION_DAYS = 7
#: failed sign-ins without a wait, per email and (more loosely: people share addresses) per address
FREE_FAILURES_EMAIL = 5
FREE_FAILURES_IP = 20
#: the longest wait after a failure, in seconds
MAX_DELAY_SECONDS = 60
#: failures older than this (or before the account's latest sign-in) no longer count
FAILURE_WINDOW = timedelta(hours=1)


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (unknown role, weak password, ...)."""


class Throttled(Exception):
    """Too many recent failures for this account or address: try again in ``seconds``."""

    def __init__(self, seconds: int) -> None:
        self.seconds = max(1, int(seconds))
        super().__init__(f"too many failed sign-ins; try again in {wait_text(self.seconds)}")


def wait_text(seconds: int) -> str:
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def delay_after(failures: int, free: int) -> int:
    """Seconds to wait after the latest of ``failures`` recent failures: none while they are
    ``free``, then 1, 2, 4 ... up to :data:`MAX_DELAY_SECONDS`."""
    if failures < free:
        return 0
    return min(2 ** min(failures - free, 16), MAX_DELAY_SECONDS)


def normalise_email(email: str) -> str:
    e = email.strip().lower()
    if "@" not in e or len(e) > 320 or any(c.isspace() for c in e):
        raise AccountError(f"{email!r} is not an email address")
    return e


def check_password(password: str, email: str | None = None) -> None:
    """Refuse a password an attacker would try early: short ones, repeats, common words and the
    account's own email. zxcvbn carries the lists of common passwords and words, so none is kept here."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"passwords need at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"passwords may have at most {MAX_PASSWORD} characters")
    hints = [email, *email.split("@")[0].replace(".", " ").split()] if email else []
    local = email.strip().lower().split("@")[0] if email else ""
    if local and len(local) >= 4 and local in password.lower():
        raise AccountError("the password may not contain the email address or its name part")
    found = zxcvbn(password[:100], user_inputs=[h for h in hints if h])
    if found["score"] < MIN_PASSWORD_SCORE:
        reason = found["feedback"].get("warning") or "it is too easy to guess"
        raise AccountError(f"choose a harder password: {reason.rstrip('.').lower()}")


def hash_password(password: str, email: str | None = None) -> str:
    check_password(password, email)
    with _HASH_SLOTS:
        return _HASHER.hash(password)


def _verify(stored: str, password: str) -> bool:
    with _HASH_SLOTS:
        try:
            return _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    db: DB,
    email: str,
    role: str,
    *,
    community: str | None = None,
    password: str | None = None,
    member_id: str | None = None,
) -> User:
    """Create the account (or find it) and give it ``role`` in ``community`` (all communities when
    None; admin is always workspace-wide). A password replaces the old one when given."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "admin":
        community = None
    addr = normalise_email(email)
    user = db.scalar(select(User).where(User.email == addr))
    if user is None:
        user = User(email=addr, active=True)
        db.add(user)
    if password is not None:
        user.password_hash = hash_password(password, addr)
        if user.id is not None:
            # a new password ends every session opened with the old one
            end_sessions(db, user)
    if member_id is not None:
        user.member_id = member_id
    if not any(r.role == role and r.community_id == community for r in user.roles):
        user.roles.append(Role(role=role, community_id=community))
    db.flush()
    return user


def find_user(db: DB, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == email.strip().lower()))


def new_journey_link(db: DB, user: User) -> str:
    """A fresh personal link token for the user's journey page (only its hash is kept)."""
    token = secrets.token_urlsafe(24)
    user.journey_token_hash = token_hash(token)
    db.flush()
    return token


def user_by_journey_token(db: DB, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    return db.scalar(select(User).where(User.journey_token_hash == token_hash(token), User.active))


def count_users(db: DB) -> int:
    return int(db.scalar(select(func.count()).select_from(User)) or 0)


def _wait(db: DB, who: Any, free: int, now: datetime) -> float:
    """Seconds still to wait for the attempts matching ``who`` (an email or address condition)."""
    last_ok = db.scalar(select(func.max(LoginAttempt.at)).where(who, LoginAttempt.ok))
    since = now - FAILURE_WINDOW
    if last_ok is not None and last_ok > since:
        since = last_ok
    n, last = db.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(who, ~LoginAttempt.ok, LoginAttempt.at > since)
    ).one()
    delay = delay_after(int(n or 0), free)
    if not delay or last is None:
        return 0.0
    return (last + timedelta(seconds=delay) - now).total_seconds()


def throttle_wait(db: DB, email: str, ip: str) -> int:
    """Whole seconds before this email may be tried from this address again (0: now)."""
    addr = email.strip().lower()[:320]
    now = utcnow()
    wait = max(
        _wait(db, LoginAttempt.email == addr, FREE_FAILURES_EMAIL, now),
        _wait(db, LoginAttempt.ip == ip[:64], FREE_FAILURES_IP, now),
    )
    return math.ceil(wait) if wait > 0 else 0


def authenticate(db: DB, email: str, password: str, ip: str) -> User | None:
    """The user when ``password`` is right; None otherwise. Raises :class:`Throttled` while this
    email or address must wait after recent failures (the attempt is then neither checked nor
    recorded)."""
    addr = email.strip().lower()[:320]
    wait = throttle_wait(db, addr, ip)
    if wait:
        raise Throttled(wait)
    user = db.scalar(select(User).where(User.email == addr))
    ok = _verify(user.password_hash if user and user.password_hash else _dummy_hash(), password)
    ok = ok and user is not None and user.active and user.password_hash is not None
    db.add(LoginAttempt(email=addr, ip=ip[:64], ok=ok))
    if not ok:
        db.flush()
        return None
    assert user is not None
    if _HASHER.check_needs_rehash(user.password_hash or ""):
        with _HASH_SLOTS:
            user.password_hash = _HASHER.hash(password)
    user.last_login_at = utcnow()
    db.flush()
    return user


def start_session(db: DB, user: User) -> Session:
    s = Session(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        csrf=secrets.token_urlsafe(32),
        expires_at=utcnow() + timedelta(days=SESSION_DAYS),
    )
    db.add(s)
    # old sessions are cleared as people come and go, so the table does not grow without end
    db.execute(delete(Session).where(Session.expires_at < utcnow()))
    db.flush()
    return s


def session_user(db: DB, sid: str) -> tuple[Session, User] | None:
    s = db.get(Session, sid)
    if s is None or s.expires_at < utcnow():
        return None
    user = db.get(User, s.user_id)
    if user is None or not user.active:
        return None
    return s, user


def end_session(db: DB, sid: str) -> None:
    db.execute(delete(Session).where(Session.id == sid))


def end_sessions(db: DB, user: User, *, keep: str | None = None) -> int:
    """End every session of ``user`` (but ``keep``, the one making the change); how many ended."""
    query = delete(Session).where(Session.user_id == user.id)
    if keep is not None:
        query = query.where(Session.id != keep)
    ended = db.execute(query).rowcount or 0
    db.flush()
    return ended


def require_user(db: DB, email: str) -> User:
    user = find_user(db, email)
    if user is None:
        raise AccountError(f"no account for {email!r}")
    return user


def set_password(db: DB, user: User, password: str, *, keep: str | None = None) -> int:
    """Change the password and end the account's other sessions at once; how many ended."""
    user.password_hash = hash_password(password, user.email)
    return end_sessions(db, user, keep=keep)


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` is the account's (no throttling: for a signed-in account's own checks)."""
    return bool(user.password_hash) and _verify(user.password_hash or "", password)


def set_active(db: DB, user: User, active: bool) -> int:
    """Disable (or enable again) an account; disabling ends its sessions. Sessions ended."""
    user.active = active
    return 0 if active else end_sessions(db, user)


def remove_role(db: DB, user: User, role: str, community: str | None = None) -> int:
    """Take ``role`` in ``community`` (workspace-wide when None) from the account and end its
    sessions, so the next request is judged on what is left. How many grants were removed."""
    gone = [r for r in user.roles if r.role == role and r.community_id == community]
    if not gone:
        where = f" in {community}" if community else " workspace-wide"
        raise AccountError(f"{user.email} is not {role}{where}")
    if role == "admin" and _admins(db) <= 1 and user.active:
        raise AccountError("this is the last admin; make someone else admin first")
    for r in gone:
        user.roles.remove(r)
    end_sessions(db, user)
    return len(gone)


def remove_user(db: DB, user: User) -> None:
    """Delete the account, its roles and sessions. Audit rows keep the email they were written with."""
    if any(r.role == "admin" for r in user.roles) and _admins(db) <= 1:
        raise AccountError("this is the last admin; make someone else admin first")
    end_sessions(db, user)
    db.delete(user)
    db.flush()


#: the ways to take access back, in the audit log's words (the CLI and the Accounts page share them)
REVOCATIONS = {
    "disable": "account disabled",
    "enable": "account enabled",
    "remove": "account removed",
    "role-remove": "account role removed",
    "sessions-end": "account sessions ended",
}


def revoke(db: DB, user: User, action: str, role: str = "", community: str | None = None) -> str:
    """Apply one of :data:`REVOCATIONS` to ``user``; what was done, in words."""
    email = user.email
    if action == "disable":
        n = set_active(db, user, False)
        return f"{email} is disabled; {n} session(s) ended"
    if action == "enable":
        set_active(db, user, True)
        return f"{email} is enabled again"
    if action == "remove":
        remove_user(db, user)
        return f"{email} is removed"
    if action == "role-remove":
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        remove_role(db, user, role, None if role == "admin" else community)
        return f"{email} is no longer {role}" + (f" of {community}" if community and role != "admin" else "")
    if action == "sessions-end":
        n = end_sessions(db, user)
        return f"{n} session(s) of {email} ended"
    raise AccountError(f"unknown action {action!r}; one of {', '.join(REVOCATIONS)}")


def _admins(db: DB) -> int:
    return int(
        db.scalar(
            select(func.count(func.distinct(Role.user_id)))
            .join(User, User.id == Role.user_id)
            .where(Role.role == "admin", User.active)
        )
        or 0
    )


def audit(
    db: DB,
    user: User | None,
    action: str,
    *,
    community: str | None = None,
    subject: str | None = None,
    detail: str | None = None,
) -> None:
    db.add(
        AuditEvent(
            user_id=user.id if user else None,
            email=user.email if user else None,
            action=action,
            community_id=community,
            subject=subject,
            detail=detail,
        )
    )


@dataclass(frozen=True)
class Access:
    """What one user may do where: role grants per community, plus workspace-wide grants."""

    user_id: int
    email: str
    member_id: str | None
    everywhere: frozenset[str]
    per_community: dict[str, frozenset[str]]
    roles: tuple[tuple[str, str | None], ...]

    @classmethod
    def of(cls, user: User) -> Access:
        every: set[str] = set()
        per: dict[str, set[str]] = {}
        for r in user.roles:
            perms = PERMISSIONS.get(r.role, frozenset())
            if r.community_id is None:
                every |= perms
            else:
                per.setdefault(r.community_id, set()).update(perms)
        return cls(
            user_id=user.id,
            email=user.email,
            member_id=user.member_id,
            everywhere=frozenset(every),
            per_community={k: frozenset(v) for k, v in per.items()},
            roles=tuple(
                sorted(((r.role, r.community_id) for r in user.roles), key=lambda x: (x[0], x[1] or ""))
            ),
        )

    @property
    def is_admin(self) -> bool:
        return "accounts" in self.everywhere

    def can(self, what: str, community: str | None = None) -> bool:
        if what in self.everywhere:
            return True
        if community is None:
            return any(what in p for p in self.per_community.values())
        return what in self.per_community.get(community, frozenset())

    def communities(self, known: list[str], what: str = "view") -> list[str]:
        """The communities among ``known`` where this user may do ``what``."""
        return [c for c in known if self.can(what, c)]
