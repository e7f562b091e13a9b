"""Forget a person everywhere (the right to erasure).

What goes, and what stays:

* their identities, member rows, merges, actions, and the items they wrote go;
* items others replied to stay, so the others' replies keep their context, but lose their author (shown
  as "a former member"), their title and their text;
* others' actions stay (they are the others' contributions) without their pointer at the person;
* mentions of them in others' texts, in reject excerpts, ingest messages and space names become
  "a former member";
* derived tables lose their rows and the analysis is run again (or, if it fails, its tables are dropped
  so nothing stale is shown);
* in the account store: their accounts (with roles and sessions), sign-in attempts, survey answers and
  needs that carry their name, canvas entries naming them, experiment participation and items, their
  place in stories, and every other mention of their ids, names or addresses;
* uploads not waiting to be read are deleted (compressed platform archives cannot be rewritten safely);
  other files of the workspace folder naming them lose the lines or alias entries naming them when
  they are one record a line or an alias file, and are deleted otherwise (a report saved there);
* the workspace's own Parquet lake (``[analysis] lake``) is exported again and its Spark results
  removed, so the lake forgets them too (:func:`covalue.lake.forget_in_lake`);
* the database files are rewritten so that the freed bytes are gone too (:mod:`covalue.rights.compact`).

A keyed hash of each account is kept in the forget log so a re-ingest skips them, and the request (who
asked, when, how many rows) goes to the audit log without naming the person.
"""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from covalue import changes, lake, schema
from covalue.rights import FORMER_MEMBER, base_tables, compact, forget_log, text_columns
from covalue.rights.people import Person

if TYPE_CHECKING:
    from covalue.store import Store
    from covalue.workspace import Workspace

#: files of the workspace folder that are the workspace itself (rewritten, never deleted)
_OWN_FILES = {
    "covalue.duckdb",
    "covalue.toml",
    "secret.key",
    "store.sqlite",
    "store.sqlite-wal",
    "store.sqlite-shm",
}


@dataclass
class ForgetResult:
    forget_id: str
    at: datetime
    asked_by: str
    label: str
    #: rows erased or rewritten, per place ("items deleted", "store: users deleted", ...)
    counts: dict[str, int] = field(default_factory=dict)
    files_deleted: list[str] = field(default_factory=list)
    files_rewritten: list[str] = field(default_factory=list)
    analysis: str = "none"
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "forget_id": self.forget_id,
            "at": self.at.isoformat(),
            "asked_by": self.asked_by,
            "person": self.label,
            "counts": self.counts,
            "files_deleted": self.files_deleted,
            "files_rewritten": self.files_rewritten,
            "analysis": self.analysis,
            "messages": self.messages,
        }


def name_pattern(names: set[str]) -> re.Pattern[str] | None:
    """One pattern for every way ``names`` may appear in a text: bare, as ``@name``, as Slack's
    ``<@ID|name>``, as Zulip's ``@**name**``; whole words only, any case."""
    if not names:
        return None
    alts = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?:<@)?(?<![\w])@?(?:\*\*)?(?:{alts})(?:\*\*)?(?:\|[^<>]*>|>)?(?![\w])", re.I)


def scrub(text: str, pattern: re.Pattern[str] | None) -> str:
    return pattern.sub(FORMER_MEMBER, text) if pattern else text


def forget(
    ws: Workspace,
    person: Person,
    *,
    asked_by: str,
    store: Store | None = None,
    by_user_id: int | None = None,
    reanalyse: bool = True,
) -> ForgetResult:
    """Erase ``person`` from ``ws`` (and ``store``); see the module's docstring for what that means."""
    now = datetime.now(UTC).replace(tzinfo=None)
    res = ForgetResult(uuid.uuid4().hex[:16], now, asked_by, person.label)
    pattern = name_pattern(person.names())
    # the log first: should anything below fail, a re-ingest already leaves them out
    keys = [("account", forget_log.key(ws.secret, "account", i)) for i in person.identity_ids]
    keys += [
        ("email", forget_log.key(ws.secret, "email", a["email_hash"]))
        for a in person.accounts
        if a.get("email_hash")
    ]
    keys += [("name", forget_log.key(ws.secret, "name", n)) for n in person.names() if " " not in n.strip()]
    res.counts["forget log keys added"] = forget_log.record(ws, res.forget_id, keys)
    had_analysis = _has_analysis(ws)
    their_items = _erase_workspace(ws, person, pattern, res)
    res.counts["lake tables exported again"] = lake.forget_in_lake(ws)
    if store is not None:
        from covalue.rights.store_records import erase

        res.counts.update({f"store: {k}": v for k, v in erase(store, person, their_items, pattern).items()})
    res.files_deleted, res.files_rewritten = _erase_files(ws, person, waiting_uploads(store))
    if had_analysis and reanalyse:
        res.analysis = _reanalyse(ws)
    counts = {k: v for k, v in res.counts.items() if v}
    forget_log.record_request(ws, res.forget_id, asked_by, counts)
    compact.rewrite_workspace(ws)
    if store is not None:
        _audit(store, by_user_id, asked_by, res)
        compact.vacuum_store(store)
    return res


def _has_analysis(ws: Workspace) -> bool:
    from covalue import journey

    return journey.has_results(ws)


def _erase_workspace(
    ws: Workspace, p: Person, pattern: re.Pattern[str] | None, res: ForgetResult
) -> list[str]:
    """Erase the person from the DuckDB tables; returns the ids of the items they wrote."""
    q = ws.raw.execute
    ids = sorted(p.ids) or ["-"]
    q("CREATE OR REPLACE TEMP TABLE _fg_ids AS SELECT unnest(?::VARCHAR[]) AS id", [ids])
    q(
        "CREATE OR REPLACE TEMP TABLE _fg_items AS SELECT item_id FROM items WHERE author_id IN (SELECT id FROM _fg_ids)"
    )
    their_items = [i for (i,) in q("SELECT item_id FROM _fg_items").fetchall()]
    # items someone else answered stay for the sake of the answers, without author, title or text
    q(
        "CREATE OR REPLACE TEMP TABLE _fg_kept AS SELECT DISTINCT f.item_id FROM _fg_items f JOIN items o "
        "ON (o.parent_id = f.item_id OR o.thread_id = f.item_id) AND o.item_id <> f.item_id "
        "WHERE o.author_id IS NULL OR o.author_id NOT IN (SELECT id FROM _fg_ids)"
    )
    c = res.counts
    c["items kept for others' replies, author and text removed"] = _n(
        q(
            "UPDATE items SET author_id = NULL, title = NULL, text = NULL WHERE item_id IN (SELECT item_id FROM _fg_kept)"
        )
    )
    c["items deleted"] = _n(q("DELETE FROM items WHERE author_id IN (SELECT id FROM _fg_ids)"))
    changes.note_everything(ws.raw)  # rows gone: the next analysis runs in full
    c["actions deleted"] = _n(q("DELETE FROM actions WHERE actor_id IN (SELECT id FROM _fg_ids)"))
    c["others' actions no longer pointing at them"] = _n(
        q("UPDATE actions SET target_id = NULL WHERE target_id IN (SELECT id FROM _fg_ids)")
    )
    c["identities deleted"] = _n(
        q(
            "DELETE FROM identities WHERE identity_id IN (SELECT id FROM _fg_ids) OR member_id IN (SELECT id FROM _fg_ids)"
        )
    )
    c["members deleted"] = _n(q("DELETE FROM members WHERE member_id IN (SELECT id FROM _fg_ids)"))
    c["merges deleted"] = _n(
        q(
            "DELETE FROM merges WHERE identity_id IN (SELECT id FROM _fg_ids) "
            "OR from_member_id IN (SELECT id FROM _fg_ids) OR to_member_id IN (SELECT id FROM _fg_ids)"
        )
    )
    c["ingest records rewritten"] = _forget_recovered(ws, p)
    # every other table (derived results, experiment bridges, tables of later versions): rows about them
    derived = 0
    for t in base_tables(ws):
        if t in schema.TABLES or t in (forget_log.LOG_TABLE, forget_log.REQUESTS_TABLE):
            continue
        for col in text_columns(ws, t):
            derived += _n(
                q(
                    f'DELETE FROM "{t}" WHERE "{col}" IN (SELECT id FROM _fg_ids) '
                    f'OR "{col}" IN (SELECT item_id FROM _fg_items)'
                )
            )
    c["derived rows deleted"] = derived
    c["texts naming them rewritten"] = _scrub_tables(ws, p.names(), pattern) if pattern else 0
    for t in ("_fg_ids", "_fg_items", "_fg_kept"):
        q(f"DROP TABLE IF EXISTS {t}")
    return their_items


def _n(cur: Any) -> int:
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _forget_recovered(ws: Workspace, p: Person) -> int:
    """Take their ids out of the ingest log's list of recovered senders."""
    n = 0
    rows = ws.raw.execute(
        "SELECT ingest_id, read_counts FROM ingests WHERE read_counts LIKE '%recovered_ids%'"
    ).fetchall()
    for ingest_id, counts in rows:
        try:
            data = json.loads(counts)
        except ValueError:
            continue
        rec = data.get("recovered_ids") or {}
        new = {s: [i for i in v if i not in p.ids] for s, v in rec.items()}
        if new != rec:
            data["recovered_ids"] = new
            ws.raw.execute(
                "UPDATE ingests SET read_counts = ? WHERE ingest_id = ?", [json.dumps(data), ingest_id]
            )
            n += 1
    return n


def _scrub_tables(ws: Workspace, names: set[str], pattern: re.Pattern[str]) -> int:
    """Rewrite every text value of every table that names the person. A cheap SQL test finds the few
    candidate rows (any of the names, any case); Python's pattern then replaces whole words only."""
    q = ws.raw.execute
    needles = sorted({n.lower() for n in names})
    n = 0
    for t in base_tables(ws):
        if t in (forget_log.LOG_TABLE,):
            continue
        cols = text_columns(ws, t)
        for col in cols:
            cond = " OR ".join(f'contains(lower("{col}"), ?)' for _ in needles)
            rows = q(f'SELECT rowid, "{col}" FROM "{t}" WHERE {cond}', needles).fetchall()
            for rowid, value in rows:
                new = scrub(value, pattern)
                if new != value:
                    q(f'UPDATE "{t}" SET "{col}" = ? WHERE rowid = ?', [new, rowid])
                    n += 1
    return n


#: files kept one record a line (an alias CSV, an HR extract): the lines naming them are dropped
_LINE_FILES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")


def _erase_files(ws: Workspace, p: Person, waiting: set[str]) -> tuple[list[str], list[str]]:
    """Clear the workspace folder's files of the person; returns (deleted, rewritten).

    Uploads not waiting to be read are deleted whether or not they name them: they are compressed
    platform archives that cannot be searched cheaply nor rewritten safely, and were needed only until
    read. Other files are searched: one-record-a-line files lose the lines naming them, an alias TOML
    file loses the people entries naming them, anything else naming them (a report saved here) is
    deleted."""
    from covalue.workspace import DB_FILE

    deleted: list[str] = []
    rewritten: list[str] = []
    needles = sorted({n.lower() for n in p.names()} | p.ids)
    for f in sorted(ws.path.rglob("*")):
        if not f.is_file() or f.name in _OWN_FILES or f.name.startswith(DB_FILE):
            continue
        rel = f.relative_to(ws.path)
        if rel.parts[0] == "uploads":
            if not (rel.parts[1:2] and rel.parts[1] in waiting):
                f.unlink(missing_ok=True)
                deleted.append(str(rel))
            continue
        try:
            data = f.read_bytes()
        except OSError:
            continue
        low = data.lower()
        if not any(n.encode() in low for n in needles):
            continue
        kept = _without_them(f, data, needles)
        if kept is None:
            f.unlink(missing_ok=True)
            deleted.append(str(rel))
        else:
            f.write_bytes(kept)
            rewritten.append(str(rel))
    ws.remove_scratch()
    return deleted, rewritten


def _without_them(f: Path, data: bytes, needles: list[str]) -> bytes | None:
    """The file's bytes without the records naming them, or None when it must go whole."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if f.suffix.lower() in _LINE_FILES:
        lines = text.splitlines(keepends=True)
        return "".join(ln for ln in lines if not any(n in ln.lower() for n in needles)).encode()
    if f.suffix.lower() == ".toml" and "[[person]]" in text:
        try:
            people = tomllib.loads(text).get("person") or []
        except tomllib.TOMLDecodeError:
            return None
        out = ["# rewritten by covalue forget: entries of a forgotten person removed\n"]
        for entry in people:
            accounts = [str(a) for a in entry.get("accounts") or []]
            if not any(n in a.lower() for a in accounts for n in needles):
                out.append("\n[[person]]\naccounts = [" + ", ".join(json.dumps(a) for a in accounts) + "]\n")
        return "".join(out).encode()
    return None


def waiting_uploads(store: Store | None) -> set[str]:
    """Upload folders (job ids) of jobs still queued or being read: left alone, since what they read
    passes the forget log's filter."""
    if store is None:
        return set()
    from sqlalchemy import select

    from covalue.store import Job

    with store.session() as db:
        return set(db.scalars(select(Job.id).where(Job.state.in_(("queued", "checking", "ingesting")))))


def _reanalyse(ws: Workspace) -> str:
    """Run the analysis again on what is left; drop its tables when it fails, so nothing stale stays."""
    from covalue import journey

    try:
        journey.analyze(ws)
        return "re-run"
    except Exception as e:  # the erasure stands even when the analysis cannot run
        for t in journey.DERIVED:
            ws.raw.execute(f'DROP TABLE IF EXISTS "{t}"')
        return f"dropped (the re-run failed: {type(e).__name__}); run `covalue analyze` again"


def _audit(store: Store, by_user_id: int | None, asked_by: str, res: ForgetResult) -> None:
    from covalue.store import User
    from covalue.store import accounts as acc

    with store.session() as db:
        user = db.get(User, by_user_id) if by_user_id else None
        acc.audit(
            db,
            user,
            "person forgotten",
            subject=f"forget request {res.forget_id}",
            detail=json.dumps({"asked_by": asked_by, "counts": {k: v for k, v in res.counts.items() if v}}),
        )
