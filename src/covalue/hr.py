"""HR attributes (org unit, location, role) joined onto members who are already in the workspace.

Platform exports rarely say which department someone works in; the HR system does. An HR file is a
members table (CSV, JSON Lines or Parquet, see docs/tabular.md) with ``org_unit`` / ``location`` /
``role`` and a way to find the person: an ``email`` (matched through its keyed hash, so addresses are
never stored) or a ``native_id`` / ``member_id`` (the platform's own user id, narrowed by an optional
``source`` column such as ``slack`` or ``slack:acme``). Matching happens in the engine, so a file of
a hundred thousand employees is joined in one pass.

    covalue ingest --members hr.csv

Rows that match nobody are kept as rejects ("no such member"); running the same file again changes
nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from covalue import identity, schema
from covalue.presentation import plural
from covalue.sources.archive import Refused
from covalue.sources.base import ReaderError, slug
from covalue.sources.tabular import BadRow, RecordStream, id_value, list_files, make_layout

_STAGE = pa.schema(
    [
        ("line", pa.int64()),
        ("reject_id", pa.string()),
        ("location", pa.string()),
        ("excerpt", pa.string()),
        ("email_hash", pa.string()),
        ("native_id", pa.string()),
        ("src", pa.string()),
        ("org_unit", pa.string()),
        ("location_attr", pa.string()),
        ("role", pa.string()),
    ]
)
_BATCH = 50_000
NO_MEMBER = "no such member"


@dataclass
class HrResult:
    """What one HR join did: rows read, matched and unmatched, members updated, rejects."""

    ingest_id: str
    path: str
    rows: int = 0
    matched: int = 0
    unmatched: int = 0
    members_updated: int = 0
    rejects: int = 0
    messages: list[str] = field(default_factory=list)
    status: str = "ok"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        # shaped like an ingest result, so `covalue ingest --json` prints one list
        return {
            "ingest_id": self.ingest_id,
            "paths": [self.path],
            "reader": "hr",
            "rows": self.rows,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "members_updated": self.members_updated,
            "rejects": self.rejects,
            "messages": self.messages,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }


def attach_members(ws: Any, path: str | Path) -> HrResult:
    """Set ``org_unit`` / ``location`` / ``role`` on the members matched by the rows of an HR file.

    A value left empty in the file keeps what the member had. When several rows match one member, the
    last row in the file wins.
    """
    t0 = time.perf_counter()
    started = datetime.now(UTC).replace(tzinfo=None)
    path = Path(path)
    ws.ensure_tables()
    result = HrResult(ingest_id=uuid.uuid4().hex[:16], path=str(path))
    source = f"hr:{slug(path.stem)}"
    raw = ws.raw
    stage = f"_hr_{result.ingest_id}"
    raw.execute(
        f'CREATE TEMP TABLE "{stage}" (' + ", ".join(f'"{f.name}" {_sql_type(f.type)}' for f in _STAGE) + ")"
    )
    rejects: list[dict[str, Any]] = []
    buf: list[dict[str, Any]] = []

    def reject(location: str, reason: str, excerpt: Any = None) -> None:
        result.rejects += 1
        rejects.append(
            {
                "reject_id": identity.stable_id(source, location, reason),
                "source": source,
                "location": location,
                "reason": reason,
                "excerpt": None if excerpt is None else str(excerpt)[:300],
                "ingest_id": result.ingest_id,
            }
        )
        if len(rejects) >= _BATCH:  # bounded memory even when most of a large file matches nobody
            ws.append("rejects", rejects)
            rejects.clear()

    def flush() -> None:
        if buf:
            raw.register("_covalue_hr_batch", pa.Table.from_pylist(buf, schema=_STAGE))
            raw.execute(f'INSERT INTO "{stage}" SELECT * FROM _covalue_hr_batch')
            raw.unregister("_covalue_hr_batch")
            buf.clear()

    try:
        if not path.exists():
            raise ReaderError(f"{path}: no such file or folder")
        files, refused, ignored, arc = list_files(path, ws.settings)
        try:
            for r in refused:
                reject(f"{path.name}!{r.name}", r.reason)
            if ignored:
                result.messages.append(
                    f"{path.name}: ignored {plural(len(ignored), 'file')} that are not tables"
                )
            for f in files:
                _read_file(f, ws, source, buf, reject, flush, result)
        finally:
            if arc is not None:
                arc.close()
        flush()
        _join(raw, stage, source, result)
    except ReaderError as e:
        result.messages.append(str(e))
        result.status = "failed"
        reject(str(path), str(e))
    finally:
        raw.execute(f'DROP TABLE IF EXISTS "{stage}"')
    if rejects:
        ws.append("rejects", rejects)
    if result.status == "ok" and result.rejects:
        result.status = "partial"
    result.seconds = time.perf_counter() - t0
    _log(ws, result, started)
    return result


def _read_file(f: Any, ws: Any, source: str, buf: list, reject: Any, flush: Any, result: HrResult) -> None:
    """Stage the rows of one HR file (a file of a zip or folder) for the join."""
    secret = ws.secret
    stream = RecordStream(f)
    try:
        layout = make_layout(f, stream.open(), dict(ws.settings.tabular), force_table="members")
        # JSON Lines objects may differ in their keys, so only a CSV or Parquet header can be judged whole
        have = set(layout.rename.values())
        if not layout.sparse and not have & {"email", "native_id", "member_id"}:
            reject(f.label, "no email, native_id or member_id column to find members by")
            return
        if not layout.sparse and not have & {"org_unit", "location", "role"}:
            reject(f.label, "no org_unit, location or role column: nothing to attach")
            return
        if layout.unknown:
            result.messages.append(f"{f.label}: ignored columns: {', '.join(layout.unknown)}")
        for rec in stream.records():
            if rec.cells is None:
                reject(rec.location, rec.error or "unreadable row", rec.excerpt)
                continue
            row = layout.row(rec.cells)
            result.rows += 1
            email = _text(row.get("email"))
            native = _text(row.get("native_id")) or _text(row.get("member_id"))
            if not email and not native:
                reject(
                    rec.location, "missing email or native_id", _join_excerpt(rec.excerpt, stream.delimiter)
                )
                continue
            email_h = identity.email_hash(secret, email) if email else None
            if email and not email_h:
                reject(rec.location, f"email is not an email address: {email[:40]!r}")
                continue
            buf.append(
                {
                    "line": result.rows,  # counts across all files of a zip or folder
                    "reject_id": identity.stable_id(source, rec.location, NO_MEMBER),
                    "location": rec.location,
                    # the excerpt names no one: HR rows that match nobody must not bring emails in
                    "excerpt": _attributes(row),
                    "email_hash": email_h,
                    # an email used as the id was stored as its hash (see sources/tabular.py)
                    "native_id": identity.email_hash(secret, native) if native and "@" in native else native,
                    "src": _text(row.get("source")),
                    "org_unit": _text(row.get("org_unit")),
                    "location_attr": _text(row.get("location")),
                    "role": _text(row.get("role")),
                }
            )
            if len(buf) >= _BATCH:
                flush()
    except BadRow as e:
        reject(f.label, str(e))
    except (OSError, EOFError, Refused, UnicodeError, pa.ArrowException) as e:
        reject(f.label, f"file damaged or truncated: {type(e).__name__}: {e}")
    finally:
        stream.close()
        for note in stream.notes:
            result.messages.append(note)


def _join(raw: Any, stage: str, source: str, result: HrResult) -> None:
    """Match staged rows to identities, update their members, and reject the rows that match nobody."""
    # a source given as "slack" names a platform, "slack:acme" a source, "acme" an instance
    src_ok = (
        "(h.src IS NULL OR i.source = h.src OR i.source LIKE h.src || ':%' "
        "OR i.source LIKE '%:' || lower(regexp_replace(h.src, '[^A-Za-z0-9_]+', '-', 'g')))"
    )
    raw.execute(
        f"""CREATE TEMP TABLE "{stage}_m" AS
        SELECT h.line, i.member_id FROM "{stage}" h JOIN identities i ON i.email_hash = h.email_hash
        WHERE h.email_hash IS NOT NULL AND {src_ok}
        UNION
        SELECT h.line, i.member_id FROM "{stage}" h JOIN identities i ON i.native_id = h.native_id
        WHERE h.native_id IS NOT NULL AND {src_ok}
        UNION
        SELECT h.line, i.member_id FROM "{stage}" h JOIN identities i ON i.member_id = h.native_id
        WHERE starts_with(h.native_id, 'm_')"""
    )
    try:
        result.matched = raw.execute(f'SELECT count(DISTINCT line) FROM "{stage}_m"').fetchone()[0]
        raw.execute(
            f"""UPDATE members SET
                org_unit = coalesce(u.org_unit, members.org_unit),
                location = coalesce(u.location_attr, members.location),
                role = coalesce(u.role, members.role)
            FROM (
                SELECT m.member_id,
                    arg_max(h.org_unit, h.line) FILTER (WHERE h.org_unit IS NOT NULL) AS org_unit,
                    arg_max(h.location_attr, h.line) FILTER (WHERE h.location_attr IS NOT NULL) AS location_attr,
                    arg_max(h.role, h.line) FILTER (WHERE h.role IS NOT NULL) AS role
                FROM "{stage}_m" m JOIN "{stage}" h USING (line) GROUP BY m.member_id
            ) u
            WHERE members.member_id = u.member_id"""
        )
        result.members_updated = raw.execute(f'SELECT count(DISTINCT member_id) FROM "{stage}_m"').fetchone()[
            0
        ]
        # unmatched rows become rejects inside the engine: a large file of strangers stays cheap
        unmatched = f'FROM "{stage}" h WHERE NOT EXISTS (SELECT 1 FROM "{stage}_m" m WHERE m.line = h.line)'
        result.unmatched = raw.execute(f"SELECT count(*) {unmatched}").fetchone()[0]
        result.rejects += result.unmatched
        raw.execute(
            f"INSERT INTO rejects SELECT h.reject_id, ?, h.location, ?, h.excerpt, ? {unmatched} "
            "AND NOT EXISTS (SELECT 1 FROM rejects r WHERE r.reject_id = h.reject_id)",
            [source, NO_MEMBER, result.ingest_id],
        )
    finally:
        raw.execute(f'DROP TABLE IF EXISTS "{stage}_m"')


def _log(ws: Any, r: HrResult, started: datetime) -> None:
    row = {
        "ingest_id": r.ingest_id,
        "started_at": started,
        "finished_at": datetime.now(UTC).replace(tzinfo=None),
        "reader": "hr",
        "paths": json.dumps([r.path]),
        "sources": json.dumps([]),
        "community": None,
        "read_counts": json.dumps({"hr_rows": r.rows}),
        "added_counts": json.dumps(
            {"matched": r.matched, "unmatched": r.unmatched, "members_updated": r.members_updated}
        ),
        "n_rejects": r.rejects,
        "status": r.status,
        "message": "\n".join(r.messages)[:4000] or None,
    }
    ws.append("ingests", pa.Table.from_pylist([row], schema=schema.INGESTS))


def _text(v: Any) -> str | None:
    return id_value(v)


def _attributes(row: dict[str, Any]) -> str:
    return "; ".join(
        f"{k}={_text(row.get(k))}" for k in ("org_unit", "location", "role") if _text(row.get(k))
    )


def _join_excerpt(excerpt: Any, delimiter: str) -> str | None:
    if excerpt is None:
        return None
    if isinstance(excerpt, list):
        return delimiter.join(excerpt)[:300]
    return str(excerpt)[:300]


def _sql_type(t: pa.DataType) -> str:
    return "BIGINT" if pa.types.is_integer(t) else "VARCHAR"
