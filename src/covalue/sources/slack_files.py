"""The files of a Slack export, zipped or unpacked: where the export's root is, what the workspace is
called, and day files parsed with the place of any error."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from covalue.sources.archive import DEFAULT_MAX_RATIO, DEFAULT_MAX_UNPACKED, Refused, ZipArchive
from covalue.sources.jsonstream import loads
from covalue.sources.naming import slack_workspace

_EXPORT_WORDS = re.compile(r"[\s_-]*slack[\s_-]*export[\s_-]*", re.I)


_DATES = re.compile(
    r"\d{4}-\d{2}-\d{2}|\d{8}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}",
    re.I,
)


_UTF8_BOM = b"\xef\xbb\xbf"


def instance_name(path: Path) -> str:
    """The workspace name an export belongs to, from its file or folder name.

    ``houstondatavis-slack-export.zip`` and ``Acme Slack export Jan 1 2020 - Dec 31 2020.zip`` give
    ``houstondatavis`` and ``Acme``.
    """
    name = path.name
    if name.lower().endswith(".zip"):
        name = name[:-4]
    name = _EXPORT_WORDS.sub(" ", name)
    name = _DATES.sub(" ", name)
    name = re.sub(r"\s+-(\s+-)*\s*|\s*-\s+", " ", name)
    name = name.strip(" -_.")
    return name or "slack"


def parse_json(data: bytes, location: str) -> tuple[Any, list[tuple[str, str]]]:
    """Decode one JSON file; returns (value or None, problems as (location, reason)).

    A file that is not UTF-8 is read as Latin-1 (every byte is then a character, nothing is lost) and
    the problem is reported; a syntax error names the line and column.
    """
    problems: list[tuple[str, str]] = []
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return loads(data), problems
    except orjson.JSONDecodeError:
        pass
    text: str | bytes = data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(
            (
                f"{location}@byte{e.start}",
                f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); "
                "read as Latin-1, check accented characters",
            )
        )
        text = data.decode("latin-1")
    try:
        return loads(text), problems
    except orjson.JSONDecodeError as e:
        # orjson also refuses what Arrow could not store later (lone surrogates, numbers beyond a double)
        problems.append((location, f"JSON syntax error at line {e.lineno}, column {e.colno}: {e.msg}"))
        return None, problems


class Files:
    """The JSON files of an export, zipped or unpacked, by their path inside the zip or folder."""

    def __init__(self, label: str, names: dict[str, int], read: Callable[[str], bytes]) -> None:
        self.label = label
        self.sizes = names
        self._read = read
        #: files already read once (to name the workspace), handed over on their next read
        self._kept: dict[str, bytes] = {}
        self._kept_bytes = 0

    def read(self, name: str) -> bytes:
        data = self._kept.pop(name, None)
        return self._read(name) if data is None else data

    def peek(self, name: str) -> bytes:
        """Read a file ahead of the export's own reading; it is kept (within a memory budget) so that
        the export's read takes it from memory instead of reading it again."""
        data = self.read(name)
        if self._kept_bytes + len(data) <= KEEP_BYTES:
            self._kept[name] = data
            self._kept_bytes += len(data)
        return data


def open_zip(path: Path, settings: Any) -> tuple[Files, ZipArchive, list[tuple[str, str]]]:
    """The zip's files, the open archive, and (location, reason) of the entries it refused."""
    ing = getattr(settings, "ingest", None)
    arc = ZipArchive(
        path,
        max_unpacked=getattr(ing, "max_unpacked_bytes", DEFAULT_MAX_UNPACKED),
        max_ratio=getattr(ing, "max_ratio", DEFAULT_MAX_RATIO),
    )
    refused = [(f"{path.name}:{r.name}", r.reason) for r in arc.refused]
    names = {n: arc.size(n) for n in arc.names()}
    return Files(path.name, names, arc.read), arc, refused


#: how many bytes of those day files are kept for the export's own read
KEEP_BYTES = 64 * 1024**2

#: day files read up front to find the workspace's subdomain in permalinks
_NAME_SCAN_FILES = 200


def workspace_name(files: Files) -> str | None:
    """The workspace's subdomain from the permalinks in its first day files, or None."""

    def texts() -> Iterator[bytes]:
        days = sorted(n for n in files.sizes if DAY.match(PurePosixPath(n).name))
        for name in days[:_NAME_SCAN_FILES]:
            try:
                yield files.peek(name)
            except (Refused, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
                continue

    return slack_workspace(texts())


def open_dir(path: Path) -> Files:
    names: dict[str, int] = {}
    for p in sorted(path.rglob("*.json")):
        if p.is_file():
            names[p.relative_to(path).as_posix()] = p.stat().st_size
    return Files(path.name, names, lambda n: (path / n).read_bytes())


def find_root(names: list[str]) -> str | None:
    """The folder inside the export holding users.json / channels.json or the day folders."""
    metas = [n for n in names if PurePosixPath(n).name in ("users.json", "channels.json")]
    if metas:
        return min((str(PurePosixPath(n).parent) for n in metas), key=len)
    days = [PurePosixPath(n) for n in names if DAY.match(PurePosixPath(n).name)]
    if days:
        return min((str(p.parent.parent) for p in days), key=len)
    return None


def under(root: str, name: str) -> str | None:
    if root == ".":
        return name
    prefix = root + "/"
    return name[len(prefix) :] if name.startswith(prefix) else None


def slack_names(names: list[str]) -> float:
    base = {PurePosixPath(n).name for n in names}
    day = any(DAY.match(PurePosixPath(n).name) and "/" in n for n in names)
    if base & {"channels.json", "users.json"}:
        return 0.95 if day else 0.8
    return 0.5 if day else 0.0


DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
