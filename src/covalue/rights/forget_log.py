"""The forget log: what stops a forgotten person from coming back with the next ingest of an old export.

It keeps no name, id or address, only keyed hashes (HMAC-SHA256 with the workspace secret, in a domain of
their own so they match no pseudonym shown in an earlier report) of each forgotten account's identity id,
of its e-mail hash, and of its handles. An ingest hashes the ids it meets the same way and drops the rows
of a forgotten account, counting them, so the person running it is told how many records were skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from covalue.workspace import Workspace

LOG_TABLE = "forget_log"
REQUESTS_TABLE = "forget_requests"
#: an @handle in a newly read text (Slack's ``@U061A5N1G`` after markup is read, ``@jane`` elsewhere)
_AT = re.compile(r"(?<![\w@])@([\w][\w.-]*[\w]|[\w])")


def key(secret: bytes, kind: str, value: str) -> str:
    """The keyed hash kept for one account id (``account``), e-mail hash (``email``) or handle (``name``)."""
    norm = value.strip().lower() if kind == "name" else value
    return hmac.new(secret, f"forget\x1f{kind}\x1f{norm}".encode(), hashlib.sha256).hexdigest()


def ensure(ws: Workspace) -> None:
    existing = set(ws.con.list_tables())
    if LOG_TABLE not in existing:
        ws.raw.execute(f"CREATE TABLE {LOG_TABLE} (key VARCHAR PRIMARY KEY, kind VARCHAR, forget_id VARCHAR)")
    if REQUESTS_TABLE not in existing:
        ws.raw.execute(
            f"CREATE TABLE {REQUESTS_TABLE} (forget_id VARCHAR, asked_at TIMESTAMP, asked_by VARCHAR, counts VARCHAR)"
        )


def record(ws: Workspace, forget_id: str, keys: Iterable[tuple[str, str]]) -> int:
    """Add (kind, key) pairs to the log; returns how many were new."""
    ensure(ws)
    before = ws.raw.execute(f"SELECT count(*) FROM {LOG_TABLE}").fetchone()[0]
    for kind, k in sorted(set(keys)):
        ws.raw.execute(
            f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [k, kind, forget_id]
        )
    return ws.raw.execute(f"SELECT count(*) FROM {LOG_TABLE}").fetchone()[0] - before


def record_request(ws: Workspace, forget_id: str, asked_by: str, counts: dict[str, Any]) -> None:
    ensure(ws)
    ws.raw.execute(
        f"INSERT INTO {REQUESTS_TABLE} VALUES (?, ?, ?, ?)",
        [forget_id, datetime.now(UTC).replace(tzinfo=None), asked_by, json.dumps(counts)],
    )


#: per canonical table, the columns that point at a person (a row is skipped when one is forgotten)
_PERSON_COLUMNS = {
    "members": ("member_id",),
    "identities": ("identity_id", "member_id"),
    "items": ("author_id",),
    "actions": ("actor_id",),
}


def _among(column: Any, ids: set[str]) -> Any:
    """Which values of ``column`` are in ``ids`` (False for nulls)."""
    return pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(ids), pa.string())), False)


@dataclass
class SkipList:
    """The filter an ingest passes each batch through. Empty (and free) when nobody was forgotten."""

    secret: bytes
    keys: dict[str, set[str]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    _blocked: set[str] = field(default_factory=set)
    _allowed: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, ws: Workspace) -> SkipList:
        s = cls(secret=ws.secret)
        if LOG_TABLE in set(ws.con.list_tables()):
            for kind, k in ws.raw.execute(f"SELECT kind, key FROM {LOG_TABLE}").fetchall():
                s.keys.setdefault(kind, set()).add(k)
        return s

    @property
    def active(self) -> bool:
        return bool(self.keys)

    @property
    def total(self) -> int:
        return sum(self.skipped.values())

    def forgotten(self, ids: list[str]) -> set[str]:
        """Which of these identity ids belong to people who asked to be forgotten (none when nobody
        did): for rows made after the reading, such as the writers behind a relay account."""
        return self._forgotten(ids) if self.active else set()

    def _forgotten(self, ids: list[str]) -> set[str]:
        accounts = self.keys.get("account", set())
        out = set()
        for i in ids:
            if i in self._blocked:
                out.add(i)
            elif i not in self._allowed:
                if key(self.secret, "account", i) in accounts:
                    self._blocked.add(i)
                    out.add(i)
                else:
                    self._allowed.add(i)
        return out

    def filter(self, table: str, batch: pa.Table) -> pa.Table:
        """``batch`` without the rows of forgotten people, and with their handles taken out of new texts."""
        if not self.active or batch.num_rows == 0:
            return batch
        if table == "identities" and "email" in self.keys:
            emails = self.keys["email"]
            for iid, eh in zip(
                batch["identity_id"].to_pylist(), batch["email_hash"].to_pylist(), strict=True
            ):
                if eh and key(self.secret, "email", eh) in emails:
                    self._blocked.add(iid)
        drop = None
        for col in _PERSON_COLUMNS.get(table, ()):
            values = [v for v in pc.unique(batch[col]).to_pylist() if v]
            gone = self._forgotten(values)
            if gone:
                hit = _among(batch[col], gone)
                drop = hit if drop is None else pc.or_(drop, hit)
        if drop is not None:
            n = int(pc.sum(drop).as_py() or 0)
            if n:
                self.skipped[table] = self.skipped.get(table, 0) + n
                batch = batch.filter(pc.invert(drop))
        if table == "actions":  # others' actions stay; only the pointer at the forgotten person goes
            batch = self._null_targets(batch)
        if table == "items" and "name" in self.keys:
            batch = self._scrub_handles(batch)
        return batch

    def _null_targets(self, batch: pa.Table) -> pa.Table:
        targets = [v for v in pc.unique(batch["target_id"]).to_pylist() if v]
        gone = self._forgotten(targets)
        if not gone:
            return batch
        cleared = pc.if_else(
            _among(batch["target_id"], gone), pa.scalar(None, pa.string()), batch["target_id"]
        )
        return batch.set_column(batch.schema.get_field_index("target_id"), "target_id", cleared)

    def _scrub_handles(self, batch: pa.Table) -> pa.Table:
        from covalue.rights import FORMER_MEMBER

        names = self.keys["name"]

        def scrub(text: str | None) -> str | None:
            if not text or "@" not in text:
                return text
            return _AT.sub(
                lambda m: (
                    f"@{FORMER_MEMBER}" if key(self.secret, "name", m.group(1)) in names else m.group(0)
                ),
                text,
            )

        texts = [scrub(t) for t in batch["text"].to_pylist()]
        return batch.set_column(batch.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))

    def message(self) -> str | None:
        if not self.total:
            return None
        from covalue.presentation import plural

        parts = ", ".join(f"{n:,} {t}" for t, n in sorted(self.skipped.items()))
        return (
            f"skipped {plural(self.total, 'record')} of {plural(len(self._blocked), 'forgotten account')} ({parts}): "
            "they asked to be forgotten, so this export's copy of their data was not read"
        )
