"""Which person a rights request names: a member id, an identity id, a pseudonym label
(``Member 3f2a9c``), an e-mail address, or a platform account (``slack:houstondatavis:U061A5N1G`` or
just the platform's own id ``U061A5N1G``). A person is every account merged into their member id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from covalue import identity
from covalue.privacy import from_pseudonym, pseudonym

if TYPE_CHECKING:
    from covalue.store import Store
    from covalue.workspace import Workspace


class PersonNotFound(LookupError):
    """Nobody, or more than one person, answers to what the request named."""


@dataclass
class Person:
    """Everything that identifies one person in this workspace and its account store."""

    spec: str
    member_ids: set[str] = field(default_factory=set)
    identity_ids: set[str] = field(default_factory=set)
    #: the person's identity rows (source, native id, display name, e-mail hash)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    #: e-mail addresses known in clear: the one the request gave, and their web accounts' addresses
    emails: set[str] = field(default_factory=set)
    #: ids of their accounts in the web app's store
    user_ids: set[int] = field(default_factory=set)
    #: further spellings the requester knows them by (a chat handle the export only has in texts)
    also: set[str] = field(default_factory=set)

    @property
    def ids(self) -> set[str]:
        """Member and identity ids: what workspace rows point at."""
        return self.member_ids | self.identity_ids

    @property
    def label(self) -> str:
        return pseudonym(min(self.member_ids)) if self.member_ids else "a person without activity"

    def names(self) -> set[str]:
        """What may name them in free text: platform ids, display names, e-mail addresses, handles.
        Very short strings are left out: replacing every "Al" would rewrite half the texts; so are
        short numeric ids (Stack Exchange's user 938), which would rewrite every "938" in any text."""
        out = {
            a["native_id"]
            for a in self.accounts
            if a.get("native_id") and not (a["native_id"].isdigit() and len(a["native_id"]) < 6)
        }
        out |= {a["display_name"] for a in self.accounts if a.get("display_name")}
        out |= self.emails | self.also
        return {s.strip() for s in out if s and len(s.strip()) >= 3}


def _is_email(spec: str) -> bool:
    return "@" in spec and " " not in spec and "." in spec.rsplit("@", 1)[-1]


def resolve(ws: Workspace, spec: str, *, store: Store | None = None, also: list[str] | None = None) -> Person:
    """The person ``spec`` names; :class:`PersonNotFound` when nobody or several people match."""
    spec = spec.strip()
    if not spec:
        raise PersonNotFound("name the person: a member id, pseudonym, e-mail address or platform account")
    ws.ensure_tables()
    q = ws.raw.execute
    p = Person(spec=spec, also={a.strip() for a in also or () if a.strip()})
    members: set[str] = set()
    if _is_email(spec):
        p.emails.add(spec.lower())
        h = identity.email_hash(ws.secret, spec)
        members |= {
            m for (m,) in q("SELECT DISTINCT member_id FROM identities WHERE email_hash = ?", [h]).fetchall()
        }
    elif (prefix := from_pseudonym(spec)) is not None:
        if len(prefix) < 8:
            raise PersonNotFound(f"{spec!r}: a pseudonym has six characters after 'Member'")
        members |= {
            m
            for (m,) in q(
                "SELECT DISTINCT member_id FROM identities WHERE member_id LIKE ? OR identity_id LIKE ?",
                [f"{prefix}%", f"{prefix}%"],
            ).fetchall()
        }
    else:
        members |= {
            m
            for (m,) in q(
                "SELECT DISTINCT member_id FROM identities WHERE member_id = ? OR identity_id = ? OR native_id = ?",
                [spec, spec, spec],
            ).fetchall()
        }
        if not members and spec.count(":") >= 2:  # platform:instance:native id
            source, native = spec.rsplit(":", 1)
            iid = identity.identity_id(ws.secret, source, native)
            members |= {
                m for (m,) in q("SELECT member_id FROM identities WHERE identity_id = ?", [iid]).fetchall()
            }
    if store is not None:
        _from_store(p, store, members)
        if members:  # an account may be linked to an identity id rather than the member id
            members = {
                m
                for (m,) in q(
                    "SELECT DISTINCT member_id FROM identities WHERE member_id IN (SELECT unnest(?)) "
                    "OR identity_id IN (SELECT unnest(?))",
                    [sorted(members), sorted(members)],
                ).fetchall()
            } or members
    if len(members) > 1:
        raise PersonNotFound(
            f"{spec!r} matches {len(members)} people ({', '.join(sorted(pseudonym(m) for m in members))}); "
            "name one of them by member id"
        )
    p.member_ids = members
    if members:
        rows = q(
            "SELECT identity_id, member_id, source, native_id, display_name, email_hash, is_bot "
            "FROM identities WHERE member_id IN (SELECT unnest(?))",
            [sorted(members)],
        ).fetchall()
        cols = ("identity_id", "member_id", "source", "native_id", "display_name", "email_hash", "is_bot")
        p.accounts = [dict(zip(cols, r, strict=True)) for r in rows]
        p.identity_ids = {a["identity_id"] for a in p.accounts}
        if store is not None:
            _from_store(p, store, members)
    if not p.member_ids and not p.user_ids:
        raise PersonNotFound(f"nobody in {ws.path} answers to {spec!r}")
    return p


def _from_store(p: Person, store: Store, members: set[str]) -> None:
    """Add the person's web accounts: linked to their member or identity ids, or with their address."""
    from covalue.store import User

    conds = []
    ids = members | p.identity_ids
    if ids:
        conds.append(User.member_id.in_(sorted(ids)))
    if p.emails:
        conds.append(User.email.in_(sorted(p.emails)))
    if not conds:
        return
    with store.session() as db:
        for u in db.scalars(select(User).where(or_(*conds))):
            p.user_ids.add(u.id)
            p.emails.add(u.email.lower())
            if u.member_id and not members:
                members.add(u.member_id)
