"""A workspace: a folder holding settings (``covalue.toml``), a secret key for pseudonyms, and an
embedded DuckDB database with the canonical tables, reached through Ibis.

    ws = covalue.open("my-workspace")
    ws.ingest(["beer.stackexchange.com.7z"])
    ws.table("items").group_by("kind").count().to_pandas()
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa

from covalue import bridge_replies, communities, memory, merge, models, relays, schema, staging, text_mentions
from covalue.dbfile import DB_FILE
from covalue.rights.forget_log import SkipList
from covalue.settings import DEFAULT_TOML, Settings
from covalue.sources import Reader, ReaderError, Sink, detect, get_reader

SETTINGS_FILE = "covalue.toml"
SECRET_FILE = "secret.key"
DEFAULT_DIR = "covalue-workspace"


class WorkspaceError(Exception):
    """The workspace is missing, damaged or cannot be used as asked."""


def default_path() -> Path:
    return Path(os.environ.get("COVALUE_WORKSPACE") or DEFAULT_DIR)


@dataclass
class IngestResult:
    """What one ``ingest`` did: rows read and newly added per table, rejects, and messages."""

    ingest_id: str
    paths: list[str]
    reader: str
    sources: list[str] = field(default_factory=list)
    read: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    rejects: int = 0
    messages: list[str] = field(default_factory=list)
    status: str = "ok"
    seconds: float = 0.0
    #: per source, the pseudonymous ids of people recovered because the platform put someone else in
    #: the author field (a mailing list that rewrote From to its own address)
    recovered: dict[str, list[str]] = field(default_factory=dict)
    #: records of forgotten people this ingest did not read (covalue.rights.forget_log)
    skipped: int = 0

    @property
    def senders_recovered(self) -> int:
        """How many senders this ingest recovered from list-rewritten From headers."""
        return sum(len(ids) for ids in self.recovered.values())

    @property
    def nothing_read(self) -> bool:
        return not any(self.read.get(t, 0) for t in ("items", "actions", "members"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingest_id": self.ingest_id,
            "paths": self.paths,
            "reader": self.reader,
            "sources": self.sources,
            "read": self.read,
            "added": self.added,
            "rejects": self.rejects,
            "messages": self.messages,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "senders_recovered": self.senders_recovered,
            "skipped_forgotten": self.skipped,
        }


class WorkspaceBusy(WorkspaceError):
    """Another process holds the workspace's database (DuckDB allows one writer)."""

    def __init__(self, path: Path) -> None:
        try:
            pid = (Path(path) / "serve.pid").read_text().strip()
        except OSError:
            pid = ""
        who = f"covalue serve (pid {pid})" if pid.isdigit() else "another covalue process"
        super().__init__(f"{who} holds this workspace: use the web app, or stop it")


def init(path: str | Path, *, name: str | None = None, exist_ok: bool = True) -> Workspace:
    """Create a workspace folder (settings, secret, database with empty canonical tables)."""
    p = Path(path)
    if (p / DB_FILE).exists():
        if not exist_ok:
            raise WorkspaceError(f"{p} already holds a workspace")
        return Workspace(p)
    p.mkdir(parents=True, exist_ok=True)
    settings = p / SETTINGS_FILE
    if not settings.exists():
        settings.write_text(DEFAULT_TOML.format(name=(name or p.resolve().name).replace('"', "'")))
    key = p / SECRET_FILE
    if not key.exists():
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    os.chmod(key, 0o600)
    ws = Workspace(p)
    ws.ensure_tables()
    return ws


def open(path: str | Path | None = None, *, create: bool = False) -> Workspace:
    """Open an existing workspace (or create it with ``create=True``)."""
    p = Path(path) if path is not None else default_path()
    if not (p / DB_FILE).exists():
        if create:
            return init(p)
        raise WorkspaceError(f"{p}: no covalue workspace here; create one with `covalue init {p}`")
    return Workspace(p)


class Workspace:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.settings = Settings.load(self.path / SETTINGS_FILE)
        self._read_only = read_only
        self._con: Any = None
        self._in_transaction = False
        #: a memory cap the process holding the workspace chose (the server's ``[web] memory_limit``):
        #: it wins over the analysis's own, so an analysis does not lift it
        self.memory_cap: str | None = None

    # -- connection ------------------------------------------------------------------------------
    @property
    def con(self) -> Any:
        """The Ibis DuckDB connection (opened on first use)."""
        if self._con is None:
            db = self.path / DB_FILE
            if not db.exists() and not self._read_only:
                from covalue import dbfile

                dbfile.create(db)  # in covalue's storage format
            try:
                self._con = ibis.duckdb.connect(str(db), read_only=self._read_only)
            except Exception as e:  # another process (the web server) holds the file
                if "lock" in str(e).lower():
                    raise WorkspaceBusy(self.path) from None
                raise
            # bound DuckDB's memory so large analyses spill to disk rather than exhaust the machine
            an = self.settings.analysis
            self._con.con.execute(f"SET memory_limit = '{self.memory_limit()}'")
            self._con.con.execute(f"SET temp_directory = '{self.spill_dir()}'")
            if an.threads:
                self._con.con.execute(f"SET threads = {int(an.threads)}")
            if not self._read_only:
                self.recover()
        return self._con

    def cursor(self, of: Any = None) -> Workspace:
        """Another view of this workspace on its own DuckDB cursor (opened from ``of``, a duckdb
        connection to the same database, by default this one's): it sees the last committed state
        (DuckDB's MVCC), so a reader is never held up by, and never sees half of, an ingest running
        on another cursor. One thread per view; ``close()`` it when done."""
        view = Workspace.__new__(Workspace)
        view.path, view.settings, view._read_only = self.path, self.settings, self._read_only
        view._in_transaction = False
        view.memory_cap = self.memory_cap
        view._con = ibis.duckdb.from_connection((of if of is not None else self.raw).cursor())
        return view

    def recover(self) -> list[str]:
        """Clean up after ingests a killed process left unfinished (:func:`covalue.staging.recover`)."""
        return staging.recover(self._con.con)

    def memory_limit(self) -> str:
        """DuckDB's memory cap for this workspace: the process's ``memory_cap`` when it set one, else
        ``analysis.memory_limit`` when set, else :func:`covalue.memory.default_limit` for the items and
        actions it holds."""
        an = self.settings.analysis
        cap = self.memory_cap or an.memory_limit
        if cap:
            return cap.replace(" ", "")
        return memory.default_limit(an.memory_share, memory.canonical_rows(self._con.con) if self._con else 0)

    def fit_memory(self) -> None:
        """Set DuckDB's cap again for the rows held now (an analysis after a large ingest on an open
        workspace)."""
        self.raw.execute(f"SET memory_limit = '{self.memory_limit()}'")

    def memory_limit_bytes(self) -> int:
        """:meth:`memory_limit` in bytes."""
        return memory.size_bytes(self.memory_limit())

    def spill_dir(self) -> Path:
        """The folder DuckDB spills to (``analysis.spill_dir``, by default ``spill`` in the workspace)."""
        d = Path(self.settings.analysis.spill_dir or "spill")
        return d if d.is_absolute() else self.path / d

    @property
    def raw(self) -> Any:
        """The underlying duckdb connection, for bulk Arrow writes."""
        return self.con.con

    def close(self) -> None:
        if self._con is not None:
            self._con.disconnect()
            self._con = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def secret(self) -> bytes:
        key = self.path / SECRET_FILE
        if not key.exists():
            raise WorkspaceError(f"{key} is missing: pseudonymous ids cannot be made without it")
        return key.read_bytes()

    def ensure_tables(self) -> None:
        existing = set(self.con.list_tables())
        for name, (sch, _pk) in schema.TABLES.items():
            if name not in existing:
                self.con.create_table(name, schema=ibis.Schema.from_pyarrow(sch))

    def table(self, name: str) -> ibis.Table:
        return self.con.table(name)

    def tables(self) -> list[str]:
        return sorted(self.con.list_tables())

    def write_table(self, name: str, data: pa.Table | Any, *, overwrite: bool = True) -> None:
        """Write a derived table (analysis results)."""
        self.con.create_table(name, data, overwrite=overwrite)

    # -- ingest ----------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        source: str = "auto",
        community: str | None = None,
        progress: Callable[[str, int, int | None], None] | None = None,
        open_reader: Callable[[Path, str, Sink], Reader] | None = None,
    ) -> list[IngestResult]:
        """Read exports into the workspace; one :class:`IngestResult` per path.

        Rows are deduplicated on their ids as each batch is added, so ingesting the same export again
        adds nothing and a newer export only adds what is new. ``open_reader(path, source, sink)``
        gives the reader of one export (by default the one detected or named, in this process; the
        web server's reads in a process of its own, ``covalue.web.reading``).
        """
        self.ensure_tables()
        results = []
        for p in paths:
            results.append(
                self._ingest_one(
                    Path(p), source=source, community=community, progress=progress, open_reader=open_reader
                )
            )
        return results

    def _ingest_one(
        self,
        path: Path,
        *,
        source: str,
        community: str | None,
        progress: Callable[[str, int, int | None], None] | None,
        open_reader: Callable[[Path, str, Sink], Reader] | None = None,
    ) -> IngestResult:
        started = datetime.now(UTC).replace(tzinfo=None)
        ingest_id = uuid.uuid4().hex[:16]
        result = IngestResult(ingest_id=ingest_id, paths=[str(path)], reader=source)
        raw = self.raw
        added = dict.fromkeys(schema.CONTENT_TABLES, 0)
        skip = SkipList.load(self)  # people who asked to be forgotten are not read back in
        if self._in_transaction:  # the caller's transaction makes it atomic already
            return self._read_export(
                path, result, added, skip, started, source, community, progress, open_reader=open_reader
            )
        # "running" is logged (committed) before a row is read: a killed process leaves a trace for
        # ``recover``. Rows wait in staging tables and reach the workspace's in one transaction at the
        # end, so readers on other cursors see none of the export until all of it is there
        self._log_ingest(result, started, community, running=True)
        staging.ACTIVE.add(ingest_id)
        stage = staging.Stage(raw, ingest_id)
        try:
            self._read_export(
                path, result, added, skip, started, source, community, progress, stage, open_reader
            )
            raw.execute("COMMIT")
        except BaseException as e:
            if self._in_transaction:
                raw.execute("ROLLBACK")
            self._in_transaction = False
            reason = f"nothing of it was kept: {type(e).__name__}: {e}"
            raw.execute(
                "UPDATE ingests SET status = 'failed', finished_at = ?, message = ? WHERE ingest_id = ?",
                [datetime.now(UTC).replace(tzinfo=None), reason[:4000], ingest_id],
            )
            raise
        finally:
            self._in_transaction = False
            staging.ACTIVE.discard(ingest_id)
            stage.drop()
        return result

    def _read_export(
        self,
        path: Path,
        result: IngestResult,
        added: dict[str, int],
        skip: SkipList,
        started: datetime,
        source: str,
        community: str | None,
        progress: Callable[[str, int, int | None], None] | None,
        stage: staging.Stage | None = None,
        open_reader: Callable[[Path, str, Sink], Reader] | None = None,
    ) -> IngestResult:
        """Read one export through its reader, then merge identities and log the ingest. Batches go
        to ``stage`` and reach the workspace's tables in a transaction this opens once the reader is
        done (the caller commits it); without a stage they are merged as they come, in the caller's
        transaction."""
        t0 = time.perf_counter()
        ingest_id = result.ingest_id
        raw = self.raw

        # each batch is staged or merged as it comes, so memory holds one batch, not the export
        def emit(table: str, batch: pa.Table) -> None:
            batch = skip.filter(table, batch)
            if stage is not None:
                stage.add(table, batch)
                return
            raw.register("_covalue_batch", batch)
            try:
                added[table] += staging.merge_new(raw, table, "_covalue_batch")
            finally:
                raw.unregister("_covalue_batch")

        label = path.name
        sink = Sink(
            secret=self.secret,
            ingest_id=ingest_id,
            emit=emit,
            community=community,
            batch_rows=self.settings.ingest.batch_rows,
            progress=(lambda done, total: progress(label, done, total)) if progress else None,
        )
        fatal: str | None = None
        try:
            if open_reader is not None:
                reader = open_reader(path, source, sink)
            else:
                reader_cls = detect(path) if source == "auto" else get_reader(source)
                reader = reader_cls(self.settings)
            result.reader = reader.name
            reader.read(path, sink)
        except ReaderError as e:
            fatal = str(e)
        except Exception as e:  # a reader bug must not lose what was read: keep it and say so
            fatal = f"{path}: unexpected {type(e).__name__} while reading: {e}"
        if fatal:
            sink.reject(
                f"{result.reader}:{path.name}" if result.reader != "auto" else "unknown", str(path), fatal
            )
            result.messages.append(fatal)
        sink.flush()
        if stage is not None:
            raw.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            for table, n in stage.merge().items():
                added[table] += n
        communities.apply(raw)  # spaces the user moved to another community stay there
        # people writing through a bridge account, in the sources this export holds
        relayed = relays.apply(raw, self.secret, skip, sorted(sink.sources))
        for table, n in relayed.added.items():  # the writers are rows this ingest added
            added[table] += n
        # replies a bridge wrote into the text, "(re @bob: ...)", answer the message they quote
        roles = models.load("roles", self.settings.model)
        quoted = bridge_replies.apply(raw, sorted(sink.sources), roles)
        named = text_mentions.apply(raw, sorted(sink.sources), roles)  # "@bob ..." in the text alone
        added["actions"] += named
        result.read = {t: n for t, n in sink.batches.counts.items() if t != "rejects"}
        result.rejects = sink.batches.counts["rejects"]
        result.sources = sorted(sink.sources)
        result.recovered = {
            name: sorted(s.recovered_senders) for name, s in sink.sources.items() if s.recovered_senders
        }
        result.messages.extend(sink.messages)
        if relayed.message():
            result.messages.append(relayed.message() or "")
        if quoted:
            result.messages.append(bridge_replies.message(quoted))
        if named:
            result.messages.append(text_mentions.message(named))
        if skip.total:
            result.skipped = skip.total
            result.messages.append(skip.message() or "")
        result.added = dict(added)
        try:  # accounts of one person across sources become one member (covalue.merge)
            result.messages.extend(merge.auto_merge(self).messages)
        except merge.MergeError as e:
            result.messages.append(f"identity merge skipped: {e}")
        if fatal and result.nothing_read:
            result.status = "failed"
        elif fatal or result.rejects:
            result.status = "partial"
        result.seconds = time.perf_counter() - t0
        self._log_ingest(result, started, community)
        return result

    def transaction(self) -> Any:
        """A block whose writes are committed at once, or not at all if it raises (ingests join it)."""
        return _Transaction(self)

    def _log_ingest(
        self, r: IngestResult, started: datetime, community: str | None, *, running: bool = False
    ) -> None:
        """The ingest's log row: ``running`` before reading, replaced by the outcome at the end."""
        row = {
            "ingest_id": r.ingest_id,
            "started_at": started,
            "finished_at": datetime.now(UTC).replace(tzinfo=None),
            "reader": r.reader,
            "paths": json.dumps(r.paths),
            "sources": json.dumps(r.sources),
            "community": community,
            # the recovered ids are kept so that `status` can count distinct people over many ingests
            "read_counts": json.dumps({**r.read, "recovered_ids": r.recovered} if r.recovered else r.read),
            "added_counts": json.dumps(r.added),
            "n_rejects": r.rejects,
            "status": "running" if running else r.status,
            "message": f"reading in process {os.getpid()}"
            if running
            else "\n".join(r.messages)[:4000] or None,
        }
        if running:
            row["finished_at"] = None
        batch = pa.Table.from_pylist([row], schema=schema.INGESTS)
        self.raw.execute("DELETE FROM ingests WHERE ingest_id = ?", [r.ingest_id])
        self.raw.register("_covalue_batch", batch)
        self.raw.execute("INSERT INTO ingests SELECT * FROM _covalue_batch")
        self.raw.unregister("_covalue_batch")

    def append(self, table: str, rows: pa.Table | Iterable[dict[str, Any]]) -> int:
        """Add canonical rows directly (synthetic organisations, tests), deduplicated like an ingest."""
        self.ensure_tables()
        sch = schema.TABLES[table][0]
        data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema=sch)
        return staging.merge_batch(self.raw, table, data.select(sch.names).cast(sch))

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counts per table, per source, per community and per kind/verb, and the rejects."""
        self.ensure_tables()
        q = self.raw.execute

        def rows(sql: str, *params: Any) -> list[tuple]:
            return q(sql, list(params)).fetchall()

        def one(sql: str, *params: Any) -> Any:
            return rows(sql, *params)[0][0]

        out: dict[str, Any] = {"workspace": str(self.path), "tables": {}}
        for t in schema.TABLES:
            out["tables"][t] = one(f'SELECT count(*) FROM "{t}"')
        recovered = self._recovered_senders()
        out["sources"] = {}
        for (src,) in rows(
            "SELECT DISTINCT source FROM identities UNION SELECT DISTINCT source FROM items "
            "UNION SELECT DISTINCT source FROM actions ORDER BY 1"
        ):
            if src is None:
                continue
            out["sources"][src] = {
                "members": one("SELECT count(*) FROM members WHERE source = ?", src),
                "items": dict(
                    rows("SELECT kind, count(*) FROM items WHERE source = ? GROUP BY 1 ORDER BY 1", src)
                ),
                "actions": dict(
                    rows("SELECT verb, count(*) FROM actions WHERE source = ? GROUP BY 1 ORDER BY 1", src)
                ),
                "bots": one("SELECT count(*) FROM identities WHERE source = ? AND is_bot", src),
                "senders_recovered": len(recovered.get(src, ())),
            }
        out["communities"] = {}
        for cid, name in rows("SELECT community_id, name FROM communities ORDER BY 1"):
            n_items, authors, first, last = rows(
                "SELECT count(*), count(DISTINCT author_id), min(created_at), max(created_at) "
                "FROM items WHERE community_id = ?",
                cid,
            )[0]
            out["communities"][cid] = {
                "name": name,
                "spaces": one("SELECT count(*) FROM spaces WHERE community_id = ?", cid),
                "items": n_items,
                "actions": one("SELECT count(*) FROM actions WHERE community_id = ?", cid),
                "authors": authors,
                "first": _iso(first),
                "last": _iso(last),
            }
        out["items_by_kind"] = dict(rows("SELECT kind, count(*) FROM items GROUP BY 1 ORDER BY 1"))
        out["actions_by_verb"] = dict(rows("SELECT verb, count(*) FROM actions GROUP BY 1 ORDER BY 1"))
        out["rejects"] = [
            {"source": s, "reason": r, "count": n, "example_location": loc}
            for s, r, n, loc in rows(
                "SELECT source, reason, count(*), min(location) FROM rejects GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
            )
        ]
        return out

    def _recovered_senders(self) -> dict[str, set[str]]:
        """Per source, the distinct people that any ingest recovered from a list-rewritten From (an
        export read twice, or two months of the same list, count each person once)."""
        out: dict[str, set[str]] = {}
        for (counts,) in self.raw.execute(
            "SELECT read_counts FROM ingests WHERE read_counts LIKE '%recovered_ids%'"
        ).fetchall():
            try:
                by_source = json.loads(counts).get("recovered_ids") or {}
            except (ValueError, AttributeError):
                continue
            for src, ids in by_source.items():
                out.setdefault(src, set()).update(ids)
        return out

    # -- housekeeping ----------------------------------------------------------------------------
    def scratch_dir(self) -> Path:
        """A temporary folder inside the workspace (same disk as the data) for unpacking archives."""
        d = self.path / "tmp"
        d.mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(dir=d))

    def remove_scratch(self) -> None:
        shutil.rmtree(self.path / "tmp", ignore_errors=True)

    # -- value maturity (the work is in covalue.journey) ----------------------------------------
    def analyze(self, **kwargs: Any) -> Any:
        """Run the Value Maturity analysis and write its derived tables; see covalue.journey.analyze."""
        from covalue import journey

        return journey.analyze(self, **kwargs)

    def stages(self, community: str | None = None, period: str | None = None) -> ibis.Table:
        """Member stages per community and period (analysing first if needed), as an Ibis table."""
        from covalue import journey

        return journey.stages(self, community=community, period=period)

    def journeys(self, community: str | None = None, period: str | None = None) -> ibis.Table:
        """Members' moves between consecutive periods (new, moved up, stayed, dropped, left)."""
        from covalue import journey

        return journey.journeys(self, community=community, period=period)

    def explain(self, member: str, community: str | None = None, period: str | None = None) -> dict[str, Any]:
        """Why a member is at their stage: numbers, reasons in plain words and example items."""
        from covalue import journey

        return journey.explain(self, member, community=community, period=period)


class _Transaction:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.outer = False

    def __enter__(self) -> Workspace:
        if not self.ws._in_transaction:
            self.ws.raw.execute("BEGIN TRANSACTION")
            self.ws._in_transaction = self.outer = True
        return self.ws

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if not self.outer:
            return
        self.ws._in_transaction = False
        self.ws.raw.execute("ROLLBACK" if kind is not None else "COMMIT")


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None
