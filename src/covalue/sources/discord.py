"""Discord, as DiscordChatExporter writes it: CSV pages or JSON channel files, loose or in a zip / tar.

CSV (``AuthorID;Author;Date;Content;Attachments;Reactions``) has no message ids and no reply structure:
every message becomes a post, reactions arrive as counts per emoji (``👍 (2),KMD (1)``) and become one
aggregated ``react`` action per emoji whose ``value`` is the count and whose actor is unknown. JSON carries
ids, replies (``reference.messageId``), bots (``author.isBot``), mentions and, in recent versions, the
users behind each reaction.

Archives are streamed entry by entry (a tar.gz is never unpacked to disk), so memory stays bounded by one
CSV page or one JSON channel file. The helpers at the top (:func:`iter_export_files`, :func:`csv_rows`)
are shared with the other chat readers of this package.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar

import orjson

from covalue import identity
from covalue.sources import archive
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, iter_files, slug, to_utc

# -- shared helpers: walking an export, decoding text, CSV rows ---------------------------------------

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


# -- Discord-specific parsing ----------------------------------------------------------------------

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_DCE_DATE = re.compile(
    r"(\d{1,2})-([A-Za-z]{3})-(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\Z"
)
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\Z")
_REACTION = re.compile(r"\s*(.+?)\s*\((\d+)\)\s*(?:,|\Z)", re.S)
_BOT_TAG = re.compile(r"(?:^|\W)BOT(?:\W|$)")


def _clock(h: int, ampm: str | None) -> int:
    if ampm is None:
        return h
    if not 1 <= h <= 12:
        raise ValueError("hour out of range for a 12-hour clock")
    pm = ampm.lower() == "pm"
    return (h % 12) + (12 if pm else 0)


def parse_date(value: str) -> datetime | None:
    """A DiscordChatExporter date: ``28-Nov-19 04:56 PM`` (its CSV default), ``11/28/2019 4:56 PM`` or
    ISO 8601. The exporter writes local time without an offset; it is taken as UTC. None when unusable."""
    s = value.strip()
    if not s:
        return None
    try:
        m = _DCE_DATE.match(s)
        if m:
            d, mon, y, h, mi, sec, ampm = m.groups()
            month = _MONTHS.get(mon.lower())
            if month is None:
                return None
            year = int(y) + (2000 if len(y) == 2 else 0)
            return datetime(year, month, int(d), _clock(int(h), ampm), int(mi), int(sec or 0))
        m = _US_DATE.match(s)
        if m:
            mo, d, y, h, mi, sec, ampm = m.groups()
            return datetime(int(y), int(mo), int(d), _clock(int(h), ampm), int(mi), int(sec or 0))
    except ValueError:
        return None
    return to_utc(s)


def parse_reactions(value: str) -> list[tuple[str, int]] | None:
    """``👍 (2),KMD (1)`` → [("👍", 2), ("KMD", 1)]; [] when empty; None when it does not parse."""
    s = value.strip()
    if not s:
        return []
    out: list[tuple[str, int]] = []
    pos = 0
    while pos < len(s):
        m = _REACTION.match(s, pos)
        if not m or m.end() == pos:
            return None
        out.append((m.group(1), int(m.group(2))))
        pos = m.end()
    return out


def is_bot_name(name: str | None) -> bool:
    """Discord shows bots with a ``BOT`` tag; exports keep it in some names. Else the usual name rules."""
    if not name:
        return False
    base = name.rsplit("#", 1)[0]
    return bool(_BOT_TAG.search(base)) or identity.looks_like_bot(base)


_FILE_NAME = re.compile(r"^(?P<guild>.*?) - (?P<rest>.*) \[(?P<id>\d+)\](?: \[part (?P<part>\d+)\])?$")


@dataclass
class _Row:
    line: int
    author_id: str
    author: str
    date_text: str
    ts: datetime
    content: str
    attachments: str
    reactions: list[tuple[str, int]]


class DiscordReader(Reader):
    name: ClassVar[str] = "discord"
    description: ClassVar[str] = (
        "Discord exports from DiscordChatExporter (CSV or JSON; file, folder, zip, tar.gz)"
    )

    _SUFFIXES = (".csv", ".json")

    @classmethod
    def detect(cls, path: Path) -> float:
        for name, head in peek_export_files(path, cls._SUFFIXES):
            text = decode(head)[0]
            if name.lower().endswith(".csv"):
                first = text.split("\n", 1)[0].replace('"', "").lower()
                cols = [c.strip() for c in re.split(r"[;,]", first)]
                if {"author", "date", "content"} <= set(cols) and ("authorid" in cols or "reactions" in cols):
                    return 0.95
            elif '"guild"' in text and '"channel"' in text and '"messages"' in text:
                return 0.95
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        default_instance = (
            re.sub(r"\.(tar\.gz|tgz|tar|zip|csv|json)$", "", path.name, flags=re.I) or "discord"
        )
        self._default_source = f"discord:{slug(default_instance)}"
        self._default_instance = default_instance
        self._sink = sink
        # per channel: counts of messages sitting in the first or last minute of a page (see _emit_group)
        self._edges: dict[str, dict[str, int]] = {}
        self._authors: dict[tuple[str, str], str] = {}  # (source, CSV author id) -> identity id
        found = False
        for name, stream in iter_export_files(
            path, sink, self._default_source, suffixes=self._SUFFIXES, settings=self.settings
        ):
            found = True
            try:
                if name.lower().endswith(".csv"):
                    self._read_csv(name, stream)
                else:
                    self._read_json(name, stream)
            except READ_ERRORS as e:
                sink.reject(
                    self._default_source, name, f"file could not be read to the end ({e}); rows before kept"
                )
        if not found:
            raise ReaderError(f"{path}: no DiscordChatExporter .csv or .json files found")

    # -- CSV ---------------------------------------------------------------------------------------
    def _channel_of(self, name: str) -> tuple[str, str]:
        """(space key, space name) from a file's place: ``<category>/<channel>/<page>.csv`` or the
        exporter's own file name ``Guild - Category - channel [id].csv``."""
        p = PurePosixPath(name)
        m = _FILE_NAME.match(p.stem)
        if m:
            rest = m.group("rest")
            cat, _, chan = rest.rpartition(" - ")
            label = f"{cat}/{chan}" if cat else chan
            return m.group("id"), label
        parts = [x for x in p.parts[:-1] if x not in ("", ".")]
        if parts and parts[0].lower() in ("csv", "json") and len(parts) > 1:
            parts = parts[1:]
        if len(parts) >= 2:
            label = f"{parts[-2]}/{parts[-1]}"
        elif parts:
            label = parts[-1]
        else:
            label = p.stem
        return label, label

    def _read_csv(self, name: str, stream: IO[bytes]) -> None:
        # the exporter's own file names start with the server's name; folders of pages do not
        m = _FILE_NAME.match(PurePosixPath(name).stem)
        src = self._sink.source("discord", m.group("guild") if m else self._default_instance)
        space_key, space_name = self._channel_of(name)
        space_id = src.space(space_key, space_name, kind="channel")

        def reject(loc: str, reason: str, excerpt: Any) -> None:
            src.reject(loc, reason, excerpt)

        rows = csv_rows(stream, name, reject)
        header = next(rows, None)
        if header is None:
            src.reject(name, "empty file: no header line")
            return
        cols = [c.strip().lower() for c in header[1]]
        idx = {c: i for i, c in enumerate(cols) if c}
        if not {"author", "date", "content"} <= set(idx):
            src.reject(
                f"{name}:1",
                "not a DiscordChatExporter CSV header (needs Author, Date, Content)",
                ";".join(header[1]),
            )
            return
        i_aid = idx.get("authorid", idx["author"])
        i_author, i_date, i_content = idx["author"], idx["date"], idx["content"]
        i_att, i_react = idx.get("attachments"), idx.get("reactions")
        width = len(cols)
        group: list[_Row] = []
        first_group = True
        dates: dict[str, datetime | None] = {}  # a page holds few distinct minutes: parse each once
        for line, row in rows:
            if len(row) != width and not (len(row) == width - 1 and cols[-1] == ""):
                src.reject(
                    f"{name}:{line}", f"expected {width} fields, found {len(row)}", ";".join(row)[:200]
                )
                continue
            author_id = row[i_aid].strip()
            if not author_id:
                src.reject(f"{name}:{line}", "no author", ";".join(row)[:200])
                continue
            date_text = row[i_date].strip()
            ts = dates.get(date_text)
            if ts is None:
                ts = dates[date_text] = parse_date(date_text)
            if ts is None:
                src.reject(f"{name}:{line}", f"date not understood: {date_text[:40]!r}", ";".join(row)[:200])
                continue
            reactions: list[tuple[str, int]] = []
            if i_react is not None and row[i_react]:
                parsed = parse_reactions(row[i_react])
                if parsed is None:
                    src.reject(
                        f"{name}:{line}",
                        "reactions not understood; message kept without them",
                        row[i_react][:200],
                    )
                else:
                    reactions = parsed
            r = _Row(
                line,
                author_id,
                row[i_author],
                date_text,
                ts,
                row[i_content],
                row[i_att] if i_att is not None else "",
                reactions,
            )
            if group and group[0].date_text != date_text:
                self._emit_group(src, space_key, space_id, group, edge=first_group)
                first_group = False
                group = []
            group.append(r)
        if group:
            self._emit_group(src, space_key, space_id, group, edge=True)

    def _emit_group(
        self, src: SourceSink, space_key: str, space_id: str, group: list[_Row], *, edge: bool
    ) -> None:
        """Write the messages of one minute of one page.

        CSV has no message ids, so an id is built from what the message is (channel, author, minute, text,
        attachments) plus its rank among identical messages. Identical messages in the same minute can only
        be split across two pages at a page's first or last minute, so only those minutes are remembered
        per channel (whatever order the pages come in); the rest are ranked within the minute.
        """
        counts = self._edges.setdefault(space_key, {}) if edge else {}
        for r in group:
            key = identity.stable_id(r.author_id, r.date_text, r.content, r.attachments)
            k = counts.get(key, 0)
            counts[key] = k + 1
            native = f"{space_key}:{key}:{k}"
            author = self._authors.get((src.source, r.author_id))
            if author is None:
                author = src.person(r.author_id, display_name=r.author or None, is_bot=is_bot_name(r.author))
                self._authors[(src.source, r.author_id)] = author
            n_att = len([a for a in r.attachments.split(",") if a.strip()]) if r.attachments else 0
            iid = src.item(
                native,
                kind="post",
                created_at=r.ts,
                author_id=author,
                space_id=space_id,
                text=r.content,
                n_attachments=n_att,
            )
            seen: dict[str, int] = {}
            for emoji, n in r.reactions:
                # two custom emoji of different servers may share a name: rank them to keep both
                j = seen[emoji] = seen.get(emoji, -1) + 1
                src.action(
                    f"{native}:react:{emoji}:{j}",
                    verb="react",
                    ts=r.ts,
                    actor_id=None,
                    space_id=space_id,
                    item_id=iid,
                    target_id=author,
                    value=float(n),
                    detail=emoji,
                )

    # -- JSON --------------------------------------------------------------------------------------
    def _read_json(self, name: str, stream: IO[bytes]) -> None:
        text, had_bad = decode(stream.read())
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            self._sink.reject(self._default_source, name, f"not valid JSON ({e})", text[:200])
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            self._sink.reject(
                self._default_source,
                name,
                "not a DiscordChatExporter JSON file (no 'messages' list)",
                text[:200],
            )
            return
        guild = doc.get("guild") if isinstance(doc.get("guild"), dict) else {}
        instance = str(guild.get("name") or guild.get("id") or self._default_instance)
        src = self._sink.source("discord", instance)
        if had_bad:
            src.reject(name, "invalid UTF-8 bytes replaced with U+FFFD; file kept")
        chan = doc.get("channel") if isinstance(doc.get("channel"), dict) else {}
        cname = str(chan.get("name") or PurePosixPath(name).stem)
        cat = chan.get("category")
        label = f"{cat}/{cname}" if cat else cname
        space_id = src.space(str(chan.get("id") or label), label, kind="channel")
        roots: dict[str, str] = {}
        for i, m in enumerate(doc["messages"]):
            loc = f"{name}:messages[{i}]"
            try:
                self._json_message(src, space_id, m, roots)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                src.reject(loc, f"message not understood ({type(e).__name__}: {e})", orjson.dumps(m)[:200])

    def _json_person(self, src: SourceSink, user: dict[str, Any]) -> str:
        name = user.get("name")
        disc = user.get("discriminator")
        display = user.get("nickname") or (f"{name}#{disc}" if name and disc and disc != "0000" else name)
        return src.person(
            str(user["id"]), display_name=display, is_bot=bool(user.get("isBot")) or is_bot_name(name)
        )

    def _json_message(self, src: SourceSink, space_id: str, m: dict[str, Any], roots: dict[str, str]) -> None:
        mid = str(m["id"])
        author = self._json_person(src, m["author"])
        ts = to_utc(m.get("timestamp"))
        if ts is None:
            raise ValueError(f"timestamp not understood: {m.get('timestamp')!r}")
        mtype = str(m.get("type") or "Default")
        if mtype == "GuildMemberJoin":
            src.action(f"{mid}:join", verb="join", ts=ts, actor_id=author, space_id=space_id, detail=mtype)
            return
        if mtype not in ("Default", "Reply"):
            src.action(
                f"{mid}:system", verb="system", ts=ts, actor_id=author, space_id=space_id, detail=mtype
            )
            return
        ref = m.get("reference") or {}
        parent_native = ref.get("messageId") if isinstance(ref, dict) else None
        parent_id = thread_id = None
        kind = "post"
        if parent_native:
            parent_native = str(parent_native)
            kind = "reply"
            parent_id = src.item_ref(parent_native)
            thread_id = roots.get(parent_native, parent_id)
        roots[mid] = thread_id or src.item_ref(mid)
        atts = m.get("attachments") or []
        iid = src.item(
            mid,
            kind=kind,
            created_at=ts,
            author_id=author,
            space_id=space_id,
            parent_id=parent_id,
            thread_id=thread_id,
            text=m.get("content") or "",
            n_attachments=len(atts),
        )
        for r in m.get("reactions") or []:
            emoji = r.get("emoji") or {}
            ename = str(emoji.get("name") or emoji.get("code") or emoji.get("id") or "?")
            ekey = str(emoji.get("id") or ename)  # custom emoji have ids; names may repeat across servers
            users = r.get("users")
            if users:
                for u in users:
                    actor = self._json_person(src, u)
                    src.action(
                        f"{mid}:react:{ekey}:{u['id']}",
                        verb="react",
                        ts=ts,
                        actor_id=actor,
                        space_id=space_id,
                        item_id=iid,
                        target_id=author,
                        value=1.0,
                        detail=ename,
                    )
            else:
                src.action(
                    f"{mid}:react:{ekey}",
                    verb="react",
                    ts=ts,
                    actor_id=None,
                    space_id=space_id,
                    item_id=iid,
                    target_id=author,
                    value=float(r.get("count") or 1),
                    detail=ename,
                )
        for u in m.get("mentions") or []:
            target = self._json_person(src, u)
            src.action(
                f"{mid}:mention:{u['id']}",
                verb="mention",
                ts=ts,
                actor_id=author,
                space_id=space_id,
                item_id=iid,
                target_id=target,
            )
