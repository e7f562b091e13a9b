"""The web app under load: 50 signed-in users browsing community pages at once for 60 s against
``covalue serve`` on 127.0.0.1 (the synthetic organisation: 6 communities). Prints the p95 and median
latency, the throughput and the errors (which must be none); the server's peak memory is in the note.

Users are the admin and managers of each community; each loops over the portfolio, a community's
overview, journey, health, content and people pages and the API's community list, with no pause.
Client and server share the machine, so the figures are a floor for a server of its own.

"web-under-ingest" is the same browsing while the admin uploads the Komodo Discord archive (704,597
messages) and the server ingests and analyses it: the pages must keep answering (0 errors) from the
last committed state; it prints the p95 per page, the server's peak memory, and the p95 of ``/login``
and a static file asked by one more visitor at a steady pace (these must stay under 200 ms however busy
the signed-in pages are).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.registry import Figure, Skip, measurement
from covalue.testing import serve_process

USERS = 50
PASSWORD = "load test password"
DISCORD = Path(__file__).resolve().parents[2] / "shared" / "data" / "discord" / "komodo-discord-csv.tar.gz"


def _prepare(path: Path) -> list[tuple[str, str | None]]:
    """The analysed synthetic organisation and its accounts: (email, community or None for admin)."""
    import covalue
    from covalue import journey, synth
    from covalue.store import Store
    from covalue.store import accounts as acc

    ws = covalue.init(path)
    synth.generate().write(ws)
    journey.analyze(ws)
    cids = [c for (c,) in ws.raw.execute("SELECT community_id FROM communities ORDER BY 1").fetchall()]
    ws.close()
    store = Store.open(path)
    users: list[tuple[str, str | None]] = []
    with store.session() as db:
        acc.add_user(db, "admin@load.test", "admin", password=PASSWORD)
        users.append(("admin@load.test", None))
        for cid in cids:
            email = f"manager-{cid}@load.test"
            acc.add_user(db, email, "manager", community=cid, password=PASSWORD)
            users.append((email, cid))
    store.dispose()
    return users


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def _load(
    base: str,
    users: list[tuple[str, str | None]],
    seconds: float,
    until: threading.Event | None = None,
    signed_in: Callable[[], None] | None = None,
    starts: list[float] | None = None,
) -> tuple[list[float], dict[str, list[float]], list[str]]:
    """Each user signs in and browses until ``seconds`` have passed (or ``until`` is set);
    ``signed_in`` is called once every user has signed in (the clock of a timed load starts then);
    ``starts`` receives the monotonic time each request began, in the order of the latencies."""
    import httpx

    latencies: list[float] = []
    by_page: dict[str, list[float]] = {}
    errors: list[str] = []
    stop = time.monotonic() + seconds
    ready = asyncio.Event()
    arrived = [0]

    def arrive() -> None:
        arrived[0] += 1
        if arrived[0] == USERS:  # every user (one coroutine each) has tried to sign in
            if signed_in is not None:
                signed_in()
            ready.set()

    def going() -> bool:
        return time.monotonic() < stop and not (until is not None and until.is_set())

    async def one(i: int) -> None:
        email, cid = users[i % len(users)]
        async with httpx.AsyncClient(base_url=base, timeout=300, follow_redirects=False) as c:
            try:
                token = re.search(r'name="csrf_token" value="([^"]+)"', (await c.get("/login")).text).group(1)
                r = await c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
            finally:
                arrive()
            if r.status_code != 303:
                errors.append(f"sign-in {email}: {r.status_code}")
                return
            await ready.wait()
            if cid is None:
                cids = [x["id"] for x in (await c.get("/api/communities")).json()]
                cid = cids[i % len(cids)]
            pages = [
                "/",
                f"/c/{cid}",
                f"/c/{cid}/journey",
                f"/c/{cid}/health",
                f"/c/{cid}/content",
                f"/c/{cid}/people",
                "/api/communities",
            ]
            k = i
            while going():
                url = pages[k % len(pages)]
                k += 1
                t0 = time.perf_counter()
                if starts is not None:
                    starts.append(time.monotonic())
                try:
                    r = await c.get(url)
                    ok = r.status_code == 200
                except httpx.HTTPError as e:
                    ok, r = False, None
                    errors.append(f"{url}: {type(e).__name__}")
                latencies.append(time.perf_counter() - t0)
                kind = "portfolio" if url == "/" else url.rsplit("/", 1)[-1] if url.count("/") > 2 else url
                by_page.setdefault(
                    kind if not url.startswith("/c/") or url.count("/") > 2 else "overview", []
                ).append(latencies[-1])
                if not ok and r is not None:
                    errors.append(f"{url}: {r.status_code}")

    await asyncio.gather(*(one(i) for i in range(USERS)))
    return latencies, by_page, errors


@contextmanager
def _served() -> Iterator[tuple[subprocess.Popen[bytes], str, list[tuple[str, str | None]]]]:
    """``covalue serve`` on a fresh analysed synthetic workspace: the process, its URL, the users."""
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-web-"))
    try:
        users = _prepare(tmp / "ws")
        with serve_process(tmp / "ws", timeout=60) as (server, base):
            yield server, base, users
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _summary(
    latencies: list[float], by_page: dict[str, list[float]]
) -> tuple[list[float], float, float, str]:
    """Latencies sorted, their p95 and p50 in ms, and the p95 of each page in words."""
    lat = sorted(latencies)
    pages = ", ".join(f"{k} {_pct(sorted(v), 0.95):,.0f}" for k, v in sorted(by_page.items()))
    return lat, _pct(lat, 0.95), _pct(lat, 0.5), pages


def _pct(sorted_s: list[float], q: float) -> float:
    return sorted_s[int(q * (len(sorted_s) - 1))] * 1000 if sorted_s else 0.0


@measurement("web-50-users", "50 signed-in users browsing community pages for 60 s: p95 latency, errors")
def web_50_users(quick: bool) -> list[Figure]:
    try:
        import httpx  # noqa: F401
    except ImportError as e:
        raise Skip("httpx is needed for the load client") from e
    seconds = 15.0 if quick else 60.0
    with _served() as (server, base, users):
        # the first page builds the results snapshot; warm it before the clock starts
        asyncio.run(_load(base, users[:1], 0.1))
        t0 = time.monotonic()
        latencies, by_page, errors = asyncio.run(_load(base, users, seconds))
        wall = time.monotonic() - t0
        peak_mb = _peak_kb(server.pid) / 1024
    if errors:
        raise RuntimeError(f"{len(errors)} errors under load, e.g. {errors[:5]}")
    lat, p95, p50, pages = _summary(latencies, by_page)
    note = (
        f"{USERS} users, {len(lat):,} requests in {wall:.0f} s, 0 errors; server peak {peak_mb:,.0f} MB; "
        f"p95 ms per page: {pages}"
    )
    return [
        Figure("web-50-users-p95", [p95], "ms", note),
        Figure("web-50-users-p50", [p50], "ms"),
        Figure("web-50-users-throughput", [len(lat) / wall], "requests/s"),
    ]


def _upload_and_follow(
    base: str, archive: Path, done: threading.Event, out: dict[str, object], server_pid: int, read_only: bool
) -> None:
    """As the admin: upload ``archive`` and follow its job until it ends (with ``read_only``, until its
    analysis starts), noting the peak memory of the server's children (the process that parses the
    upload); then set ``done``."""
    import httpx

    from benchmarks.bench_ingest import _tree_peaks

    try:
        with httpx.Client(base_url=base, timeout=600) as c:
            token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"email": "admin@load.test", "password": PASSWORD, "csrf_token": token})
            csrf = c.get("/api/me").json()["csrf_token"]
            t0 = time.monotonic()
            with archive.open("rb") as fh:
                r = c.post(
                    "/api/uploads",
                    files={"file": (archive.name, fh, "application/gzip")},
                    headers={"X-CSRF-Token": csrf},
                )
            job = r.json()
            while job.get("state") not in ("done", "failed", "refused"):
                time.sleep(1)
                children = [kb for p, kb in _tree_peaks(server_pid).items() if p != server_pid]
                out["reader_peak_kb"] = max([int(out.get("reader_peak_kb", 0)), *children])  # type: ignore[call-overload]
                job = c.get(f"/api/jobs/{job['id']}").json()
                if job.get("state") == "analysing" and "ingested_s" not in out:
                    out["ingested_s"] = time.monotonic() - t0
                    out["analysing_at"] = time.monotonic()
                    if read_only:
                        break
            out["job"] = job
            out["seconds"] = time.monotonic() - t0
    except Exception as e:  # said in the figure's failure, not lost in a thread
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        done.set()


def _probe(base: str, done: threading.Event, out: list[float]) -> None:
    """What any visitor sees while the others browse: ``/login`` and a static file, one request every
    0.1 s from a client of its own (a thread, so the browsing users' event loop does not delay it),
    until ``done`` is set; the latencies go to ``out``."""
    import httpx

    with httpx.Client(base_url=base, timeout=60) as c:
        k = 0
        while not done.is_set():
            url = "/login" if k % 2 == 0 else "/static/style.css"
            k += 1
            t0 = time.perf_counter()
            try:
                ok = c.get(url).status_code == 200
            except httpx.HTTPError:
                ok = False
            out.append(time.perf_counter() - t0 if ok else float("inf"))
            done.wait(0.1)


@measurement(
    "web-under-ingest",
    "50 signed-in users browsing while the Komodo Discord archive is uploaded and ingested: "
    "errors, p95 per page, server peak memory",
)
def web_under_ingest(quick: bool) -> list[Figure]:
    """With --quick the browsing ends when the export is read and merged: the analysis after it,
    which takes most of the time, is not waited for."""
    try:
        import httpx  # noqa: F401
    except ImportError as e:
        raise Skip("httpx is needed for the load client") from e
    if not DISCORD.exists():
        raise Skip(f"{DISCORD} is missing")
    with _served() as (server, base, users):
        asyncio.run(_load(base, users[:1], 0.1))
        done = threading.Event()
        job: dict[str, object] = {}
        uploader = threading.Thread(
            target=_upload_and_follow, args=(base, DISCORD, done, job, server.pid, quick)
        )
        t0 = [time.monotonic()]

        probed: list[float] = []
        prober = threading.Thread(target=_probe, args=(base, done, probed))

        def start_upload() -> None:  # the users are signed in and browsing when the upload starts
            t0[0] = time.monotonic()
            uploader.start()
            prober.start()

        starts: list[float] = []
        latencies, by_page, errors = asyncio.run(
            _load(base, users, 1800.0, until=done, signed_in=start_upload, starts=starts)
        )
        wall = time.monotonic() - t0[0]
        uploader.join()
        prober.join()
        peak_mb = _peak_kb(server.pid) / 1024
    if "error" in job:
        raise RuntimeError(f"the upload failed: {job['error']}")
    state = job["job"].get("state")  # type: ignore[union-attr]
    if state != ("analysing" if quick else "done"):
        raise RuntimeError(f"the upload ended {state}: {job['job']}")
    lat, p95, p50, pages = _summary(latencies, by_page)
    # the two halves of the job: reading and merging the export, then analysing the workspace
    turn = float(job.get("analysing_at") or float("inf"))  # type: ignore[arg-type]
    reading = sorted(s for s, t in zip(latencies, starts, strict=True) if t < turn)
    analysing = sorted(s for s, t in zip(latencies, starts, strict=True) if t >= turn)
    note = (
        f"{USERS} users, {len(lat):,} requests in {wall:.0f} s while {DISCORD.name} was uploaded, ingested "
        f"({job.get('ingested_s', 0):.0f} s) and analysed ({job.get('seconds', 0):.0f} s in all); "
        f"{len(errors)} errors; server peak {peak_mb:,.0f} MB, reading process peak "
        f"{int(job.get('reader_peak_kb', 0)) / 1024:,.0f} MB; p95 ms per page: {pages}; "  # type: ignore[call-overload]
        f"p95 while reading {_pct(reading, 0.95):,.0f} ms ({len(reading):,} requests), "
        f"while analysing {_pct(analysing, 0.95):,.0f} ms ({len(analysing):,})"
    )
    probe = sorted(probed)
    if probe and probe[-1] == float("inf"):
        errors.append(f"/login or static: {sum(1 for x in probe if x == float('inf'))} failed")
    note += f"; /login and static p95 {_pct(probe, 0.95):,.0f} ms, slowest {_pct(probe, 1.0):,.0f} ms ({len(probe):,})"
    if errors:
        raise RuntimeError(f"{len(errors)} errors under ingest, e.g. {errors[:5]}; {note}")
    return [
        Figure("web-under-ingest-p95", [p95], "ms", note),
        Figure("web-under-ingest-p50", [p50], "ms"),
        Figure(
            "web-under-ingest-p95-reading", [_pct(reading, 0.95)], "ms", "while the export is read and merged"
        ),
        Figure("web-under-ingest-p95-analysing", [_pct(analysing, 0.95)], "ms", "while it is analysed"),
        Figure(
            "web-under-ingest-login-static-p95",
            [_pct(probe, 0.95)],
            "ms",
            "/login and a static file, asked every 0.1 s by a visitor who is not signed in",
        ),
        Figure("web-under-ingest-errors", [float(len(errors))], "errors"),
        Figure("web-under-ingest-peak", [peak_mb], "MB", "the server's peak resident memory (VmHWM)"),
    ]
