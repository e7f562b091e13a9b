"""The server's shared state: the workspace, the store, a lock around DuckDB, the snapshot of results
that pages are drawn from, and the background worker that ingests uploads and re-runs the analysis.

DuckDB lets one process write a workspace file; the web server is that process. It keeps one
workspace connection and serialises every use of it with ``lock`` (an ibis/duckdb connection is not
safe to share between threads). Pages do not query DuckDB on each request: they read an in-memory
snapshot of the analysis (``Snapshot``), rebuilt after each ingest, so browsing stays fast while a long
ingest holds the lock. Person-level pages (people, a member's journey) query under the lock and wait
for a running ingest to finish. Run no other writer (``covalue ingest``) on the workspace while serving.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covalue import headline, journey, models, privacy, stages
from covalue.report.display import prepare
from covalue.report.facts import CommunityFacts, gather
from covalue.store import Job, Store, utcnow
from covalue.workspace import Workspace

log = logging.getLogger(__name__)

#: parts of a community's facts that name or single out people; only roles with "people" see them
PERSON_LEVEL_CHARTS = ("network",)


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
    facts = prepare(gather(ws), coaching_model=models.load("coaching", ws.settings.model))
    snap.coverage = facts.get("coverage") or {}
    snap.errors = list(facts.get("errors") or [])
    snap.communities = {c["id"]: c for c in facts["communities"]}
    return snap


@dataclass
class Limits:
    max_upload_bytes: int = 2_000_000_000
    secure_cookies: bool | None = None  # None: Secure when the request came over https


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
        self.lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._snap_lock = threading.Lock()
        self.key = hmac.new(self.ws.secret, b"covalue web cookies", hashlib.sha256).digest()
        #: the one-time token of the first-run set-up page (only while there is no account)
        self.setup_token = secrets.token_urlsafe(16)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="covalue-jobs", daemon=True)
        self._worker.start()

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
        with self.lock:
            try:
                snap = build_snapshot(self.ws)
            except Exception as e:  # the pages then say what failed instead of erroring
                log.exception("web: building the results failed")
                snap = Snapshot(
                    built_at=time.time(), errors=[f"results could not be built: {type(e).__name__}: {e}"]
                )
                snap.names = dict(
                    self.ws.raw.execute("SELECT community_id, name FROM communities").fetchall()
                )
        self._snapshot = snap
        return snap

    # -- person-level queries (under the lock) -------------------------------------------------------
    def people(self, cid: str, *, names: bool) -> list[dict[str, Any]]:
        """Members of a community at its latest period: stage, persona and activity, with labels
        (kept with the snapshot once asked for, so a busy people page does not queue on the lock)."""
        snap = self.snapshot()
        c = snap.communities.get(cid)
        if c is None:
            return []
        rows = snap.people.get(cid)
        if rows is None:
            with self.lock:
                t = journey.stages(self.ws, community=cid, period=c["period"])
                rows = (
                    t.select("member_id", "stage", "persona", "n_interactions", "n_items", "responders")
                    .to_pyarrow()
                    .to_pylist()
                )
            # highest stage first, the busiest members first within a stage
            rows.sort(
                key=lambda r: (-stages.rank(r["stage"]), -int(r["n_interactions"] or 0), r["member_id"])
            )
            snap.people[cid] = rows
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
        found = snap.headlines.get(key)
        if found is None:
            with self.lock:
                heads = headline.for_workspace(self.ws, community=cid, period=key[1], space=space)
            if cid not in heads:
                raise LookupError(f"no headline for {cid!r} at {key[1]}")
            found = snap.headlines[key] = heads[cid].to_dict()
        return found

    def spaces(self, cid: str) -> list[dict[str, Any]]:
        """The spaces of a community that hold items, largest first: ``space_id``, ``name``, ``kind``,
        ``n_items``."""
        snap = self.snapshot()
        rows = snap.spaces.get(cid)
        if rows is None:
            with self.lock:
                rows = [
                    {"space_id": r[0], "name": r[1], "kind": r[2], "n_items": int(r[3])}
                    for r in self.ws.raw.execute(
                        "SELECT s.space_id, coalesce(s.name, s.space_id), s.kind, count(i.item_id) AS n "
                        "FROM spaces s JOIN items i ON i.space_id = s.space_id "
                        "WHERE s.community_id = ? GROUP BY 1, 2, 3 ORDER BY n DESC, 2",
                        [cid],
                    ).fetchall()
                ]
            snap.spaces[cid] = rows
        return rows

    def report_html(self, cids: list[str]) -> str:
        """The value report of ``cids`` (the communities the reader may see), as ``covalue report``
        writes it: same facts, same sections, pseudonyms (names are never put into a download)."""
        from covalue.report.build import render
        from covalue.report.sections import add_sections

        with self.lock:
            facts = gather(self.ws)
            facts["communities"] = [c for c in facts["communities"] if c["id"] in set(cids)]
            prepare(facts, coaching_model=models.load("coaching", self.ws.settings.model))
            add_sections(self.ws, facts)
        return render(facts)

    def explain(self, member_id: str, cid: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            try:
                return journey.explain(self.ws, member_id, community=cid)
            except LookupError:
                return None

    def labels(self, member_ids: list[str], *, names: bool) -> dict[str, str]:
        """Labels to show: names only when ``names`` (the viewer's role) and the workspace allow."""
        if not (names and self.show_names):
            return {m: privacy.pseudonym(m) for m in member_ids if m}
        with self.lock:
            return privacy.labels(self.ws, member_ids, allow_names=True)

    def label(self, member_id: str, *, names: bool) -> str:
        return self.labels([member_id], names=names).get(member_id, privacy.pseudonym(member_id))

    def status(self) -> dict[str, Any]:
        with self.lock:
            return self.ws.status()

    # -- jobs ----------------------------------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                from covalue.web.uploads import run_job

                run_job(self, job_id)
            except Exception as e:  # the worker must survive one bad job
                log.exception("web: job %s failed", job_id)
                with self.store.session() as db:
                    job = db.get(Job, job_id)
                    if job is not None:
                        job.state, job.error, job.finished_at = "failed", f"{type(e).__name__}: {e}", utcnow()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)
        with self.lock:
            self.ws.close()
        self.store.dispose()

    def upload_dir(self) -> Path:
        d = self.ws_path / "uploads"
        d.mkdir(exist_ok=True)
        return d

    def discard_upload(self, job_id: str) -> None:
        shutil.rmtree(self.upload_dir() / job_id, ignore_errors=True)
