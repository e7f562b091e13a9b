"""Whether any reader could take a file, told from its first bytes alone.

Readers judge an export by opening it, and some openings cost the whole file: ``tarfile`` walks a file
of zero bytes to its end before it answers, and a gigabyte named ``.csv`` is read row by row whatever it
holds. This check comes first. It reads at most :data:`HEAD_BYTES` (and, for a zip, its directory), so
it answers in milliseconds for a file of any size, and it refuses only what no reader takes: an empty
file, zero bytes, binary data, and formats it can name (images, PDFs, programs, databases, office
documents). Text of any kind is let through, for the readers to judge: mail, chat logs and articles are
plain text too.
"""

from __future__ import annotations

import bz2
import lzma
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from covalue.sources.jsonstream import loads

#: how much of a file the check reads
HEAD_BYTES = 64 * 1024

#: what covalue takes, said after every refusal
READS = (
    "covalue reads platform exports: zip, 7z or tar archives (also gzipped), and CSV, JSON, "
    "JSON Lines, Parquet, mbox, e-mail or XML files"
)

#: (offset, magic bytes, what the file is) of formats no reader takes
_NOT_EXPORTS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (0, b"%PDF-", "a PDF document"),
    (0, b"SQLite format 3\x00", "an SQLite database"),
    (8, b"DUCK", "a DuckDB database"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document (doc, xls or ppt)"),
    (0, b"Rar!\x1a\x07", "a RAR archive (covalue unpacks zip, 7z and tar archives only)"),
    (0, b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file (covalue unpacks zip, 7z, gzip, bzip2 and xz)"),
    (0, b"\x7fELF", "a program (an ELF executable)"),
    (0, b"\xca\xfe\xba\xbe", "a program (a Java class or macOS executable)"),
    (0, b"\xcf\xfa\xed\xfe", "a program (a macOS executable)"),
    (0, b"\x00asm", "a WebAssembly module"),
    (0, b"wOFF", "a web font"),
    (0, b"wOF2", "a web font"),
    (0, b"ID3", "an MP3 sound file"),
    (0, b"OggS", "an Ogg sound or video file"),
    (0, b"fLaC", "a FLAC sound file"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska or WebM video"),
    (4, b"ftyp", "a video, sound or HEIC image file"),
)

#: the same for short magics that text could begin with by chance: only believed for binary data
_BINARY_ONLY: tuple[tuple[int, bytes, str], ...] = (
    (0, b"MZ", "a Windows program (EXE or DLL)"),
    (0, b"BM", "a BMP image"),
    (0, b"\x00\x00\x01\x00", "an icon image"),
)

_RIFF = {b"WEBP": "a WebP image", b"WAVE": "a WAV sound file", b"AVI ": "an AVI video"}

#: control characters that text does not hold (tab, line breaks, form feed, escape and the colour
#: codes of IRC logs are allowed)
_CONTROL = frozenset(range(0x20)) - {0x02, 0x03, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0F, 0x16, 0x1B, 0x1D, 0x1F}
_MAX_CONTROL_SHARE = 0.02


@dataclass(frozen=True)
class Sniffed:
    """What a file looks like (``kind``, e.g. "zip archive", "CSV text", "a PNG image") and whether a
    reader may be able to take it."""

    kind: str
    readable: bool

    def refusal(self) -> str | None:
        """The plain-words reason the file is refused, or None when a reader may take it."""
        if self.readable:
            return None
        return f"this file is not an export covalue can read: it {self.kind}; {READS}"


def sniff(path: Path) -> Sniffed | None:
    """What the file at ``path`` looks like, from its first bytes; None for a folder or a file that
    cannot be opened (the readers then say why)."""
    if not path.is_file():
        return None
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    if size == 0:
        return Sniffed("is empty", False)
    found = sniff_bytes(head, whole=size <= HEAD_BYTES)
    if found.kind == "zip archive":
        return _zip_contents(path) or found
    if not found.readable and _zip_at_end(path):  # a zip behind a preamble (a self-extracting archive)
        return _zip_contents(path) or Sniffed("zip archive", True)
    if not found.readable and size > HEAD_BYTES and found.kind == "holds only zero bytes":
        return Sniffed("starts with zero bytes only (no text, no archive)", False)
    return found


def refusal(path: Path) -> str | None:
    """The reason to refuse ``path`` before any reader opens it, in plain words; None to go on."""
    found = sniff(path)
    return found.refusal() if found else None


def sniff_bytes(head: bytes, *, whole: bool = False, inner: bool = False) -> Sniffed:
    """What a file that begins with ``head`` looks like; ``whole`` when ``head`` is the whole file,
    ``inner`` when it is the unpacked start of a compressed file (which is not unpacked again)."""
    if not head:
        return Sniffed("is empty", False)
    archive = _archive(head, inner)
    if archive is not None:
        return archive
    for offset, magic, what in _NOT_EXPORTS:
        if head[offset : offset + len(magic)] == magic:
            return Sniffed(f"looks like {what}", False)
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return Sniffed(f"looks like {_RIFF[head[8:12]]}", False)
    if head[:4] == b"PAR1":
        return Sniffed("Parquet table", True)
    if not head.strip(b"\x00"):
        return Sniffed("holds only zero bytes", False)
    text = _text(head)
    if text is None:
        for offset, magic, what in _BINARY_ONLY:
            if head[offset : offset + len(magic)] == magic:
                return Sniffed(f"looks like {what}", False)
        return Sniffed("holds binary data, not text or an archive", False)
    if not text.strip():
        return Sniffed("holds only blank space" if whole else "starts with blank space only", not whole)
    return Sniffed(_text_kind(text), True)


# -- archives -------------------------------------------------------------------------------------------
def _archive(head: bytes, inner: bool) -> Sniffed | None:
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return Sniffed("zip archive", True)
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return Sniffed("7z archive", True)
    if head[257:262] == b"ustar" or _tar_checksum_ok(head):
        return Sniffed("tar archive", True)
    if inner:
        return None
    if head[:2] == b"\x1f\x8b":
        name, unpack = "gzip", zlib.decompressobj(16 + zlib.MAX_WBITS).decompress
    elif head[:3] == b"BZh" and head[3:4].isdigit():
        name, unpack = "bzip2", bz2.BZ2Decompressor().decompress
    elif head[:6] == b"\xfd7zXZ\x00":
        name, unpack = "xz", lzma.LZMADecompressor().decompress
    else:
        return None
    try:
        data = unpack(head, HEAD_BYTES)  # the start of what it holds, unpacked no further
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError):
        # damaged from the start: left to the readers, which name the damage
        return Sniffed(f"{name}-compressed file", True)
    if not data:
        return Sniffed(f"{name}-compressed file", True)
    within = sniff_bytes(data, inner=True)
    if within.readable:
        return Sniffed(f"{name}-compressed {within.kind}", True)
    return Sniffed(f"is {name}-compressed and {within.kind.removeprefix('is ')}", False)


def _tar_checksum_ok(head: bytes) -> bool:
    """Whether the first 512 bytes are a tar header whose checksum holds (old tars lack "ustar")."""
    if len(head) < 512 or not head[:100].strip(b"\x00"):
        return False
    field = head[148:156].replace(b"\x00", b" ").strip()
    try:
        stored = int(field, 8)
    except ValueError:
        return False
    block = head[:512]
    return stored == sum(block[:148]) + 8 * 32 + sum(block[156:512])


def _zip_at_end(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)  # reads only the end of the file
    except OSError:
        return False


def _zip_contents(path: Path) -> Sniffed | None:
    """Office documents are zips too; their directory (read from the end, not unpacked) tells them."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None  # damaged: left to the readers, which name the damage
    if "[Content_Types].xml" in names:
        for folder, what in (
            ("xl/", "an Excel workbook (save each sheet as CSV to read it as a table)"),
            ("word/", "a Word document"),
            ("ppt/", "a PowerPoint presentation"),
        ):
            if any(n.startswith(folder) for n in names):
                return Sniffed(f"looks like {what}", False)
    if "mimetype" in names and "content.xml" in names:
        return Sniffed("looks like an OpenDocument file (save sheets as CSV to read them as tables)", False)
    return None


# -- text -----------------------------------------------------------------------------------------------
def _text(head: bytes) -> str | None:
    """``head`` as text (UTF-8, UTF-16 with a byte-order mark, or a one-byte code page), or None when
    it is binary: NUL bytes, or more control characters than text ever holds."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return head[2 : len(head) - len(head) % 2].decode(
            "utf-16-be" if head[0] == 0xFE else "utf-16-le", "replace"
        )
    if b"\x00" in head:
        return None
    control = sum(head.count(bytes([c])) for c in _CONTROL)
    if control > _MAX_CONTROL_SHARE * len(head):
        return None
    return head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")


def _text_kind(text: str) -> str:
    body = text.lstrip()
    first = body.split("\n", 1)[0].strip()
    if body.startswith("{"):
        rest = body[len(first) :].lstrip()
        return "JSON Lines text" if _parses(first) and rest.startswith("{") else "JSON text"
    if body.startswith("["):
        after = body[1:].lstrip()[:1]
        if after in ("{", "[", '"', "]") or _parses(first):
            return "JSON text"
        return "plain text"  # a chat log's "[12:00] <ann> hello"
    if body.startswith("<"):
        return (
            "HTML text"
            if body[:100].lower().lstrip("<!").startswith(("doctype html", "html"))
            else "XML text"
        )
    if body.startswith("From "):
        return "mbox text"
    if ":" in first and first.split(":", 1)[0].replace("-", "").isalpha():
        return "e-mail or header text"
    if any(d in first for d in (",", ";", "\t", "|")):
        return "CSV text"
    return "plain text"


def _parses(line: str) -> bool:
    try:
        loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


__all__ = ["HEAD_BYTES", "READS", "Sniffed", "refusal", "sniff", "sniff_bytes"]
