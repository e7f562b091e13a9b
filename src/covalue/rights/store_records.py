"""A person's rows in the account store (accounts, sessions, audit, survey answers, canvases,
experiments, stories): found for a subject-access export, erased for a forget request.

The store's tables are few and small, so every text and JSON value of every table is looked at: a table
added later is covered without changing this module.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from covalue.rights import FORMER_MEMBER
from covalue.rights.people import Person
from covalue.store.collaboration import CcEntry, CcExperimentItem, CcParticipant, CcRevision, CcStory
from covalue.store.models import AuditEvent, Base, LoginAttempt, Session, User
from covalue.store.shared_value import SvNeed, SvResponse

if TYPE_CHECKING:
    from covalue.store import Store


def _plain(row: Any) -> dict[str, Any]:
    out = {}
    for c in row.__table__.columns:
        v = getattr(row, c.key)
        out[c.key] = v.isoformat() if hasattr(v, "isoformat") else v
    return out


def _named(p: Person) -> set[str]:
    return {n.lower() for n in p.names()}


def _responses(db: Any, p: Person) -> list[SvResponse]:
    """Survey answers and imported responses that carry the person's name or address: an answer given
    without a name cannot be tied to anyone, and so is neither shown nor erased."""
    named = _named(p)
    if not named:
        return []
    return list(
        db.scalars(select(SvResponse).where(func.lower(func.trim(SvResponse.name)).in_(sorted(named))))
    )


def _rows_where(db: Any, column: Any, values: list[str]) -> list[dict[str, Any]]:
    """The rows of ``column``'s table whose ``column`` is one of ``values``, as plain dicts."""
    if not values:
        return []
    return [_plain(r) for r in db.scalars(select(column.class_).where(column.in_(values)))]


def find(store: Store, p: Person, item_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every store row about the person, per kind (for the subject-access export)."""
    ids = sorted(p.ids)
    out: dict[str, list[dict[str, Any]]] = {}
    with store.session() as db:
        users = list(db.scalars(select(User).where(User.id.in_(sorted(p.user_ids))))) if p.user_ids else []
        out["accounts"] = [
            {
                **{k: v for k, v in _plain(u).items() if k not in ("password_hash", "journey_token_hash")},
                "roles": [{"role": r.role, "community_id": r.community_id} for r in u.roles],
            }
            for u in users
        ]
        out["sessions"] = (
            [
                {k: v for k, v in _plain(s).items() if k in ("user_id", "created_at", "expires_at")}
                for s in db.scalars(select(Session).where(Session.user_id.in_(sorted(p.user_ids))))
            ]
            if p.user_ids
            else []
        )
        emails = sorted(p.emails)
        out["sign_in_attempts"] = _rows_where(db, LoginAttempt.email, emails)
        out["audit_by_them"] = _rows_where(db, AuditEvent.user_id, sorted(p.user_ids))
        out["audit_about_them"] = _rows_where(db, AuditEvent.subject, ids)
        out["survey_answers"] = [_plain(r) for r in _responses(db, p)]
        out["canvas_entries"] = _rows_where(db, CcEntry.member_id, ids)
        out["experiment_participation"] = _rows_where(db, CcParticipant.member_id, ids)
        out["experiment_items"] = _rows_where(db, CcExperimentItem.item_id, item_ids)
        out["stories"] = [_plain(s) for s in db.scalars(select(CcStory)) if set(s.members or []) & set(ids)]
    return out


def erase(store: Store, p: Person, item_ids: list[str], pattern: re.Pattern[str] | None) -> dict[str, int]:
    """Delete the person's rows and take their ids, names and addresses out of every other row."""
    from covalue.rights.forget import scrub

    ids = sorted(p.ids) or ["-"]
    emails = sorted(p.emails) or ["-"]
    c: dict[str, int] = {}
    with store.session() as db:
        responses = _responses(db, p)
        rids = [r.id for r in responses]
        c["survey answers deleted"] = len(rids)
        if rids:
            c["needs from their answers deleted"] = db.execute(
                delete(SvNeed).where(SvNeed.response_id.in_(rids))
            ).rowcount
            db.execute(delete(SvResponse).where(SvResponse.id.in_(rids)))
        entries = list(db.scalars(select(CcEntry.id).where(CcEntry.member_id.in_(ids))))
        if entries:
            db.execute(
                delete(CcRevision).where(CcRevision.kind == "entry", CcRevision.object_id.in_(entries))
            )
            db.execute(delete(CcEntry).where(CcEntry.id.in_(entries)))
        c["canvas entries naming them deleted"] = len(entries)
        c["experiment participations deleted"] = db.execute(
            delete(CcParticipant).where(CcParticipant.member_id.in_(ids))
        ).rowcount
        if item_ids:
            c["experiment items deleted"] = db.execute(
                delete(CcExperimentItem).where(CcExperimentItem.item_id.in_(item_ids))
            ).rowcount
        gone_items = set(item_ids)
        n = 0
        for s in db.scalars(select(CcStory)):
            members = [m for m in (s.members or []) if m not in ids]
            items = [i for i in (s.items or []) if i not in gone_items]
            if members != (s.members or []) or items != (s.items or []):
                s.members, s.items = members, items
                n += 1
        c["stories rewritten"] = n
        c["sign-in attempts deleted"] = db.execute(
            delete(LoginAttempt).where(LoginAttempt.email.in_(emails))
        ).rowcount
        # audit rows stay (who did what is the organisation's record) but no longer name them
        c["audit rows rewritten"] = db.execute(
            update(AuditEvent).where(AuditEvent.subject.in_(ids)).values(subject=FORMER_MEMBER)
        ).rowcount
        db.execute(update(AuditEvent).where(AuditEvent.email.in_(emails)).values(email=None))
        if p.user_ids:
            uids = sorted(p.user_ids)
            db.execute(
                update(AuditEvent).where(AuditEvent.user_id.in_(uids)).values(user_id=None, email=None)
            )
            db.execute(delete(Session).where(Session.user_id.in_(uids)))
            c["accounts deleted"] = db.execute(delete(User).where(User.id.in_(uids))).rowcount
        db.flush()
        c["other values naming them rewritten"] = _scrub_all(db, p, pattern, scrub)
    return c


def _scrub_all(db: Any, p: Person, pattern: re.Pattern[str] | None, scrub: Any) -> int:
    """Every remaining text or JSON value of every store table that holds their ids, names or
    addresses, rewritten."""
    needles = {n.lower() for n in p.names()} | p.ids | {e.lower() for e in p.emails}
    whole = (
        re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)), re.I)
        if needles
        else None
    )
    if whole is None:
        return 0
    n = 0
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        textual = [col for col in table.columns if col.type.python_type in (str, dict, list)] if pk else []
        if not textual:
            continue
        for row in db.execute(select(*pk, *textual)).mappings():
            changes = {}
            for col in textual:
                v = row[col.key]
                if v is None:
                    continue
                raw = v if isinstance(v, str) else json.dumps(v)
                if not whole.search(raw):
                    continue
                if isinstance(v, str):
                    new: Any = whole.sub(FORMER_MEMBER, scrub(v, pattern))
                else:
                    try:
                        new = json.loads(whole.sub(FORMER_MEMBER, scrub(raw, pattern)))
                    except ValueError:  # a name with quotes in it: drop the value rather than keep it
                        new = None
                changes[col.key] = new
            if changes:
                db.execute(table.update().where(*[c == row[c.key] for c in pk]).values(**changes))
                n += 1
    return n
