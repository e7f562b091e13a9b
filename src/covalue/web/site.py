"""The server's shared state: the workspace, the store, the snapshot of results that pages are drawn
from, and the one background worker that writes: it ingests uploads and runs the analyses asked for.

DuckDB lets one process write a workspace file; the web server is that process. Reads never wait on
writes: each person-level query gets its own cursor (``reader()``), which sees the last committed state
(DuckDB's MVCC), while the worker writes on a cursor of its own and holds ``write_lock``. An ingest is
one transaction, so a reader sees none of an export or all of it. Pages mostly read an in-memory
snapshot of the analysis (``Snapshot``), rebuilt after each ingest or analysis. Person-level queries
that miss the snapshot take one of a few slots (``Limits.person_slots``); when all are taken the
request is answered 503 with Retry-After at once, so slow pages cannot take every server thread.

``lock`` still guards ``ws`` (the main connection) for the short queries some views run on it; the
worker never holds it. Run no other writer (``covalue ingest``) on the workspace while serving.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
import queue
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covalue import headline, journey, models, privacy, stages
from covalue.report.display import prepare
from covalue.report.facts import CommunityFacts, ReportFacts, gather, made_now
from covalue.store import Job, Store, jobs, utcnow
from covalue.web.reading import ReadingProcesses
from covalue.workspace import Workspace

log = logging.getLogger(__name__)

#: parts of a community's facts that name or single out people; only roles with "people" see them
PERSON_LEVEL_CHARTS = ("network",)
#: seconds a query kept with the snapshot (a community's people, spaces, a headline) waits for a slot:
#: there is one such query per page and snapshot, so waiting cannot take many threads
KEPT_WAIT = 20.0


@dataclass
class Snapshot:
    """The analysis results as the pages show them, per community id."""

    communities: dict[str, CommunityFacts] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    built_at: float = 0.0
    #: community id -> members at its latest period, filled when first asked for
    people: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (community, period, space) -> headline as asked for by a period picker or a space filter
    headlines: dict[tuple[str, str | None, str | None], dict[str, Any]] = field(default_factory=dict)
    #: community id -> its spaces (channels, categories, streams, tags) with items
    spaces: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: the report's facts as gathered, before display: the report download starts from a copy, so it
    #: reads the same state as the pages and does not gather again (seconds) on every download
    gathered: ReportFacts | None = None


def build_snapshot(ws: Workspace) -> Snapshot:
    """Gather the facts and prepare them for display as the report does (``covalue.report.display``):
    each verdict and chart is guarded there, so one that fails costs itself, not the page."""
    snap = Snapshot(built_at=time.time())
    names = dict(ws.raw.execute("SELECT community_id, name FROM communities ORDER BY 1").fetchall())
    snap.names = {k: v or k for k, v in names.items()}
    has_data = (
        ws.raw.execute("SELECT count(*) FROM items").fetchone()[0]
        or ws.raw.execute("SELECT count(*) FROM actions").fetchone()[0]
    )
    if not has_data:
        return snap
    facts = gather(ws)
    snap.gathered = copy.deepcopy(facts)
    prepare(facts, coaching_model=models.load("coaching", ws.settings.model))
    snap.coverage = facts.get("coverage") or {}
    snap.errors = list(facts.get("errors") or [])
    snap.communities = {c["id"]: c for c in facts["communities"]}
    return snap


@dataclass
class Limits:
    max_upload_bytes: int = 2_000_000_000
    secure_cookies: bool | None = None  # None: Secure when the request came over https
    #: person-level queries running at once (each holds a server thread while it runs); their Python
    #: work takes turns on the interpreter lock anyway, so more slots add little but the wait they
    #: put on the event loop (the sign-in page, static files)
    person_slots: int = 2
    #: signed-in requests drawn at once (``covalue.web.turns``); the rest wait in the event loop
    page_turns: int = 4
    #: requests waiting at once for an analysis they asked for
    analysis_waiters: int = 4
    #: how long an analysis request waits for its result before it is told to look again later
    analysis_wait_seconds: float = 600.0


class Busy(Exception):
    """Too many requests of one slow kind are running; the client should ask again after
    ``retry_after`` seconds (answered as 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass
class _WriterBench:
    """The worker's side of the site, as the canvas services want it: the writer's workspace, the
    writer's lock, the store, the members and the redraw."""

    ws: Workspace
    lock: Any
    store: Store
    site: Site
    #: a redraw was asked for; the worker redraws once its transaction has committed
    redraw: bool = False

    def people(self, cid: str, *, names: bool) -> list[dict[str, Any]]:
        return self.site.people(cid, names=names)

    def refresh(self) -> None:
        # a snapshot read now, inside the worker's open transaction, would show the state from before
        # this very analysis (readers see committed rows only): :meth:`Site._run_analysis` redraws after
        self.redraw = True


class Site:
    """Everything a request handler needs, created once per app."""

    def __init__(self, ws_path: Path, store: Store, limits: Limits | None = None) -> None:
        self.ws_path = Path(ws_path)
        self.ws = Workspace(self.ws_path)
        self.ws.ensure_tables()
        # the shared snapshot is built with pseudonyms only; names are put in per request, for the
        # roles allowed to see them, when the workspace allows names at all
        self.show_names = self.ws.settings.privacy.show_names
        self.ws.settings.privacy.show_names = False
        self.store = store
        self.limits = limits or Limits()
        #: guards ``ws`` (the main connection) for short queries; the writer never holds it
        self.lock = threading.RLock()
        #: held by whoever writes the workspace: the worker, for a whole ingest or analysis
        self.write_lock = threading.RLock()
        # cursors are opened from a connection no query runs on, so opening one never waits
        self._root = self.ws.raw.cursor()
        self._root_lock = threading.Lock()
        self._person_slots = threading.BoundedSemaphore(max(1, self.limits.person_slots))
        self._analysis_waiters = threading.BoundedSemaphore(max(1, self.limits.analysis_waiters))
        self._flights: dict[tuple[int, Any], threading.Event] = {}
        self._flights_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._snap_lock = threading.Lock()
        self.key = hmac.new(self.ws.secret, b"covalue web cookies", hashlib.sha256).digest()
        #: the one-time token of the first-run set-up page (only while there is no account)
        self.setup_token = secrets.token_urlsafe(16)
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        #: community id -> the analysis queued for it and not yet started (a second ask joins it)
        self._analyses: dict[str, Future[dict[str, Any]]] = {}
        self._analyses_lock = threading.Lock()
        self._cap_memory()
        #: uploads are parsed in a child process each (Python work there takes no time from pages);
        #: the worker writes what it hands over
        self.reading = ReadingProcesses(self.ws.settings)
        self._stopping = threading.Event()
        self._recover_jobs()
        # person-level pages (a member's journey, the report download) are Python work in request
        # threads, up to ``person_slots`` at once; a shorter switch interval than the default 5 ms
        # lets the event loop (sign-in page, static files) take the interpreter lock between them
        # (slowest /login 6.7 s without it, on a loaded machine, with 60 such requests kept open)
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self._worker = threading.Thread(target=self._work, name="covalue-jobs", daemon=True)
        self._worker.start()

    def reconnected(self) -> None:
        """New cursors for readers and the worker once the workspace's connection was reopened:
        forgetting a person or the daily prune compacts the database file, which closes it. Taken
        under the write lock, so no ingest is writing meanwhile."""
        with self.write_lock, self._root_lock:
            self._cap_memory()
            self._root = self.ws.raw.cursor()
            self.writer = self.ws.cursor(self._root)

    def _cap_memory(self) -> None:
        """DuckDB's memory cap while serving (``[web] memory_limit``), for the whole database: the
        server's readers, ingests and analyses share it, and spill to disk beyond it."""
        self.ws.memory_cap = self.ws.settings.web.memory_limit  # the analyses it runs keep to it too
        self.ws.fit_memory()

    # -- reading -------------------------------------------------------------------------------------
    @contextmanager
    def reader(self) -> Iterator[Workspace]:
        """A view of the workspace on a cursor of its own, for one request: it sees the last
        committed state and never waits for the writer."""
        with self._root_lock:
            view = self.ws.cursor(self._root)
        try:
            yield view
        finally:
            view.close()

    @contextmanager
    def person_query(self, wait: float = 0.0) -> Iterator[Workspace]:
        """A reader for a person-level query, in one of the few slots such queries may hold; none
        free within ``wait`` seconds: :class:`Busy` (a request waiting for a slot holds a server
        thread, so only queries kept with the snapshot, one per page, wait at all)."""
        got = self._person_slots.acquire(timeout=wait) if wait > 0 else self._person_slots.acquire(False)
        if not got:
            raise Busy("Many people are looking at member pages right now; try again in a few seconds.")
        try:
            with self.reader() as ws:
                yield ws
        finally:
            self._person_slots.release()

    # -- snapshot ------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is not None:
            return snap
        with self._snap_lock:
            if self._snapshot is None:
                self.refresh()
            assert self._snapshot is not None
            return self._snapshot

    def refresh(self) -> Snapshot:
        """Build the snapshot again from the last committed state (after an ingest or analysis)."""
        with self.reader() as ws:
            try:
                snap = build_snapshot(ws)
            except Exception as e:  # the pages then say what failed instead of erroring
                log.exception("web: building the results failed")
                snap = Snapshot(
                    built_at=time.time(), errors=[f"results could not be built: {type(e).__name__}: {e}"]
                )
                snap.names = dict(ws.raw.execute("SELECT community_id, name FROM communities").fetchall())
        self._snapshot = snap
        return snap

    # -- person-level queries (each on its own cursor, in a bounded number of slots) ------------------
    def people(self, cid: str, *, names: bool) -> list[dict[str, Any]]:
        """Members of a community at its latest period: stage, persona and activity, with labels
        (kept with the snapshot once asked for, so a busy people page does not queue on the lock)."""
        snap = self.snapshot()
        c = snap.communities.get(cid)
        if c is None:
            return []

        def compute() -> list[dict[str, Any]]:
            with self.person_query(wait=KEPT_WAIT) as ws:
                t = journey.stages(ws, community=cid, period=c["period"])
                rows = (
                    t.select("member_id", "stage", "persona", "n_interactions", "n_items", "responders")
                    .to_pyarrow()
                    .to_pylist()
                )
            # highest stage first, the busiest members first within a stage
            rows.sort(
                key=lambda r: (-stages.rank(r["stage"]), -int(r["n_interactions"] or 0), r["member_id"])
            )
            return rows

        rows = self._kept(snap.people, cid, compute)
        labels = self.labels([r["member_id"] for r in rows], names=names)
        return [{**r, "label": labels.get(r["member_id"], privacy.pseudonym(r["member_id"]))} for r in rows]

    def headline(self, cid: str, *, period: str | None = None, space: str | None = None) -> dict[str, Any]:
        """The value headline of a community at ``period`` (its default month when None), for one of
        its spaces when ``space`` is set; the snapshot's own when neither is asked for, so the page
        shows what the report shows. Kept with the snapshot once computed."""
        snap = self.snapshot()
        c = snap.communities.get(cid)
        if c is not None and c.get("headline") and space is None and period in (None, c["period"]):
            return c["headline"]
        key = (cid, period or (c["period"] if c else None), space)

        def compute() -> dict[str, Any]:
            with self.person_query(wait=KEPT_WAIT) as ws:
                heads = headline.for_workspace(ws, community=cid, period=key[1], space=space)
            if cid not in heads:
                raise LookupError(f"no headline for {cid!r} at {key[1]}")
            return heads[cid].to_dict()

        return self._kept(snap.headlines, key, compute)

    def spaces(self, cid: str) -> list[dict[str, Any]]:
        """The spaces of a community that hold items, largest first: ``space_id``, ``name``, ``kind``,
        ``n_items``."""

        def compute() -> list[dict[str, Any]]:
            with self.person_query(wait=KEPT_WAIT) as ws:
                return [
                    {"space_id": r[0], "name": r[1], "kind": r[2], "n_items": int(r[3])}
                    for r in ws.raw.execute(
                        "SELECT s.space_id, coalesce(s.name, s.space_id), s.kind, count(i.item_id) AS n "
                        "FROM spaces s JOIN items i ON i.space_id = s.space_id "
                        "WHERE s.community_id = ? GROUP BY 1, 2, 3 ORDER BY n DESC, 2",
                        [cid],
                    ).fetchall()
                ]

        return self._kept(self.snapshot().spaces, cid, compute)

    def _kept(self, cache: dict[Any, Any], key: Any, compute: Any) -> Any:
        """``cache[key]``, computed once when missing: requests asking for the same missing key
        meanwhile wait for that one computation (a new snapshot's first people page, asked by many
        at once, is one query and takes one slot)."""
        found = cache.get(key)
        if found is not None:
            return found
        flight = (id(cache), key)
        with self._flights_lock:
            done = self._flights.get(flight)
            mine = done is None
            if mine:
                done = self._flights[flight] = threading.Event()
        if not mine:
            done.wait(timeout=60)
            found = cache.get(key)
            if found is None:
                raise Busy("This page is still being prepared; try again in a few seconds.")
            return found
        try:
            found = cache[key] = compute()
            return found
        finally:
            with self._flights_lock:
                self._flights.pop(flight, None)
            done.set()

    def report_html(self, cids: list[str]) -> str:
        """The value report of ``cids`` (the communities the reader may see), as ``covalue report``
        writes it: same facts, same sections, pseudonyms (names are never put into a download). The
        facts are the snapshot's; the sections (canvases, stories, which change without a new
        snapshot) are read afresh."""
        from covalue.report.build import render
        from covalue.report.sections import add_sections

        kept = self.snapshot().gathered
        with self.person_query() as ws:
            facts = copy.deepcopy(kept) if kept is not None else gather(ws)
            facts["generated"] = made_now()
            facts["communities"] = [c for c in facts["communities"] if c["id"] in set(cids)]
            prepare(facts, coaching_model=models.load("coaching", ws.settings.model))
            add_sections(ws, facts)
        return render(facts)

    def explain(self, member_id: str, cid: str | None = None) -> dict[str, Any] | None:
        """Why a member is where they are, in each community at the month the pages show (the
        snapshot's), or only in ``cid``; None for no such member."""
        shown = {c: f["period"] for c, f in self.snapshot().communities.items() if f.get("period")}
        with self.person_query() as ws:
            try:
                return journey.explain(ws, member_id, community=cid, defaults=shown)
            except LookupError:
                return None

    def labels(self, member_ids: list[str], *, names: bool) -> dict[str, str]:
        """Labels to show: names only when ``names`` (the viewer's role) and the workspace allow."""
        if not (names and self.show_names):
            return {m: privacy.pseudonym(m) for m in member_ids if m}
        with self.reader() as ws:
            return privacy.labels(ws, member_ids, allow_names=True)

    def label(self, member_id: str, *, names: bool) -> str:
        return self.labels([member_id], names=names).get(member_id, privacy.pseudonym(member_id))

    def status(self) -> dict[str, Any]:
        with self.reader() as ws:
            return ws.status()

    # -- the writer: uploads and analyses, one at a time -----------------------------------------------
    def submit(self, job_id: str) -> None:
        """Queue an uploaded export's job for the worker."""
        self._queue.put(("upload", job_id))

    def analyse(self, cid: str) -> dict[str, Any]:
        """Write the canvas's experiments and analyse again, in the worker, and wait for it. An
        analysis already queued for ``cid`` and not yet started is joined rather than queued twice;
        too many requests waiting already: :class:`Busy`."""
        if not self._analysis_waiters.acquire(blocking=False):
            raise Busy("An analysis is already on its way; look again in a minute.", retry_after=30)
        try:
            with self._analyses_lock:
                fut = self._analyses.get(cid)
                if fut is None:
                    fut = self._analyses[cid] = Future()
                    self._queue.put(("analyse", cid))
            try:
                return fut.result(timeout=self.limits.analysis_wait_seconds)
            except TimeoutError:
                raise Busy("The analysis is still running; look again in a minute.", retry_after=60) from None
        finally:
            self._analysis_waiters.release()

    def _work(self) -> None:
        # the worker's own cursor: everything it writes is committed for readers to see
        with self._root_lock:
            self.writer = self.ws.cursor(self._root)
        try:
            while True:
                task = self._queue.get()
                if task is None or self._stopping.is_set():
                    return  # queued uploads stay queued: the next start takes them up
                kind, arg = task
                if kind == "upload":
                    self._run_upload(arg)
                else:
                    self._run_analysis(arg)
        finally:
            self.writer.close()

    def _run_upload(self, job_id: str) -> None:
        try:
            from covalue.web.uploads import run_job

            run_job(self, job_id)
        except Exception as e:  # the worker must survive one bad job
            log.exception("web: job %s failed", job_id)
            with self.store.session() as db:
                job = db.get(Job, job_id)
                if job is not None:
                    job.state, job.error, job.finished_at = "failed", f"{type(e).__name__}: {e}", utcnow()

    def _run_analysis(self, cid: str) -> None:
        with self._analyses_lock:  # from now on a new ask queues a new run: it may have new rows
            fut = self._analyses.pop(cid)
        if not fut.set_running_or_notify_cancel():
            return
        from covalue.canvas import collaboration_service as svc

        bench = _WriterBench(ws=self.writer, lock=self.write_lock, store=self.store, site=self)
        try:
            with self.write_lock:
                out = journey.in_one_transaction(self.writer, lambda: svc.sync_and_analyse(bench, rerun=True))
        except Exception as e:
            log.exception("web: the analysis asked for %s failed", cid)
            fut.set_exception(e)
        else:
            if bench.redraw:
                self.refresh()  # committed: the pages show this analysis before its asker is answered
            fut.set_result(out)

    def _recover_jobs(self) -> None:
        """At start: jobs a stopped server left running are failed and their files removed (their
        ingest was rolled back when the workspace was opened); queued ones are taken up again."""
        with self.store.session() as db:
            failed, waiting = jobs.interrupted(db)
        for job_id in failed:
            log.warning("web: job %s was stopped with the server; marked failed", job_id)
        keep = set(waiting)
        d = self.ws_path / "uploads"
        if d.is_dir():
            for p in d.iterdir():
                if p.name not in keep:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        for job_id in waiting:
            self.submit(job_id)

    def close(self) -> None:
        self._stopping.set()
        self.reading.stop()  # an upload being read fails at once, plainly, rather than outlive us
        self._queue.put(None)
        self._worker.join(timeout=10)
        if self._worker.is_alive():
            # an analysis or a merge is running: interrupt its query (its transaction rolls back and
            # the job says it failed), or closing the database would wait for it, for many minutes
            try:
                self.writer.raw.interrupt()
            except Exception:
                log.exception("web: the running job could not be interrupted")
            self._worker.join(timeout=20)
        with self.lock:
            self._root.close()
            self.ws.close()
        self.store.dispose()

    def upload_dir(self) -> Path:
        d = self.ws_path / "uploads"
        d.mkdir(exist_ok=True)
        return d

    def discard_upload(self, job_id: str) -> None:
        shutil.rmtree(self.upload_dir() / job_id, ignore_errors=True)
