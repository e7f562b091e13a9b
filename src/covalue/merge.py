"""Merging the accounts of one person across sources into one member, reversibly.

Items and actions point at *identities* (one account on one source); ``identities.member_id`` says which
member an account belongs to. Merging is therefore a change of ``member_id`` on identity rows, logged
row by row in ``merges`` with its reason, and an unmerge puts every ``member_id`` back and marks the log
rows undone. Nothing is ever deleted.

Two kinds of evidence merge accounts:

* the same email address on different sources (compared as keyed hashes; a workspace setting,
  ``[identities] merge_by_email``, turns this off);
* an alias file (TOML or CSV) that lists accounts (``source:native_id``) or email addresses that are the
  same person.

A display name is never evidence: two people called "Alex Kim" stay two. Bot accounts are never merged.
An unmerge is remembered: the same evidence does not merge those accounts again on the next ingest.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from covalue import identity, schema

if TYPE_CHECKING:
    from covalue.workspace import Workspace

EMAIL_REASON = "same email hash"
ALIAS_FILES = ("aliases.toml", "aliases.csv")


class MergeError(Exception):
    """An alias file cannot be read, or an unmerge names nothing that is merged."""


@dataclass
class MergeResult:
    """What a merge run changed: identities moved to another member, members formed, and notes."""

    identities: int = 0
    members: int = 0
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"identities": self.identities, "members": self.members, "messages": self.messages}


# -- evidence -----------------------------------------------------------------------------------------


def email_groups(ws: Workspace) -> list[tuple[list[str], str]]:
    """Identities (not bots) sharing an email hash across at least two sources."""
    rows = ws.raw.execute(
        "SELECT email_hash, list(identity_id ORDER BY identity_id) FROM identities "
        "WHERE email_hash IS NOT NULL AND NOT coalesce(is_bot, false) "
        "GROUP BY email_hash HAVING count(DISTINCT source) > 1 ORDER BY 1"
    ).fetchall()
    return [(list(ids), EMAIL_REASON) for _h, ids in rows]


def default_alias_file(ws: Workspace) -> Path | None:
    """The alias file the settings name, or aliases.toml / aliases.csv in the workspace."""
    configured = ws.settings.identities.alias_file
    if configured:
        p = Path(configured)
        return p if p.is_absolute() else ws.path / p
    for name in ALIAS_FILES:
        if (ws.path / name).is_file():
            return ws.path / name
    return None


def read_alias_file(path: Path) -> list[tuple[int, list[str]]]:
    """``(line, entries)`` per person listed in a TOML or CSV alias file.

    TOML: ``[[person]]`` tables with ``accounts = [...]`` (or a top-level ``aliases = [[...], ...]``).
    CSV: one person per row, one account or email per cell; ``#`` starts a comment line.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise MergeError(f"{path}: cannot read the alias file: {e}") from None
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise MergeError(f"{path}: not valid TOML: {e}") from None
        groups: list[list[str]] = [
            list(map(str, p.get("accounts") or [])) for p in data.get("person") or [] if isinstance(p, dict)
        ]
        groups += [list(map(str, g)) for g in data.get("aliases") or [] if isinstance(g, list)]
        lines = text.splitlines()
        out = []
        cursor = 0
        for g in groups:
            if not g:
                continue
            # TOML parsers give no line numbers: find the line holding the group's first entry
            line = next(
                (n for n in range(cursor, len(lines)) if f'"{g[0]}"' in lines[n] or f"'{g[0]}'" in lines[n]),
                cursor,
            )
            cursor = line + 1
            out.append((line + 1, g))
        return out
    if path.suffix.lower() == ".csv":
        out = []
        reader = csv.reader(io.StringIO(text))
        for row in reader:
            cells = [c.strip() for c in row if c.strip()]
            if cells and not cells[0].startswith("#"):
                out.append((reader.line_num, cells))
        return out
    raise MergeError(f"{path}: an alias file must be .toml or .csv")


def alias_groups(ws: Workspace, path: Path, result: MergeResult) -> list[tuple[list[str], str]]:
    """Identity groups from an alias file; entries that match nothing or name a bot are reported."""
    sources = [
        s
        for (s,) in ws.raw.execute(
            "SELECT DISTINCT source FROM identities WHERE source IS NOT NULL"
        ).fetchall()
    ]
    sources.sort(key=len, reverse=True)  # "slack:acme-eu" must win over "slack:acme"
    secret = ws.secret
    out = []
    for line, entries in read_alias_file(path):
        ids: list[str] = []
        for entry in entries:
            found = _resolve(ws, entry, sources, secret)
            if not found:
                result.messages.append(f"{path.name} line {line}: no account matches {entry!r}")
            for iid, is_bot in found:
                if is_bot:
                    result.messages.append(
                        f"{path.name} line {line}: {entry!r} is a bot account; "
                        "bots are never merged with people"
                    )
                elif iid not in ids:
                    ids.append(iid)
        if len(ids) > 1:
            out.append((ids, f"alias file {path.name} line {line}"))
    return out


def _resolve(ws: Workspace, entry: str, sources: list[str], secret: bytes) -> list[tuple[str, bool]]:
    q = ws.raw.execute
    for src in sources:
        if entry.startswith(src + ":"):
            return [
                (i, bool(b))
                for i, b in q(
                    "SELECT identity_id, is_bot FROM identities WHERE source = ? AND native_id = ?",
                    [src, entry[len(src) + 1 :]],
                ).fetchall()
            ]
    if entry.startswith("m_"):
        rows = q("SELECT identity_id, is_bot FROM identities WHERE identity_id = ?", [entry]).fetchall()
        if rows:
            return [(i, bool(b)) for i, b in rows]
    h = identity.email_hash(secret, entry)
    if h:
        return [
            (i, bool(b))
            for i, b in q("SELECT identity_id, is_bot FROM identities WHERE email_hash = ?", [h]).fetchall()
        ]
    return []


# -- applying -----------------------------------------------------------------------------------------


def auto_merge(ws: Workspace, aliases: Path | None = None) -> MergeResult:
    """Merge by email (unless turned off) and by the alias file; safe to run any number of times."""
    result = MergeResult()
    groups: list[tuple[list[str], str]] = []
    if ws.settings.identities.merge_by_email:
        groups += email_groups(ws)
    path = aliases or default_alias_file(ws)
    if path is not None:
        if not path.is_file():
            raise MergeError(f"{path}: no such alias file")
        groups += alias_groups(ws, path, result)
    apply_groups(ws, groups, result)
    return result


def apply_groups(ws: Workspace, groups: list[tuple[list[str], str]], result: MergeResult) -> None:
    """Give every identity of each connected group one member id, logging one ``merges`` row each."""
    q = ws.raw.execute
    blocked = {
        (i, r) for i, r in q("SELECT identity_id, reason FROM merges WHERE undone_at IS NOT NULL").fetchall()
    }
    parent: dict[str, str] = {}
    reason_of: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ids, reason in groups:
        live = [i for i in ids if (i, reason) not in blocked]
        if len(live) < 2:
            continue
        for i in live:
            reason_of.setdefault(i, reason)
            parent[find(i)] = find(live[0])
    if not parent:
        return
    current = dict(
        q(
            "SELECT identity_id, member_id FROM identities WHERE identity_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [list(parent)],
        ).fetchall()
    )
    # accounts already merged with these belong to the same person: their members join the component
    members = sorted({m for m in current.values() if m})
    current.update(
        q(
            "SELECT identity_id, member_id FROM identities WHERE member_id IN (SELECT unnest(?::VARCHAR[]))",
            [members],
        ).fetchall()
    )
    for iid, mid in current.items():
        if mid:
            parent[find(iid)] = find("\x00" + mid)  # a node per member ties its identities together
    active = {i for (i,) in q("SELECT identity_id FROM merges WHERE undone_at IS NULL").fetchall()}
    comps: dict[str, list[str]] = {}
    for iid in current:
        comps.setdefault(find(iid), []).append(iid)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows: list[dict[str, Any]] = []
    moves: list[dict[str, str]] = []
    touched = 0
    for ids in comps.values():
        if len(ids) < 2:
            continue
        merged = sorted({current[i] for i in ids if current[i] and current[i] != i})
        target = merged[0] if merged else min(ids)
        changed = False
        for iid in sorted(ids):
            before = current[iid]
            reason = reason_of.get(iid) or next(
                (reason_of[j] for j in sorted(ids) if j in reason_of), EMAIL_REASON
            )
            if before == target and iid in active:
                continue
            if before != target:
                moves.append({"identity_id": iid, "member_id": target})
            rows.append(
                {
                    "merge_id": identity.stable_id("merge", iid, target, reason, now.isoformat()),
                    "identity_id": iid,
                    "from_member_id": before,
                    "to_member_id": target,
                    "reason": reason,
                    "created_at": now,
                    "undone_at": None,
                }
            )
            changed = True
        touched += changed
    if moves:  # one bulk update: a merge can move many thousands of accounts
        ws.raw.register("_covalue_moves", pa.Table.from_pylist(moves))
        q(
            "UPDATE identities SET member_id = mv.member_id FROM _covalue_moves mv "
            "WHERE identities.identity_id = mv.identity_id"
        )
        ws.raw.unregister("_covalue_moves")
        result.identities += len(moves)
    if rows:
        batch = pa.Table.from_pylist(rows, schema=schema.MERGES)
        ws.raw.register("_covalue_merges", batch)
        q("INSERT INTO merges SELECT * FROM _covalue_merges")
        ws.raw.unregister("_covalue_merges")
    result.members += touched


def unmerge(ws: Workspace, key: str) -> list[str]:
    """Undo the merges of a member (or of one identity) and return the identities restored.

    Undoing the identity whose id the member carries undoes the whole member; when one identity is
    left on its own, its row is closed too, since a member of one account is not a merge.
    """
    q = ws.raw.execute
    rows = q(
        "SELECT merge_id, identity_id, from_member_id, to_member_id FROM merges "
        "WHERE undone_at IS NULL AND (to_member_id = ? OR identity_id = ?) ORDER BY created_at DESC",
        [key, key],
    ).fetchall()
    if not rows:
        raise MergeError(f"{key}: no merged member or identity with this id (see `covalue identities`)")
    whole = any(r[3] == key for r in rows) or any(r[1] == key and r[2] == r[3] for r in rows)
    if whole:
        member = next(r[3] for r in rows if r[3] == key or r[1] == key)
        rows = q(
            "SELECT merge_id, identity_id, from_member_id, to_member_id FROM merges "
            "WHERE undone_at IS NULL AND to_member_id = ? ORDER BY created_at DESC",
            [member],
        ).fetchall()
    else:
        member = rows[0][3]
        rows = [r for r in rows if r[1] == key]
    now = datetime.now(UTC).replace(tzinfo=None)
    restored = []
    for merge_id, iid, before, _to in rows:
        q("UPDATE identities SET member_id = ? WHERE identity_id = ?", [before, iid])
        q("UPDATE merges SET undone_at = ? WHERE merge_id = ?", [now, merge_id])
        restored.append(iid)
    left = q(
        "SELECT merge_id, identity_id, from_member_id FROM merges WHERE undone_at IS NULL AND to_member_id = ?",
        [member],
    ).fetchall()
    others = q("SELECT count(*) FROM identities WHERE member_id = ?", [member]).fetchone()[0]
    if left and others <= 1:
        for merge_id, iid, before in left:
            q("UPDATE identities SET member_id = ? WHERE identity_id = ?", [before, iid])
            q("UPDATE merges SET undone_at = ? WHERE merge_id = ?", [now, merge_id])
            restored.append(iid)
    return restored


def merged_members(ws: Workspace, *, show_names: bool | None = None) -> list[dict[str, Any]]:
    """Members made of several identities, with each identity's source, pseudonym and reason.

    Display names appear only when the workspace allows them (``privacy.show_names``); native ids are
    never shown, since on mail sources they are email addresses.
    """
    names = ws.settings.privacy.show_names if show_names is None else show_names
    rows = ws.raw.execute(
        "SELECT i.member_id, i.identity_id, i.source, i.display_name, "
        "  (SELECT m.reason FROM merges m WHERE m.identity_id = i.identity_id AND m.undone_at IS NULL "
        "   AND m.to_member_id = i.member_id ORDER BY m.created_at DESC LIMIT 1) "
        "FROM identities i WHERE i.member_id IN "
        "  (SELECT member_id FROM identities GROUP BY member_id HAVING count(*) > 1) "
        "ORDER BY i.member_id, i.source, i.identity_id"
    ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for mid, iid, src, name, reason in rows:
        m = out.setdefault(mid, {"member_id": mid, "identities": []})
        ident = {"identity_id": iid, "source": src, "reason": reason}
        if names:
            ident["display_name"] = name
        m["identities"].append(ident)
    return list(out.values())
