"""The web app under load: 50 signed-in users browsing community pages at once for 60 s against
``covalue serve`` on 127.0.0.1 (the synthetic organisation: 6 communities). Prints the p95 and median
latency, the throughput and the errors (which must be none); the server's peak memory is in the note.

Users are the admin and managers of each community; each loops over the portfolio, a community's
overview, journey, health, content and people pages and the API's community list, with no pause.
Client and server share the machine, so the figures are a floor for a server of its own.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.registry import Figure, Skip, measurement

USERS = 50
PASSWORD = "load test password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    base: str, users: list[tuple[str, str | None]], seconds: float
) -> tuple[list[float], dict[str, list[float]], list[str]]:
    import httpx

    latencies: list[float] = []
    by_page: dict[str, list[float]] = {}
    errors: list[str] = []
    stop = time.monotonic() + seconds

    async def one(i: int) -> None:
        email, cid = users[i % len(users)]
        async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False) as c:
            token = re.search(r'name="csrf_token" value="([^"]+)"', (await c.get("/login")).text).group(1)
            r = await c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
            if r.status_code != 303:
                errors.append(f"sign-in {email}: {r.status_code}")
                return
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
            while time.monotonic() < stop:
                url = pages[k % len(pages)]
                k += 1
                t0 = time.perf_counter()
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


def _pct(sorted_s: list[float], q: float) -> float:
    return sorted_s[int(q * (len(sorted_s) - 1))] * 1000 if sorted_s else 0.0


@measurement("web-50-users", "50 signed-in users browsing community pages for 60 s: p95 latency, errors")
def web_50_users(quick: bool) -> list[Figure]:
    try:
        import httpx
    except ImportError as e:
        raise Skip("httpx is needed for the load client") from e
    seconds = 15.0 if quick else 60.0
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-web-"))
    server = None
    try:
        users = _prepare(tmp / "ws")
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "COVALUE_DATABASE_URL"}  # the workspace's SQLite
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "covalue"),
                "serve",
                "-w",
                str(tmp / "ws"),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(
                    "the server did not start: " + (server.stderr.read().decode() if server.stderr else "")
                )
            time.sleep(0.2)
        # the first page builds the results snapshot; warm it before the clock starts
        asyncio.run(_load(base, users[:1], 0.1))
        t0 = time.monotonic()
        latencies, by_page, errors = asyncio.run(_load(base, users, seconds))
        wall = time.monotonic() - t0
        peak_mb = _peak_kb(server.pid) / 1024
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    if errors:
        raise RuntimeError(f"{len(errors)} errors under load, e.g. {errors[:5]}")
    lat = sorted(latencies)
    p95, p50 = _pct(lat, 0.95), _pct(lat, 0.5)
    pages = ", ".join(f"{k} {_pct(sorted(v), 0.95):,.0f}" for k, v in sorted(by_page.items()))
    note = (
        f"{USERS} users, {len(lat):,} requests in {wall:.0f} s, 0 errors; server peak {peak_mb:,.0f} MB; "
        f"p95 ms per page: {pages}"
    )
    return [
        Figure("web-50-users-p95", [p95], "ms", note),
        Figure("web-50-users-p50", [p50], "ms"),
        Figure("web-50-users-throughput", [len(lat) / wall], "requests/s"),
    ]
