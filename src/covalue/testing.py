"""Helpers for testing readers, report sections and the web site, for covalue's tests and for plugin authors.

A reader author checks a reader in two ways: without a database, by collecting the rows it hands the sink
(:func:`collect`), and end to end, by ingesting into a fresh workspace (:func:`ingest_into`)::

    from covalue.testing import collect

    def test_my_forum(tmp_path):
        got = collect(MyForumReader(), tmp_path / "export.json")
        assert got.counts()["items"] == 12
        assert got.rows("rejects") == []
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from covalue import schema
from covalue.sources.base import Reader, ReaderError, Sink

#: a fixed pseudonymisation key, so that ids in a test are the same on every run
TEST_SECRET = b"covalue-test-key" * 2


@dataclass
class Collected:
    """What a reader handed its sink: plain rows per table, the warnings, and the sink itself."""

    tables: defaultdict[str, list[dict[str, Any]]]
    sink: Sink
    messages: list[str] = field(default_factory=list)
    #: the ReaderError that stopped the reader, when :func:`collect` was asked to keep it
    error: ReaderError | None = None

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.tables[table]

    def counts(self) -> dict[str, int]:
        """Rows per content table (rejects included), zero for tables the reader left empty."""
        return {t: len(self.tables[t]) for t in schema.CONTENT_TABLES}


def collect(
    reader: Reader,
    path: Path,
    *,
    community: str | None = None,
    secret: bytes = TEST_SECRET,
    batch_rows: int = 50_000,
    keep_error: bool = False,
) -> Collected:
    """Run ``reader`` over ``path`` without a workspace and keep every row it writes.

    A :class:`~covalue.sources.ReaderError` propagates, unless ``keep_error``: then it is kept in
    :attr:`Collected.error` with the rows written before it (as an ingest keeps them)."""
    batches: defaultdict[str, list[pa.Table]] = defaultdict(list)
    sink = Sink(
        secret=secret,
        ingest_id="test",
        emit=lambda table, batch: batches[table].append(batch),
        community=community,
        batch_rows=batch_rows,
    )
    error = None
    try:
        reader.read(path, sink)
    except ReaderError as e:
        if not keep_error:
            raise
        error = e
    sink.flush()
    tables: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for table, bs in batches.items():
        tables[table] = [r for b in bs for r in b.to_pylist()]
    return Collected(tables=tables, sink=sink, messages=sink.messages, error=error)


@dataclass
class Ingested:
    """One ingest into a fresh workspace: rows read per table, rejects, and the rows kept."""

    reader: str
    status: str
    read: dict[str, int]
    rejects: int
    sources: list[str]
    stored: dict[str, int]
    messages: list[str]


def ingest_into(
    path: Path, workspace: Path, *, source: str = "auto", community: str | None = None
) -> Ingested:
    """Ingest ``path`` into a new workspace at ``workspace`` (the way ``covalue ingest`` does, reader
    detection included) and report what was read and what the workspace now holds."""
    import covalue

    ws = covalue.init(workspace)
    try:
        (result,) = ws.ingest([path], source=source, community=community)
        stored = {t: int(ws.table(t).count().execute()) for t in schema.CONTENT_TABLES}
    finally:
        ws.close()
    return Ingested(
        reader=result.reader,
        status=result.status,
        read=dict(result.read),
        rejects=result.rejects,
        sources=list(result.sources),
        stored=stored,
        messages=list(result.messages),
    )


# -- the web site ---------------------------------------------------------------------------------------
@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free loopback port; yields its base URL."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from covalue.web.app import KEEP_ALIVE_SECONDS

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    srv = uvicorn.Server(config)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(timeout=30)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_process(ws: Path, *, timeout: float = 90) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``covalue serve`` on ``ws`` as a process of its own (the workspace's own store, whatever
    ``COVALUE_DATABASE_URL`` says), once ``/login`` answers: the process and its base URL. Stopped at
    the end if still alive; RuntimeError with the server's last words if it does not start."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "COVALUE_DATABASE_URL"}
    covalue_cmd = str(Path(sys.executable).parent / "covalue")
    proc = subprocess.Popen(
        [covalue_cmd, "serve", "-w", str(ws), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the server did not start: {err[-2000:]}")
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


def synthetic_site(
    path: Path,
    email: str,
    password: str,
    *,
    role: str = "manager",
    community: str = "healthy",
    others: tuple[tuple[str, str, str], ...] = (),
) -> Path:
    """A workspace holding the analysed default synthetic organisation and one account, for web tests;
    ``others`` adds more accounts as (email, role, community), all with ``password``."""
    import covalue
    from covalue import journey, synth
    from covalue.store import Store
    from covalue.store import accounts as acc

    ws = covalue.init(path)
    synth.generate().write(ws)
    journey.analyze(ws)
    ws.close()
    st = Store.open(path)
    with st.session() as db:
        for e, r, c in ((email, role, community), *others):
            acc.add_user(db, e, r, community=c, password=password)
    st.dispose()
    return path


def sign_in(client: Any, email: str, password: str) -> str:
    """Sign ``client`` (a FastAPI TestClient) in through the sign-in form, as a browser would, and return
    the session's CSRF token for API calls."""
    import re

    client.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303, f"sign-in as {email} refused: {r.status_code}"
    return client.get("/api/me").json()["csrf_token"]
