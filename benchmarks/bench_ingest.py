"""Ingest throughput of the platform readers on the real exports in ../shared/data."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.registry import Figure, Skip, measurement

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def ingest_figures(name: str, reader: str, export: Path, repeat: int = 3) -> list[Figure]:
    """Ingest ``export`` with ``reader`` into fresh workspaces ``repeat`` times: records/s and MB/s."""
    import covalue
    from covalue.sources import readers

    if reader not in readers():
        raise Skip(f"reader not available ({reader})")
    if not export.exists():
        raise Skip(f"{export} is missing")
    size_mb = export.stat().st_size / 1e6
    secs, records = [], 0
    for _ in range(repeat):
        tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-ingest-"))
        try:
            ws = covalue.init(tmp / "ws")
            t0 = time.perf_counter()
            [res] = ws.ingest([export], source=reader)
            secs.append(time.perf_counter() - t0)
            ws.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if res.status == "failed":
            raise RuntimeError(f"{export.name}: ingest failed: {'; '.join(res.messages)[:200]}")
        records = sum(res.read.values()) + res.rejects
    return [
        Figure(name, [records / s for s in secs], "records/s", f"{records:,} records from {export.name}"),
        Figure(name, [size_mb / s for s in secs], "MB/s", f"{size_mb:.1f} MB archive"),
    ]


@measurement("ingest-stackexchange", "Stack Exchange reader on beer.stackexchange.com.7z")
def ingest_stackexchange(quick: bool) -> list[Figure]:
    return ingest_figures(
        "ingest-stackexchange",
        "stackexchange",
        DATA / "stackexchange" / "beer.stackexchange.com.7z",
        repeat=1 if quick else 3,
    )


@measurement("ingest-slack", "Slack reader on houstondatavis-slack-export.zip")
def ingest_slack(quick: bool) -> list[Figure]:
    return ingest_figures(
        "ingest-slack", "slack", DATA / "slack" / "houstondatavis-slack-export.zip", repeat=1 if quick else 3
    )


# -- a large CSV of items, made on the spot ----------------------------------------------------------
_WORDS = tuple(
    [
        "the",
        "meeting",
        "notes",
        "draft",
        "review",
        "budget",
        "release",
        "plan",
        "team",
        "question",
        "answer",
        "thanks",
        "issue",
        "fix",
        "build",
        "deploy",
        "design",
        "sketch",
        "customer",
        "feedback",
        "survey",
        "roadmap",
        "quarter",
        "goal",
        "metric",
        "onboarding",
        "guide",
        "wiki",
        "channel",
        "thread",
        "update",
        "schedule",
        "workshop",
        "demo",
        "prototype",
        "test",
        "result",
        "data",
        "model",
        "report",
        "idea",
    ]
)

ITEMS_HEADER = "item_id,space_id,author_id,created_at,kind,title,text,parent_id,thread_id\n"


def write_items_csv(path: Path, target_bytes: int, *, seed: int = 7, authors: int = 5000) -> int:
    """Write an items table in the tabular CSV contract until it holds at least ``target_bytes``: one
    post opens a thread every fifth row, the other rows reply to it. Returns the number of rows. The
    file is written a block at a time, so making a 1 GB file takes little memory."""
    import random

    rng = random.Random(seed)
    spaces = [f"space-{i:02d}" for i in range(20)]
    # a pool of ready texts (with quotes and commas, so the CSV writer must quote them) keeps this fast
    texts = [
        '"'
        + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 80))).replace(" plan", ', ""plan""')
        + '"'
        for _ in range(997)
    ]
    titles = [" ".join(rng.choice(_WORDS) for _ in range(5)).capitalize() for _ in range(101)]
    written = rows = 0
    thread = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(ITEMS_HEADER)
        written += len(ITEMS_HEADER)
        while written < target_bytes:
            block = []
            for _ in range(10_000):
                rows += 1
                minute = rows // 3
                ts = f"{2020 + minute // 525_600}-{1 + (minute // 43_800) % 12:02d}-{1 + (minute // 1440) % 28:02d}T{(minute // 60) % 24:02d}:{minute % 60:02d}:00+00:00"
                author = f"m{rng.randrange(authors):05d}"
                if rows % 5 == 1:
                    thread = rows
                space = spaces[(thread // 5) % len(spaces)]
                if thread == rows:
                    line = f"{rows},{space},{author},{ts},post,{titles[rows % 101]},{texts[rows % 997]},,{rows}\n"
                else:
                    line = f"{rows},{space},{author},{ts},reply,,{texts[rows % 997]},{thread},{thread}\n"
                block.append(line)
            text = "".join(block)
            fh.write(text)
            written += len(text.encode())
    return rows


@measurement("ingest-csv-1g", "tabular reader on a generated 1 GB CSV of items: wall time and peak memory")
def ingest_csv_1g(quick: bool) -> list[Figure]:
    """Ingest a 1 GB items CSV (100 MB with --quick) with ``covalue ingest`` in a process of its own, so
    the peak resident memory printed is the ingest's alone (the server's share of an upload)."""
    import resource
    import subprocess
    import sys

    size = 100_000_000 if quick else 1_000_000_000
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-csv-"))
    try:
        csv = tmp / "items.csv"
        rows = write_items_csv(csv, size)
        mb = csv.stat().st_size / 1e6
        cli = [sys.executable, "-m", "covalue.cli"]
        subprocess.run([*cli, "init", str(tmp / "ws")], check=True, capture_output=True)
        t0 = time.perf_counter()
        out = subprocess.run(
            [*cli, "ingest", "-w", str(tmp / "ws"), "--json", str(csv)], capture_output=True, text=True
        )
        secs = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"ingest failed: {(out.stdout + out.stderr)[-300:]}")
        # the children waited for so far are init (small) and the ingest: their peak is the ingest's
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    note = f"{rows:,} items, {size / 1e9:.1f} GB CSV"
    return [
        Figure("ingest-csv-1g", [secs], "s", note),
        Figure("ingest-csv-1g", [mb / secs], "MB/s", note),
        Figure("ingest-csv-1g", [peak_mb], "MB peak RSS of the ingest", note),
    ]


def _tree_peaks(pid: int) -> dict[int, int]:
    """Peak resident memory (VmHWM, kB) of process ``pid`` and of its children, by pid."""
    out: dict[int, int] = {}
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[p] = int(line.split()[1])
        except OSError:
            pass
    return out


@measurement(
    "ingest-csv-1g-upload",
    "a generated 1 GB CSV of items uploaded to covalue serve: the server's peak memory, the reading "
    "child's, and the wall time to done",
)
def ingest_csv_1g_upload(quick: bool) -> list[Figure]:
    """The 1 GB CSV (100 MB with --quick) uploaded through the web app to ``covalue serve`` on an empty
    workspace with its default settings, followed until its job is done (read, merged, analysed). The
    server's peak is the figure held under 2 GB; the child that parses the file is measured apart."""
    import httpx

    from covalue.store import Store
    from covalue.store import accounts as acc
    from covalue.testing import serve_process, sign_in

    size = 100_000_000 if quick else 1_000_000_000
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-csv-upload-"))
    email, password = "admin@bench.test", "bench password long enough"
    try:
        csv = tmp / "items.csv"
        rows = write_items_csv(csv, size)
        import covalue

        covalue.init(tmp / "ws").close()
        store = Store.open(tmp / "ws")
        with store.session() as db:
            acc.add_user(db, email, "admin", password=password)
        store.dispose()
        with serve_process(tmp / "ws") as (server, base), httpx.Client(base_url=base, timeout=600) as c:
            token = sign_in(c, email, password)
            t0 = time.perf_counter()
            with csv.open("rb") as fh:
                r = c.post(
                    "/api/uploads",
                    files={"file": ("items.csv", fh, "text/csv")},
                    headers={"X-CSRF-Token": token},
                )
            if r.status_code != 202:
                raise RuntimeError(f"the upload was not taken: {r.status_code} {r.text[:300]}")
            job = r.json()
            peaks: dict[int, int] = {}
            while job.get("state") not in ("done", "failed", "refused"):
                time.sleep(0.5)
                for p, kb in _tree_peaks(server.pid).items():
                    peaks[p] = max(peaks.get(p, 0), kb)
                job = c.get(f"/api/jobs/{job['id']}").json()
            secs = time.perf_counter() - t0
            for p, kb in _tree_peaks(server.pid).items():
                peaks[p] = max(peaks.get(p, 0), kb)
        if job["state"] != "done":  # the server's log says what the job's plain words leave out
            log = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise RuntimeError(
                f"the upload ended {job['state']}: {job.get('error')}; server log: {log[-3000:]}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    server_mb = peaks.get(server.pid, 0) / 1024
    child_mb = max((kb for p, kb in peaks.items() if p != server.pid), default=0) / 1024
    added = job["summary"]["ingest"]["added"]["items"]
    note = f"{rows:,} rows, {added:,} items added, {size / 1e9:.1f} GB CSV, done in {secs:.0f} s"
    return [
        Figure("ingest-csv-1g-upload-server-peak", [server_mb], "MB", note),
        Figure("ingest-csv-1g-upload-reader-peak", [child_mb], "MB", "the child process that parsed the CSV"),
        Figure("ingest-csv-1g-upload-seconds", [secs], "s", "upload, read, merge and analysis"),
    ]
