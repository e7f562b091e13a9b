"""The files of a chat export, whatever holds them: loose, in a folder, a zip or a tar, streamed entry by
entry; their text decoded with undecodable bytes counted; CSV pages read as rows. Shared by the Discord,
Mattermost, Teams and Viva Engage readers."""

from __future__ import annotations

import codecs
import csv
import io
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from covalue.sources import archive
from covalue.sources.base import ReaderError, Sink, SourceSink, iter_files

#: errors raised while reading one archive entry that is damaged or truncated
READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    OSError,
    zlib.error,
    archive.Refused,
    ReaderError,
)


_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_tar(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_TAR_SUFFIXES)


def is_zip(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(".zip")


def limits(settings: Any) -> tuple[int, float]:
    """(max unpacked bytes, max compression ratio) from the workspace settings, or the defaults."""
    ing = getattr(settings, "ingest", None)
    return (
        int(getattr(ing, "max_unpacked_bytes", archive.DEFAULT_MAX_UNPACKED)),
        float(getattr(ing, "max_ratio", archive.DEFAULT_MAX_RATIO)),
    )


class _CountingFile(io.RawIOBase):
    """A file that reports every byte read to the progress bar (compressed bytes of an archive)."""

    def __init__(self, path: Path, advance: Callable[[int], None]) -> None:
        self._fh = path.open("rb")
        self._advance = advance

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        data = self._fh.read(n)
        self._advance(len(data))
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def iter_export_files(
    path: Path,
    sink: Sink,
    source: str,
    *,
    suffixes: tuple[str, ...],
    settings: Any = None,
) -> Iterator[tuple[str, IO[bytes]]]:
    """Every file of an export whose name ends with one of ``suffixes``, as (name, binary stream).

    ``path`` may be one file, a folder, a zip or a tar (compressed or not). Entries an archive refuses
    (path traversal, bombs) and a truncated archive become rejects of ``source``; what came before is kept.
    Progress advances by bytes of the input (compressed bytes for archives).
    """
    sfx = tuple(s.lower() for s in suffixes)
    max_unpacked, max_ratio = limits(settings)
    if is_tar(path):
        sink.set_total(path.stat().st_size)
        fh = _CountingFile(path, sink.advance)
        gen = archive.iter_tar(path, max_unpacked, fileobj=fh)  # type: ignore[arg-type]
        try:
            while True:
                try:
                    name, stream, refused = next(gen)
                except StopIteration:
                    break
                except ReaderError as e:
                    sink.reject(
                        source, f"{path.name}", "archive damaged or truncated; entries before it kept", str(e)
                    )
                    sink.warn(str(e))
                    break
                if refused is not None:
                    sink.reject(source, f"{path.name}:{refused.name}", refused.reason)
                    continue
                if stream is not None and name.lower().endswith(sfx):
                    yield name, stream
        finally:
            gen.close()
            fh.close()
    elif is_zip(path):
        with archive.ZipArchive(path, max_unpacked, max_ratio) as zf:
            for r in zf.refused:
                sink.reject(source, f"{path.name}:{r.name}", r.reason)
            names = [n for n in zf.names() if n.lower().endswith(sfx)]
            sink.set_total(sum(zf.entries[n].compress_size for n in names))
            for n in names:
                try:
                    stream = zf.open(n)
                except READ_ERRORS as e:
                    sink.reject(source, f"{path.name}:{n}", f"entry cannot be opened ({e})")
                    continue
                with stream:
                    yield n, stream
                sink.advance(zf.entries[n].compress_size)
    elif path.is_dir():
        files = [f for f in iter_files(path) if f.name.lower().endswith(sfx)]
        sink.set_total(sum(f.stat().st_size for f in files))
        for f in files:
            rel = f.relative_to(path).as_posix()
            try:
                stream = f.open("rb")
            except OSError as e:
                sink.reject(source, rel, f"file cannot be opened ({e.strerror or e})")
                continue
            with stream:
                yield rel, stream
            sink.advance(f.stat().st_size)
    elif path.is_file():
        sink.set_total(path.stat().st_size)
        with path.open("rb") as stream:
            yield path.name, stream
        sink.advance(path.stat().st_size)
    else:
        raise ReaderError(f"{path}: no such file or folder")


def read_each_file(
    path: Path,
    sink: Sink,
    src: SourceSink,
    read: Callable[[str, IO[bytes]], None],
    *,
    suffixes: tuple[str, ...],
    settings: Any,
    kept: str = "",
) -> bool:
    """Hand each export file to ``read``; a file that breaks off is a reject (``kept`` says what of it was
    kept) and the others are still read. False when there was no file to read."""
    found = False
    for name, stream in iter_export_files(path, sink, src.source, suffixes=suffixes, settings=settings):
        found = True
        try:
            read(name, stream)
        except READ_ERRORS as e:
            src.reject(name, f"file could not be read to the end ({e}){kept}")
    return found


def peek_export_files(path: Path, suffixes: tuple[str, ...], limit: int = 40) -> Iterator[tuple[str, bytes]]:
    """The first bytes (up to 64 KiB) of the first few matching files of an export, for ``detect``."""
    sfx = tuple(s.lower() for s in suffixes)
    seen = 0
    try:
        if is_tar(path):
            for name, stream, _refused in archive.iter_tar(path):
                seen += 1
                if seen > limit * 5:
                    return
                if stream is not None and name.lower().endswith(sfx):
                    yield name, stream.read(65536)
                    return
        elif is_zip(path):
            with archive.ZipArchive(path) as zf:
                for n in [n for n in zf.names() if n.lower().endswith(sfx)][:limit]:
                    with zf.open(n) as fh:
                        yield n, fh.read(65536)
        elif path.is_dir():
            for f in sorted(path.rglob("*"))[: limit * 50]:
                if f.is_file() and f.name.lower().endswith(sfx):
                    with f.open("rb") as fh:
                        yield f.name, fh.read(65536)
                    seen += 1
                    if seen >= limit:
                        return
        elif path.is_file() and path.name.lower().endswith(sfx):
            with path.open("rb") as fh:
                yield path.name, fh.read(65536)
    except (ReaderError, archive.Refused, *READ_ERRORS):
        return


# Undecodable bytes are replaced (the rest of the text stays readable) and counted, so the reader can
# say where they were. The counter is per thread: readers may run in parallel ingests.
_BAD = threading.local()


_HANDLER = "covalue-count-replace"


def _count_replace(err: UnicodeError) -> tuple[str, int]:
    _BAD.n = getattr(_BAD, "n", 0) + 1
    return "\ufffd", err.end  # type: ignore[attr-defined]


codecs.register_error(_HANDLER, _count_replace)


def bad_bytes() -> int:
    """How many undecodable byte runs this thread has met so far."""
    return getattr(_BAD, "n", 0)


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def text_stream(raw: IO[bytes]) -> io.TextIOWrapper:
    """Text over a binary stream: UTF-8 (BOM dropped), or UTF-16 when it starts with a UTF-16 BOM (as
    Windows tools save "Unicode" CSV); invalid bytes become U+FFFD and are counted."""
    buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    enc = "utf-16" if buffered.peek(2)[:2] in _UTF16_BOMS else "utf-8-sig"
    return io.TextIOWrapper(buffered, encoding=enc, errors=_HANDLER, newline="")


def decode(data: bytes) -> tuple[str, bool]:
    """(text, had invalid bytes) for a whole file read at once (UTF-8, or UTF-16 with its BOM)."""
    before = bad_bytes()
    enc = "utf-16" if data[:2] in _UTF16_BOMS else "utf-8-sig"
    text = data.decode(enc, errors=_HANDLER)
    return text, bad_bytes() > before


def csv_rows(
    raw: IO[bytes], location: str, reject: Callable[[str, str, Any], None], delimiter: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for each CSV record after the header (header as line 1, yielded first).

    Records the csv module cannot parse become rejects (``location:line``); undecodable bytes are replaced
    and reported once per record that holds them. Blank lines are skipped.
    """
    start_bad = bad_bytes()  # before any decoding: the wrapper decodes whole chunks ahead of the rows
    text = text_stream(raw)
    first = text.readline()
    if not first:
        return
    if delimiter is None:
        delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(_chain_first(first, text), delimiter=delimiter)
    prev = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            reject(f"{location}:{prev + 1}", f"malformed CSV record ({e})", None)
            prev = reader.line_num
            continue
        except READ_ERRORS as e:
            reject(
                f"{location}:{reader.line_num}",
                f"file could not be read to the end ({e}); rows before kept",
                None,
            )
            return
        line = prev + 1
        prev = reader.line_num
        if not row:
            continue
        if bad_bytes() != start_bad and any("\ufffd" in f for f in row):
            reject(
                f"{location}:{line}",
                "invalid UTF-8 bytes replaced with U+FFFD; record kept",
                ";".join(row)[:200],
            )
        yield line, row


def _chain_first(first: str, rest: IO[str]) -> Iterator[str]:
    yield first
    yield from rest
