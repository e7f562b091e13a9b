"""Opening archives safely: zip, 7z and tar, with the checks every reader needs.

Archives from the outside world can lie. Before anything is unpacked we refuse entries whose names
climb out of the target (``../``, absolute paths, drive letters), entries that declare more unpacked
bytes than the workspace allows, and entries compressed suspiciously well (zip bombs). Each refusal is a
:class:`Refused` with a message a person can act on; the reader turns it into a reject row and goes on
with the entries that are fine.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from covalue.sources.base import ReaderError

DEFAULT_MAX_UNPACKED = 50 * 1024**3
DEFAULT_MAX_RATIO = 200.0
#: small entries may legitimately compress very well (a file of spaces); only judge ratio above this
_RATIO_FLOOR = 1024 * 1024


class Refused(Exception):
    """One archive entry (or the whole archive) is not safe to unpack."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def safe_name(name: str) -> str:
    """The entry name if it stays inside the archive's root, else raise :class:`Refused`."""
    if "\x00" in name:
        raise Refused(name, "entry name contains a NUL byte")
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise Refused(name, "entry has an absolute path; refused to keep files inside the export")
    if ".." in p.parts:
        raise Refused(name, "entry name climbs out of the archive with '..'; refused (path traversal)")
    return str(p)


@dataclass
class Entry:
    name: str
    size: int
    compressed: int


class ZipArchive:
    """A zip file with safety checks on every entry; entries are opened as streams."""

    def __init__(
        self, path: Path, max_unpacked: int = DEFAULT_MAX_UNPACKED, max_ratio: float = DEFAULT_MAX_RATIO
    ):
        self.path = path
        try:
            self._zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ReaderError(f"{path}: not a readable zip archive ({e}); is the download complete?") from e
        self.max_unpacked = max_unpacked
        self.max_ratio = max_ratio
        self.refused: list[Refused] = []
        self.entries: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in self._zf.infolist():
            if info.is_dir():
                continue
            try:
                name = safe_name(info.filename)
                if info.file_size > _RATIO_FLOOR:
                    # zero compressed bytes claiming megabytes is an infinite ratio, not a pass
                    ratio = info.file_size / info.compress_size if info.compress_size else float("inf")
                    if ratio > max_ratio:
                        raise Refused(
                            info.filename,
                            f"declares {info.file_size:,} bytes from {info.compress_size:,} "
                            f"compressed (ratio {ratio:,.0f} > {max_ratio:,.0f}); refused as a zip bomb",
                        )
                total += info.file_size
                if total > max_unpacked:
                    raise Refused(
                        info.filename,
                        f"archive declares more than {max_unpacked:,} unpacked bytes; "
                        "refused as a zip bomb (raise ingest.max_unpacked_bytes if it is genuine)",
                    )
            except Refused as r:
                self.refused.append(r)
                continue
            self.entries[name] = info

    def names(self) -> list[str]:
        return sorted(self.entries)

    def size(self, name: str) -> int:
        return self.entries[name].file_size

    def open(self, name: str) -> IO[bytes]:
        """A stream over one entry. Reading more than the declared size raises (zipfile checks it)."""
        return _LimitedReader(self._zf.open(self.entries[name]), self.entries[name].file_size, name)

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> ZipArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LimitedReader(io.RawIOBase):
    """Refuses to yield more bytes than an entry declared (a lying header is a bomb too)."""

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        self._raw = raw
        self._left = limit
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self._raw.read(len(b))
        if len(data) > self._left:
            raise Refused(self._name, "entry is larger than its header declares; refused")
        self._left -= len(data)
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def extract_7z(
    path: Path, dest: Path, names: list[str] | None = None, max_unpacked: int = DEFAULT_MAX_UNPACKED
) -> tuple[list[Path], list[Refused]]:
    """Unpack (some) members of a 7z archive into ``dest`` after checking names and declared sizes.

    7z streams are solid, so entries cannot be read one at a time without decompressing what comes before;
    unpacking to disk keeps memory bounded whatever the archive size.
    """
    import py7zr

    try:
        arc = py7zr.SevenZipFile(path, mode="r")
    except (py7zr.exceptions.Bad7zFile, py7zr.exceptions.ArchiveError, OSError, EOFError, ValueError) as e:
        raise ReaderError(f"{path}: not a readable 7z archive ({e}); is the download complete?") from e
    refused: list[Refused] = []
    wanted: list[str] = []
    total = 0
    with arc:
        for info in arc.list():
            if info.is_directory:
                continue
            try:
                safe_name(info.filename)
                total += info.uncompressed or 0
                if total > max_unpacked:
                    raise Refused(
                        info.filename, f"archive declares more than {max_unpacked:,} unpacked bytes; refused"
                    )
            except Refused as r:
                refused.append(r)
                continue
            if names is None or PurePosixPath(info.filename).name in names:
                wanted.append(info.filename)
        try:
            arc.extract(path=dest, targets=wanted)
        except Exception as e:  # py7zr raises many kinds on corrupt data
            raise ReaderError(
                f"{path}: the 7z archive is damaged or truncated ({type(e).__name__}: {e})"
            ) from e
    out = [dest / w for w in wanted if (dest / w).is_file()]
    return out, refused


def iter_tar(
    path: Path, max_unpacked: int = DEFAULT_MAX_UNPACKED, fileobj: IO[bytes] | None = None
) -> Iterator[tuple[str, IO[bytes] | None, Refused | None]]:
    """Stream the regular files of a (compressed) tar archive: (name, stream, None) or (name, None, refused).

    ``fileobj``, when given, is the already opened archive (a reader wraps it to count compressed bytes
    for its progress bar); ``path`` then only names it in messages."""
    try:
        tf = tarfile.open(path, mode="r|*", fileobj=fileobj)  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ReaderError(f"{path}: not a readable tar archive ({e})") from e
    total = 0
    with tf:
        try:
            for member in tf:
                if not member.isfile():
                    continue
                try:
                    name = safe_name(member.name)
                    total += member.size
                    if total > max_unpacked:
                        raise Refused(
                            member.name, f"archive holds more than {max_unpacked:,} unpacked bytes; refused"
                        )
                except Refused as r:
                    yield member.name, None, r
                    continue
                raw = tf.extractfile(member)
                yield name, (io.BufferedReader(_TarStream(raw, path)) if raw is not None else None), None
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ReaderError(f"{path}: the tar archive is damaged or truncated ({e})") from e


class TarDamaged(ReaderError, tarfile.ReadError):
    """A tar member could not be read to its end; both a ReaderError and the ReadError callers expect."""


class _TarStream(io.RawIOBase):
    """A tar member's stream whose read errors (a truncated archive) surface as :class:`TarDamaged`
    with the archive's name, since the caller reads it outside the loop that catches them."""

    def __init__(self, raw: IO[bytes], path: Path) -> None:
        self._raw = raw
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        try:
            data = self._raw.read(len(b))
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise TarDamaged(f"{self._path}: the tar archive is damaged or truncated ({e})") from e
        n = len(data)
        b[:n] = data
        return n
