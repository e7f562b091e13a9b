"""Which spaces make up which community.

A community is a set of spaces (channels, categories, tags, lists, groups). An ingest puts every space
of an export in one community (the reader's, or ``--community``); :func:`move` sets spaces apart into
another community, e.g. each Viva Engage group or Slack channel of practice as a community of its own,
or the Slack channel and the Discourse category of one practice together. Moves are kept in
``community_map`` and applied again after every ingest (:func:`apply`), so new messages in a moved
space land in its community too. Anything moved makes the next analysis run in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from covalue import changes
from covalue.sources.base import slug

if TYPE_CHECKING:
    from covalue.workspace import Workspace

MAP = "community_map"


class CommunityError(ValueError):
    """A space that is not there, or named ambiguously."""


@dataclass
class Moved:
    community_id: str
    name: str
    spaces: list[str] = field(default_factory=list)
    items: int = 0
    actions: int = 0
    emptied: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "community_id": self.community_id,
            "name": self.name,
            "spaces": self.spaces,
            "items": self.items,
            "actions": self.actions,
            "communities_emptied": self.emptied,
        }


def spaces(ws: Workspace, community: str | None = None) -> list[dict[str, Any]]:
    """Every space with its community, source, kind and counts of items, most items first."""
    ws.ensure_tables()
    where, args = ("WHERE s.community_id = ?", [community]) if community else ("", [])
    rows = ws.raw.execute(
        "SELECT s.space_id, s.name, s.kind, s.source, s.community_id, "
        "(SELECT count(*) FROM items i WHERE i.space_id = s.space_id) AS items "
        f"FROM spaces s {where} ORDER BY items DESC, s.space_id",
        args,
    ).fetchall()
    keys = ("space_id", "name", "kind", "source", "community_id", "items")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def resolve(ws: Workspace, wanted: str) -> str:
    """The id of the space ``wanted`` names: its id, or its name (``#`` and case aside) when one space
    has it; otherwise :class:`CommunityError` listing what was found."""
    q = ws.raw.execute
    if q("SELECT 1 FROM spaces WHERE space_id = ?", [wanted]).fetchone():
        return wanted
    name = wanted.lstrip("#").strip().lower()
    found = [
        r[0]
        for r in q(
            "SELECT space_id FROM spaces WHERE lower(ltrim(name, '#')) = ? ORDER BY 1", [name]
        ).fetchall()
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise CommunityError(f"no space is called {wanted!r}: `covalue communities spaces` lists them")
    raise CommunityError(f"{len(found)} spaces are called {wanted!r}; name one by its id: {', '.join(found)}")


def move(ws: Workspace, names: list[str], to: str, *, name: str | None = None) -> Moved:
    """Put the spaces ``names`` (ids or names) in the community ``to`` (an id; made when new, called
    ``name`` or ``to``), now and after every later ingest."""
    if not names:
        raise CommunityError("name at least one space to move")
    ids = sorted({resolve(ws, n) for n in names})
    cid = slug(to)
    known = ws.raw.execute("SELECT name FROM communities WHERE community_id = ?", [cid]).fetchone()
    label = name or (known[0] if known else to)
    q = ws.raw.execute
    q(f"CREATE TABLE IF NOT EXISTS {MAP} (space_id VARCHAR PRIMARY KEY, community_id VARCHAR, name VARCHAR)")
    with ws.transaction():
        for sid in ids:
            q(f"INSERT OR REPLACE INTO {MAP} VALUES (?, ?, ?)", [sid, cid, label])
        q(f"UPDATE {MAP} SET name = ? WHERE community_id = ?", [label, cid])
        q("UPDATE communities SET name = ? WHERE community_id = ?", [label, cid])
        moved = apply(ws.raw)
    moved.community_id, moved.name, moved.spaces = cid, label, ids
    return moved


def apply(raw: Any) -> Moved:
    """Bring spaces, items and actions in line with the kept moves (nothing when none are kept): run
    after each ingest, in its transaction. A community a move left with nothing is removed."""
    out = Moved(community_id="", name="")
    if not raw.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [MAP]
    ).fetchone():
        return out
    m = f"(SELECT space_id, community_id FROM {MAP})"
    # the communities spaces leave, each with where its spaces go
    left: dict[str, set[str]] = {}
    for old, new in raw.execute(
        f"SELECT DISTINCT s.community_id, m.community_id FROM spaces s JOIN {m} m USING (space_id) "
        "WHERE s.community_id IS DISTINCT FROM m.community_id"
    ).fetchall():
        left.setdefault(old, set()).add(new)
    raw.execute(
        f"INSERT INTO communities SELECT DISTINCT community_id, name FROM {MAP} "
        "WHERE community_id NOT IN (SELECT community_id FROM communities)"
    )
    raw.execute(
        f"UPDATE spaces SET community_id = m.community_id FROM {m} m "
        "WHERE spaces.space_id = m.space_id AND spaces.community_id IS DISTINCT FROM m.community_id"
    )
    out.items = _n(
        raw.execute(
            f"UPDATE items SET community_id = m.community_id FROM {m} m "
            "WHERE items.space_id = m.space_id AND items.community_id IS DISTINCT FROM m.community_id"
        )
    )
    # actions go with their space, or with their item when they name no space (reactions, votes)
    out.actions = _n(
        raw.execute(
            f"UPDATE actions SET community_id = m.community_id FROM {m} m "
            "WHERE actions.space_id = m.space_id AND actions.community_id IS DISTINCT FROM m.community_id"
        )
    ) + _n(
        raw.execute(
            f"UPDATE actions SET community_id = i.community_id FROM items i JOIN {m} m USING (space_id) "
            "WHERE actions.space_id IS NULL AND actions.item_id = i.item_id "
            "AND actions.community_id IS DISTINCT FROM i.community_id"
        )
    )
    for cid, went in left.items():
        if any(
            raw.execute(f"SELECT 1 FROM {t} WHERE community_id = ? LIMIT 1", [cid]).fetchone()
            for t in ("spaces", "items")
        ):
            continue
        # no space or item left: what no space holds (integrations added, workspace joins) goes where
        # every space went, and the community with it
        if len(went) == 1:
            out.actions += _n(
                raw.execute("UPDATE actions SET community_id = ? WHERE community_id = ?", [*went, cid])
            )
        if not raw.execute("SELECT 1 FROM actions WHERE community_id = ? LIMIT 1", [cid]).fetchone():
            raw.execute("DELETE FROM communities WHERE community_id = ?", [cid])
            out.emptied.append(cid)
    if out.items or out.actions or left:
        changes.note_everything(raw)  # rows changed community in place
    return out


def _n(cursor: Any) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0
