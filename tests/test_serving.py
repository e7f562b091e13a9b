"""The web app stays up under abuse, measured on a real ``uvicorn`` server process (not the in-process
test client, so its memory, its disk writes and its event loop are the server's own):

* a 500 MiB anonymous POST, declared or streamed without a length, is refused with 413 on the sign-in
  form, an API route and both upload routes, while the server grows by < 50 MB and writes < 1 MB;
* static files answer fast while 30 failed sign-ins (password checks) run at once.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import covalue
from covalue.store import Store
from covalue.store import accounts as acc

MIB = 1024 * 1024
SERVER = (
    "import sys, uvicorn\n"
    "from covalue.web.app import create_app\n"
    "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, ws: Path, spool: Path) -> None:
        self.proc, self.port, self.ws, self.spool = proc, port, ws, spool
        self.base = f"http://127.0.0.1:{port}"

    def status(self, key: str) -> int:
        """A figure of the server process from /proc (VmRSS, VmHWM in bytes; wchar in bytes)."""
        if key == "wchar":
            text = Path(f"/proc/{self.proc.pid}/io").read_text()
            return int(re.search(r"^wchar: (\d+)", text, re.M).group(1))  # type: ignore[union-attr]
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) * 1024  # type: ignore[union-attr]

    def disk_bytes(self) -> int:
        """Bytes in the server's temporary folder and the workspace's uploads folder."""
        return sum(
            p.stat().st_size
            for d in (self.spool, self.ws / "uploads")
            if d.exists()
            for p in d.rglob("*")
            if p.is_file()
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serving")
    ws = covalue.init(root / "ws")
    ws.close()
    # the test stands as a proxy for many addresses, so sign-ins from 30 "people" come from 30 addresses
    toml = root / "ws" / "covalue.toml"
    toml.write_text(toml.read_text().replace("trusted_proxies = []", 'trusted_proxies = ["127.0.0.1"]'))
    store = Store.open(root / "ws")
    with store.session() as db:
        acc.add_user(db, "owner@example.org", "admin", password="a long test password")
    store.dispose()
    spool = root / "tmp"
    spool.mkdir()
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(spool)}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(root / "ws"), str(port)], env=env)
    srv = Server(proc, port, root / "ws", spool)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(srv.base + "/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    yield srv
    proc.terminate()
    proc.wait(timeout=30)


def _post_huge(port: int, path: str, total: int, *, chunked: bool, ctype: str) -> tuple[int, int]:
    """POST ``total`` bytes of body to ``path`` from a raw socket (generated block by block, never
    held), stopping as soon as the server answers; the status and how much was sent."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    s.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n{length}\r\n\r\n".encode()
    )
    block = b"a" * (64 * 1024)
    sent = 0
    try:
        while sent < total:
            # a short wait for an answer after each block, so the answer is read before the server
            # closes the connection on the unread rest
            ready, _, _ = select.select([s], [], [], 0.2 if sent == 0 else 0.002)
            if ready:
                break
            data = (f"{len(block):x}\r\n".encode() + block + b"\r\n") if chunked else block
            s.sendall(data)
            sent += len(block)
        else:
            if chunked:
                s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    got = b""
    try:
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3})", got)
    assert m, f"no answer from the server to {path} (sent {sent:,} bytes): {got[:200]!r}"
    return int(m.group(1)), sent


def test_huge_anonymous_posts_are_refused_before_they_are_read(server: Server) -> None:
    total = 500 * MIB
    targets = [
        ("/login", "application/x-www-form-urlencoded"),
        ("/api/c/healthy/canvas/entries", "application/json"),
        ("/api/uploads", "multipart/form-data; boundary=xyz"),
        ("/data/upload", "multipart/form-data; boundary=xyz"),
    ]
    rss0, disk0, wrote0 = server.status("VmRSS"), server.disk_bytes(), server.status("wchar")
    peak = [rss0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], server.status("VmRSS"))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    sent: dict[str, int] = {}
    try:
        for path, ctype in targets:
            for chunked in (False, True):
                status, n = _post_huge(server.port, path, total, chunked=chunked, ctype=ctype)
                # a declared length is judged from the headers; a streamed body is cut off at the
                # limit (413) unless the route refuses before reading it at all (no session: 401, or 303
                # to the sign-in page; no CSRF token: 403)
                assert status == 413 or (chunked and status in (303, 401, 403)), (path, chunked, status)
                sent[f"{path} {'chunked' if chunked else 'declared'}"] = n
                assert server.disk_bytes() - disk0 < MIB
    finally:
        stop.set()
        watcher.join()
    growth = peak[0] - rss0
    wrote = server.status("wchar") - wrote0
    print(f"\n413 figures: server RSS growth {growth / MIB:.1f} MiB, bytes written {wrote:,}, sent {sent}")
    assert growth < 50 * MIB
    assert wrote < MIB and server.disk_bytes() - disk0 < MIB
    # a streamed body is cut off soon after the limit (1 MiB), not read to its end
    assert all(n < 20 * MIB for k, n in sent.items() if "chunked" in k)
    assert httpx.get(server.base + "/login", timeout=5).status_code == 200  # and the server is still up


def test_static_files_answer_during_a_flood_of_failed_sign_ins(server: Server) -> None:
    first = httpx.get(server.base + "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', first.text).group(1)  # type: ignore[union-attr]
    cookies = dict(first.cookies)
    n = 30
    done: list[float] = []

    def fail(i: int) -> int:
        t = time.perf_counter()
        r = httpx.post(
            server.base + "/login",
            data={"email": f"guess{i}@example.org", "password": f"wrong {i}", "csrf_token": token},
            cookies=cookies,
            headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
            timeout=120,
        )
        done.append(time.perf_counter() - t)
        return r.status_code

    latencies: list[float] = []
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(fail, i) for i in range(n)]
        time.sleep(0.2)
        while not all(f.done() for f in futures):
            t = time.perf_counter()
            r = httpx.get(server.base + "/static/style.css", timeout=10)
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200
            time.sleep(0.02)
        codes = [f.result() for f in futures]
    assert codes == [401] * n  # every one was checked (30 addresses, none throttled)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"\nstatic during {n} failed sign-ins: {len(latencies)} requests, p95 {p95 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; slowest sign-in {max(done):.2f} s"
    )
    assert len(latencies) >= 3  # the sign-ins took long enough to be measured against
    # generous bounds, for a machine shared with other work (unbounded hashing on the event loop
    # took static files from 4 ms to 1.6 s at 11 sign-ins a second)
    assert p95 < 1.0 and latencies[-1] < 2.5


def _one_response(s: socket.socket) -> bytes:
    """One HTTP/1.1 response read from ``s`` (headers, then Content-Length bytes); what came before
    the server closed the connection, if it did."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_idle_connection_outlasts_the_clients_own_keep_alive(tmp_path: Path) -> None:
    """httpx keeps an idle connection 5 s; a server closing its own at 5 s met clients sending on it at
    that instant ("Server disconnected without sending a response"). `covalue serve` keeps an idle
    connection open longer, so a request sent after 6 s idle on the same connection is answered."""
    from covalue.testing import serve_process

    covalue.init(tmp_path / "ws").close()
    with serve_process(tmp_path / "ws") as (_proc, base):
        port = int(base.rsplit(":", 1)[1].strip("/"))
        ask = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(ask)
            first = _one_response(s)
            time.sleep(6)
            s.sendall(ask)
            second = _one_response(s)
    assert first.startswith(b"HTTP/1.1 200")
    assert second.startswith(b"HTTP/1.1 200"), second[:200]
