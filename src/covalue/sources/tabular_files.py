"""The files of a tabular export (CSV, TSV, JSON Lines, Parquet; loose, gzipped, in a folder or a zip) and
their records, streamed with the encoding and delimiter sniffed."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa

from covalue.presentation import plural
from covalue.sources.archive import Refused, ZipArchive
from covalue.sources.base import ReaderError
from covalue.sources.jsonstream import loads
from covalue.sources.tabular_values import (
    BadRow,
)

_DELIMITERS = (",", ";", "\t", "|")


#: how much of a file is read to sniff its encoding and delimiter
SAMPLE_BYTES = 64 * 1024


_SURROGATE = re.compile("[\udc80-\udcff]")


class _Counted(io.RawIOBase):
    """A byte stream that first serves ``prefix`` and reports the bytes it hands out (progress)."""

    def __init__(self, raw: IO[bytes], prefix: bytes, on_bytes: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._prefix = prefix
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
        else:
            data = self._raw.read(len(b))
            n = len(data)
            b[:n] = data
        if self._on_bytes and n:
            self._on_bytes(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass
class TabularFile:
    """One file to read: its name (for patterns and table words), its label in reject locations, its
    size, and how to open it as bytes."""

    name: str
    label: str
    size: int
    opener: Callable[[], IO[bytes]]
    disk_path: Path | None = None

    @property
    def fmt(self) -> str:
        low = self.name.lower()
        if low.endswith(PARQUET_SUFFIXES):
            return "parquet"
        if low.endswith(JSONL_SUFFIXES):
            return "jsonl"
        return "csv"

    def open(self) -> IO[bytes]:
        raw = self.opener()
        if self.name.lower().endswith(".gz"):
            return gzip.open(raw)  # type: ignore[return-value]
        return raw


def is_tabular(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def list_files(path: Path, settings: Any = None) -> tuple[list[TabularFile], list[Refused], list[str], Any]:
    """The table files in ``path`` (a file, a folder or a zip): (files, refused archive entries,
    names ignored as not tabular, the open archive or None). The caller closes the archive."""
    if path.is_dir():
        files, ignored = [], []
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            rel = p.relative_to(path.parent).as_posix()
            if any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(path).parts):
                continue  # hidden files and folders (.git, .DS_Store) and macOS resource forks
            if is_tabular(p.name):
                files.append(_disk_file(p, rel))
            else:
                ignored.append(rel)
        return files, [], ignored, None
    if path.name.lower().endswith(".zip"):
        ing = getattr(settings, "ingest", None)
        arc = ZipArchive(
            path,
            max_unpacked=getattr(ing, "max_unpacked_bytes", 50 * 1024**3),
            max_ratio=getattr(ing, "max_ratio", 200.0),
        )
        files, ignored = [], []
        for name in arc.names():
            base = name.rsplit("/", 1)[-1]
            if is_tabular(base):
                files.append(
                    TabularFile(
                        name=base,
                        label=f"{path.name}!{name}",
                        size=arc.size(name),
                        opener=lambda n=name: arc.open(n),
                    )
                )
            elif not base.startswith(".") and not name.startswith("__MACOSX/"):
                ignored.append(f"{path.name}!{name}")
        return files, list(arc.refused), ignored, arc
    if is_tabular(path.name):
        return [_disk_file(path, path.name)], [], [], None
    raise ReaderError(f"{path}: not a CSV, JSON Lines or Parquet file, nor a folder or zip of them")


def _disk_file(p: Path, label: str) -> TabularFile:
    return TabularFile(
        name=p.name, label=label, size=p.stat().st_size, opener=lambda: p.open("rb"), disk_path=p
    )


@dataclass
class Record:
    """One row: where it is, its cells by file column, and a short excerpt for rejects.
    ``error`` is set instead of ``cells`` when the row itself is malformed."""

    location: str
    cells: dict[str, Any] | None
    excerpt: Any
    error: str | None = None


class RecordStream:
    """Opens one file and yields its header and records, whatever its format."""

    def __init__(self, f: TabularFile, on_bytes: Callable[[int], None] | None = None) -> None:
        self.f = f
        self.on_bytes = on_bytes
        self.columns: list[str] = []
        self.notes: list[str] = []  # things the person running the ingest should know
        self.delimiter = ","
        self._stream: IO[Any] | None = None
        self._iter: Iterator[Record] | None = None
        self._tmp: Path | None = None

    def open(self) -> list[str]:
        """Read the header (CSV), the first object's keys (JSONL) or the schema (Parquet)."""
        fmt = self.f.fmt
        if fmt == "parquet":
            self._iter = self._parquet()
        elif fmt == "jsonl":
            self._iter = self._jsonl()
        else:
            self._iter = self._csv()
        first = next(self._iter, None)  # each generator yields its header as a Record first
        if first is None or first.cells is None:
            raise BadRow(first.error if first and first.error else "the file is empty")
        self.columns = list(first.cells)
        return self.columns

    def records(self) -> Iterator[Record]:
        assert self._iter is not None, "open() first"
        yield from self._iter

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _binary(self) -> tuple[IO[bytes], bytes]:
        raw = self.f.open()
        sample = raw.read(SAMPLE_BYTES)
        return raw, sample

    # CSV -------------------------------------------------------------------------------------------
    def _csv(self) -> Iterator[Record]:
        raw, sample = self._binary()
        encoding, bom = _sniff_encoding(sample)
        if encoding != "utf-8":
            self.notes.append(f"{self.f.label}: not UTF-8; read as {encoding}")
        buf = io.BufferedReader(_Counted(raw, sample[bom:], self.on_bytes), buffer_size=1 << 20)
        text = io.TextIOWrapper(buf, encoding=encoding, errors="surrogateescape", newline="")
        self._stream = text
        head = sample[bom:].decode(encoding, "replace").splitlines()
        delim = "\t" if ".tsv" in self.f.name.lower() else _sniff_delimiter(head[0] if head else "")
        self.delimiter = delim
        reader = csv.reader(text, delimiter=delim)
        label = self.f.label
        header: list[str] | None = None
        bad_bytes_lines = 0
        first_bad = ""
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                yield Record(f"{label}:{start}", None, None, f"malformed CSV: {e}")
                if reader.line_num < start:  # no progress: the rest cannot be read
                    break
                continue
            if not row or (len(row) == 1 and row[0] != "" and not row[0].strip()):
                continue  # a blank line (an empty quoted field, or a stray quote, is not blank)
            if _SURROGATE.search("".join(row)):
                bad_bytes_lines += 1
                first_bad = first_bad or f"{label}:{start}"
                row = [_SURROGATE.sub("\ufffd", c) for c in row]
            if header is None:
                header = [c.strip() for c in row]
                dup = sorted({c for c in header if c and header.count(c) > 1})
                if dup:
                    self.notes.append(
                        f"{label}: repeated column names {', '.join(dup)}: the last one is used"
                    )
                yield Record(f"{label}:{start}", dict.fromkeys(header), None)
                continue
            if len(row) != len(header):
                extra_empty = len(row) > len(header) and not any(c.strip() for c in row[len(header) :])
                if not extra_empty:
                    yield Record(
                        f"{label}:{start}",
                        None,
                        delim.join(row),
                        f"expected {len(header)} fields, found {len(row)}",
                    )
                    continue
            yield Record(f"{label}:{start}", dict(zip(header, row, strict=False)), row)
        if bad_bytes_lines:
            self.notes.append(
                f"{label}: {plural(bad_bytes_lines, 'line')} held bytes invalid in "
                f"{encoding} (first at {first_bad}); "
                "they were replaced with U+FFFD and the rows kept"
            )
        if header is None:
            yield Record(f"{label}:1", None, None, "the file is empty (no header line)")

    # JSON Lines -------------------------------------------------------------------------------------
    def _jsonl(self) -> Iterator[Record]:
        raw, sample = self._binary()
        bom = 3 if sample.startswith(codecs.BOM_UTF8) else 0
        buf = io.BufferedReader(_Counted(raw, sample[bom:], self.on_bytes), buffer_size=1 << 20)
        self._stream = buf
        label = self.f.label
        header_sent = False
        pending: list[Record] = []
        for n, line in enumerate(buf, start=1):
            if not line.strip():
                continue
            loc = f"{label}:{n}"
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as e:
                rec = Record(
                    loc, None, line[:300].decode("utf-8", "replace").rstrip(), f"not valid JSON: {e}"
                )
            else:
                if isinstance(obj, dict):
                    rec = Record(loc, obj, line[:300].decode("utf-8", "replace").rstrip())
                else:
                    rec = Record(
                        loc,
                        None,
                        line[:300].decode("utf-8", "replace").rstrip(),
                        f"expected a JSON object, found {type(obj).__name__}",
                    )
            if not header_sent:
                if rec.cells is None:
                    pending.append(rec)  # bad lines before the first object still become rejects
                    if len(pending) < 1000:
                        continue
                    yield Record(loc, None, None, "no JSON object in the first 1000 lines")
                    return
                header_sent = True
                yield Record(loc, dict.fromkeys(rec.cells), None)
                yield from pending
            yield rec
        if not header_sent:
            yield Record(f"{label}:1", None, None, "the file holds no JSON object")
            yield from pending

    # Parquet ----------------------------------------------------------------------------------------
    def _parquet(self) -> Iterator[Record]:
        import pyarrow.parquet as pq

        path = self.f.disk_path
        if path is None:  # inside an archive: Parquet needs random access, so spool it to disk
            self._tmp = Path(tempfile.mkdtemp(prefix="covalue-parquet-"))
            path = self._tmp / "entry.parquet"
            with self.f.open() as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as e:
            yield Record(f"{self.f.label}", None, None, f"not a readable Parquet file: {e}")
            return
        label = self.f.label
        yield Record(label, dict.fromkeys(pf.schema_arrow.names), None)
        total = max(pf.metadata.num_rows, 1)
        done = 0
        row_no = 0
        for batch in pf.iter_batches(batch_size=8192):
            for row in batch.to_pylist():
                row_no += 1
                yield Record(f"{label}:row {row_no}", row, row)
            if self.on_bytes:
                step = int(self.f.size * (row_no / total)) - done
                done += step
                self.on_bytes(step)


def _sniff_encoding(sample: bytes) -> tuple[str, int]:
    """(encoding, BOM length): UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "cp1252", 0
    return "utf-8", 0


def _sniff_delimiter(line: str) -> str:
    """The candidate delimiter that occurs most often outside quotes in the header line."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


#: file endings read as tables (a ``.gz`` on CSV or JSON Lines is unpacked on the fly)
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


PARQUET_SUFFIXES = (".parquet", ".pq")


SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES
