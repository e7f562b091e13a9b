"""Large uploads: a big CSV is read in bounded memory, and a file no reader takes is refused from its
first bytes in well under a second, in plain words, whatever its size."""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covalue.settings import IngestSettings
from covalue.sources import ReaderError, detect
from covalue.sources.sniff import HEAD_BYTES, READS, sniff, sniff_bytes
from covalue.web.uploads import preflight

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
SHARED_DATA = ROOT.parent / "shared" / "data"


def _png() -> bytes:
    """A real 1x1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n%%EOF\n"


def _xlsx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _zeros(path: Path, size: int) -> Path:
    """A file of ``size`` zero bytes (sparse: made at once, read back as zeros)."""
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


# -- bounded memory ------------------------------------------------------------------------------------
#: a child process that ingests one CSV into a fresh workspace (batches of 5,000 rows, DuckDB held to
#: 256 MB) and prints its own peak resident memory, what it read, and DuckDB's limit during the ingest
_INGEST = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import covalue
    ws_path, csv = Path(sys.argv[1]), Path(sys.argv[2])
    covalue.init(ws_path).close()
    toml = ws_path / "covalue.toml"
    toml.write_text(
        toml.read_text()
        .replace('# memory_limit = "12GB"', 'memory_limit = "256MB"')
        .replace("batch_rows = 50000", "batch_rows = 5000")
    )
    ws = covalue.Workspace(ws_path)
    limits = set()
    def seen(label, done, total):
        limits.add(ws.raw.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    [r] = ws.ingest([csv], progress=seen)
    # the peak of this process's own memory: ru_maxrss would start from the parent's (Linux carries
    # it across exec), and a test worker that ran large tests before holds more than this ingest
    status = Path("/proc/self/status").read_text()
    peak = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1]) * 1024
    print(json.dumps({"peak": peak, "read": r.read, "status": r.status, "limits": sorted(limits)}))
    """
)


def _ingest_in_child(tmp_path: Path, rows_bytes: int, name: str) -> dict:
    csv = tmp_path / f"{name}.csv"
    make = f"from pathlib import Path; from benchmarks.bench_ingest import write_items_csv as w; print(w(Path({str(csv)!r}), {rows_bytes}))"
    rows = int(
        subprocess.run(
            [sys.executable, "-c", make], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    )
    out = subprocess.run(
        [sys.executable, "-c", _INGEST, str(tmp_path / f"ws-{name}"), str(csv)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    found["rows"] = rows
    return found


def test_a_large_csv_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A 40 MB CSV (95,000 items) costs its ingest little more memory than a one-batch file does: rows
    go to the workspace a batch at a time and DuckDB keeps to its limit. A reader that held the file
    would need its rows as Python objects, some 200 MB more. The 1 GB file (2.34 M items) takes ten
    minutes here, too slow for a test: its peak is the bench measurement "ingest-csv-1g"."""
    small = _ingest_in_child(tmp_path, 1_000_000, "small")
    large = _ingest_in_child(tmp_path, 40_000_000, "large")
    for run in (small, large):
        assert run["status"] == "ok"
        assert run["read"]["items"] == run["rows"]  # every planted row arrived, none was lost
        assert run["limits"] == ["244.1 MiB"]  # DuckDB's limit holds on the ingesting connection
    assert large["read"]["members"] == 5000
    grew = large["peak"] - small["peak"]
    assert grew < 300 * 2**20, f"peak grew by {grew / 2**20:.0f} MB for {large['rows']:,} rows"
    assert large["peak"] < 1024**3


UNKNOWN = {
    # file name (as a person might name it), how to make it, words the refusal must hold
    "photo.png": (lambda p: _write(p, _png()), "a PNG image"),
    "minutes.pdf": (lambda p: _write(p, _pdf()), "a PDF document"),
    "export.dat": (lambda p: _write(p, random.Random(5).randbytes(2_000_000)), "binary data"),
    "items.csv": (lambda p: _write(p, b""), "is empty"),
    "export.tar": (lambda p: _zeros(p, 200 * 2**20), "zero bytes"),
    "sheet.zip": (lambda p: _write(p, _xlsx()), "an Excel workbook"),
    "dump.gz": (lambda p: _write(p, gzip.compress(bytes(1_000_000))), "gzip-compressed and holds only zero"),
}


@pytest.mark.parametrize("name", list(UNKNOWN))
def test_files_no_reader_takes_are_refused_at_once_in_plain_words(tmp_path: Path, name: str) -> None:
    make, words = UNKNOWN[name]
    path = make(tmp_path / name)
    t0 = time.perf_counter()
    problems = preflight(path, IngestSettings())
    took = time.perf_counter() - t0
    assert took < 1.0, f"{name}: judged in {took:.2f}s"
    assert len(problems) == 1
    msg = problems[0]
    assert msg.startswith("this file is not an export covalue can read: it ")
    assert words in msg and READS in msg
    # plain words: no server folder, no engine or exception text
    assert str(tmp_path) not in msg and "/" not in msg.split(READS)[0]
    assert "Error" not in msg and "Traceback" not in msg


def test_the_cli_path_refuses_a_large_file_of_zeros_before_any_reader_opens_it(tmp_path: Path) -> None:
    """A tar reader walks zero bytes to the end before it says no (97 s for 200 MB); detection does not."""
    path = _zeros(tmp_path / "export.tar", 200 * 2**20)
    t0 = time.perf_counter()
    with pytest.raises(ReaderError) as e:
        detect(path)
    assert time.perf_counter() - t0 < 1.0
    assert str(e.value).startswith(
        "export.tar: this file is not an export covalue can read: it starts with zero"
    )
    assert str(tmp_path) not in str(e.value)


def test_every_export_covalue_reads_passes_the_check(tmp_path: Path) -> None:
    """The check must never refuse what a reader takes: every file of the mini exports, the real exports
    beside the project, and the archives covalue unpacks."""
    files = [p for p in MINI.rglob("*") if p.is_file()]
    if SHARED_DATA.is_dir():
        files += [p for p in SHARED_DATA.rglob("*") if p.is_file() and p.name != "README.md"]
    tabular = MINI / "tabular" / "guild-forum"
    with tarfile.open(tmp_path / "forum.tar.gz", "w:gz") as tf:
        tf.add(tabular, arcname="forum")
    with tarfile.open(tmp_path / "forum.tar.bz2", "w:bz2") as tf:
        tf.add(tabular, arcname="forum")
    with zipfile.ZipFile(tmp_path / "forum.zip", "w") as zf:
        for p in tabular.iterdir():
            zf.write(p, f"forum/{p.name}")
    _write(tmp_path / "items.csv.gz", gzip.compress((tabular / "items.csv").read_bytes()))
    files += sorted(tmp_path.iterdir())
    assert len(files) > 40
    refused = {str(p): sniff(p) for p in files if not sniff(p).readable}  # type: ignore[union-attr]
    assert refused == {}
    assert sniff(tmp_path / "forum.tar.gz").kind == "gzip-compressed tar archive"  # type: ignore[union-attr]
    assert sniff(tmp_path / "forum.tar.bz2").kind == "bzip2-compressed tar archive"  # type: ignore[union-attr]
    assert sniff(tmp_path / "items.csv.gz").kind == "gzip-compressed CSV text"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b'{"a": 1}\n{"a": 2}\n', "JSON Lines text"),
        (b'{\n  "a": 1\n}\n', "JSON text"),
        (b"[1, 2]", "JSON text"),
        (b"\xef\xbb\xbfitem_id;created_at\n1;2020-01-01\n", "CSV text"),
        (b"From alice@example.org Mon Jan  1 00:00:00 2020\nSubject: hi\n", "mbox text"),
        (b'<?xml version="1.0"?><posts/>', "XML text"),
        ("\ufeffmember_id,display_name\nm1,Zoë\n".encode("utf-16"), "CSV text"),
        (b"[12:00] <ann> \x02hello\x02 \x0304world\n", "plain text"),  # IRC colour codes are text
        ("caf\xe9 au lait, merci\n".encode("cp1252"), "CSV text"),
    ],
)
def test_text_is_let_through_and_named(head: bytes, kind: str) -> None:
    found = sniff_bytes(head, whole=True)
    assert found.readable and found.kind == kind and found.refusal() is None


MAGICS = [
    b"",
    b"PK\x03\x04",
    b"7z\xbc\xaf\x27\x1c",
    b"\x1f\x8b\x08\x00",
    b"BZh9",
    b"\xfd7zXZ\x00",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"PAR1",
    b"{",
    b"\xff\xfe",
    b"MZ",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(MAGICS), body=st.binary(max_size=2048), whole=st.booleans())
def test_the_check_never_crashes_on_arbitrary_bytes(prefix: bytes, body: bytes, whole: bool) -> None:
    found = sniff_bytes(prefix + body, whole=whole)
    assert isinstance(found.kind, str) and found.kind
    reason = found.refusal()
    assert (reason is None) == found.readable
    if reason:
        assert reason.startswith("this file is not an export covalue can read: it ")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=HEAD_BYTES + 600))
def test_the_check_of_a_file_never_crashes(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path / "upload.bin", data)
    found = sniff(path)
    assert found is not None and (found.refusal() is None) == found.readable
    assert found.readable or preflight(path, IngestSettings()) == [found.refusal()]
