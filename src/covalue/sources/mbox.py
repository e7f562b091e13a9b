"""Mailing lists: mbox (plain or .gz), maildir folders, Mailman pipermail and HyperKitty monthly archives,
groups.io ``messages.zip``, single ``.eml`` messages, or a folder mixing them.

Every file is sniffed rather than trusted by its name: an mbox starts with a ``From `` envelope line, a
single message with RFC 822 headers, a zip or gzip with their magic bytes. Anything else in a folder
(a pipermail ``index.html``, API JSON such as groups.io's ``login``) is not mail and is named in the
ingest's messages, not read.

Streaming: an mbox is split by hand, line by line, on envelope lines (``From <sender> <date with a time
and a year>``), so a multi-gigabyte archive never sits in memory; only one message does (and a message
over :data:`MAX_MESSAGE_BYTES` is refused). Lines escaped as ``>From `` are unescaped.

Threads come from ``In-Reply-To`` and ``References``; a message with neither whose subject starts with
``Re:`` joins the earliest message read with the same normalised subject. Thread roots are ``post``
items, the rest ``reply`` items (whether a post asks a question is decided later, from its text). The
thread maps hold one entry per message id for the whole read: about 200 bytes a message.

People are keyed by their lower-cased address (pipermail's ``jane at example.org`` is turned back into
an address); the address itself is only kept as a keyed hash. Lists with DMARC mitigation (Mailman 3,
groups.io, Google Groups) rewrite ``From`` to ``"Jane Doe via Some-List" <some-list@lists.example.org>``;
when ``From`` is the list's own address (its ``List-Post`` or ``List-Id``) or has that "via" form, the
person is read from ``X-Original-From`` or ``Reply-To``, else keyed by the name before " via " within
that list (see :func:`original_sender`), and the ingest says how many senders were recovered so. The
list (``List-Id``, else the file or folder name) is a space, and its ``List-Id`` names the community. Text: ``text/plain`` is preferred, else HTML turned into text; other parts are
counted as attachments. Any charset is read: a wrong or unknown declared charset falls back to UTF-8,
then Windows-1252, and the ingest says how many messages needed it. A message with no ``From``, no usable
``Date`` or headers that cannot be parsed becomes a reject row naming its file and position. The text is
stored whole; its words and links are counted without the quoted message, attribution and signature
(:mod:`covalue.quoting`), so that a one-line reply under a long quote is a short message.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import gzip
import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import IO

from covalue.identity import looks_like_bot
from covalue.quoting import own_text
from covalue.sources.archive import Refused, ZipArchive
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, iter_files
from covalue.sources.mailmessage import (
    IS_REPLY,
    MSGID,
    decode_words,
    list_label,
    message_body,
    normalise_subject,
    original_sender,
    parse_from,
    raw_headers,
    recovered_warning,
    sent_at,
    split_list_id,
)
from covalue.sources.naming import export_name

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_PIECE = 1024 * 1024
_ENVELOPE = re.compile(rb"^From \S.*\b\d{1,2}:\d{2}(?::\d{2})?\b.*\b\d{4}\b")
_ESCAPED_FROM = re.compile(rb"^>(>*From )")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]?")
_MAIL_HEADERS = (b"from:", b"date:", b"message-id:", b"subject:", b"received:", b"return-path:", b"to:")
_GENERIC_STEMS = {"messages", "mbox", "inbox", "archive", "mail", "cur", "new"}
_ARCHIVE_SUFFIXES = (".mbox.gz", ".txt.gz", ".mbox", ".mbx", ".txt", ".eml", ".gz", ".zip", ".mail")
_POLICY = email.policy.default
_READ_ERRORS = (EOFError, OSError, zlib.error, Refused)


# -- splitting -------------------------------------------------------------------------------------------
@dataclass
class RawMessage:
    """One message cut out of an mbox: its 1-based position, byte offset of its envelope line, bytes."""

    index: int
    offset: int
    data: bytes
    oversized: bool = False


class MboxSplitter:
    """Cuts an mbox byte stream into messages without loading it.

    ``lines`` may be a binary file or any iterable of byte lines; a file is read in pieces of at most
    :data:`_PIECE` bytes, so a file without newlines cannot fill the memory either (a piece that does
    not end a line is never taken for an envelope line). After iteration, ``preamble`` holds non-blank
    bytes found before the first envelope line (a file that is not really an mbox), ``error`` the read
    error that ended the stream early (a truncated .gz) and ``truncated`` the message that was being
    read when it happened.
    """

    def __init__(self, lines: Iterable[bytes] | IO[bytes], max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        readline = getattr(lines, "readline", None)
        self._lines: Iterable[bytes] = iter(lambda: readline(_PIECE), b"") if readline else lines
        self.max_bytes = max_bytes
        self.preamble = b""
        self.error: BaseException | None = None
        self.truncated: RawMessage | None = None

    def __iter__(self) -> Iterator[RawMessage]:
        buf: list[bytes] = []
        size = 0
        index = 0
        offset = 0
        start = -1
        oversized = False
        at_line_start = True
        it = iter(self._lines)
        while True:
            try:
                line = next(it)
            except StopIteration:
                break
            except _READ_ERRORS as e:
                self.error = e
                if start >= 0:
                    self.truncated = RawMessage(index, start, b"".join(buf), oversized)
                return
            n = len(line)
            starts_line, at_line_start = at_line_start, line.endswith(b"\n")
            if starts_line and line.startswith(b"From ") and _ENVELOPE.match(line):
                if start >= 0:
                    yield RawMessage(index, start, b"".join(buf), oversized)
                elif buf:
                    self.preamble = b"".join(buf).strip()[:300]
                index += 1
                start = offset
                buf, size, oversized = [], 0, False
            else:
                if starts_line and start >= 0 and line.startswith(b">") and _ESCAPED_FROM.match(line):
                    line = line[1:]
                size += len(line)
                if size > self.max_bytes:
                    oversized = True
                elif start >= 0 or len(buf) < 64:
                    buf.append(line)
            offset += n
        if start >= 0:
            yield RawMessage(index, start, b"".join(buf), oversized)
        elif buf:
            self.preamble = b"".join(buf).strip()[:300]


# -- sniffing --------------------------------------------------------------------------------------------
def _sniff_bytes(head: bytes) -> str | None:
    """'mbox', 'message' or None for the first bytes of a (decompressed) file."""
    body = head.lstrip(b"\r\n\t ")
    if not body:
        return None
    first = body.split(b"\n", 1)[0]
    if first.startswith(b"From ") and _ENVELOPE.match(first):
        return "mbox"
    if body[:1] in (b"{", b"[", b"<"):
        return None
    header_block = body.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    lines = header_block.split(b"\n")
    if not _HEADER_LINE.match(lines[0]):
        return None
    names = {ln.split(b":", 1)[0].lower() + b":" for ln in lines if _HEADER_LINE.match(ln)}
    return "message" if len(names.intersection(_MAIL_HEADERS)) >= 2 and b"from:" in names else None


def sniff(path: Path) -> str | None:
    """What kind of mail file ``path`` is: 'mbox', 'message', 'gzip', 'zip' or None (not mail)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                inner = gz.read(8192)
        except (EOFError, OSError, zlib.error):
            inner = b""
        return "gzip" if _sniff_bytes(inner) else None
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        try:
            with ZipArchive(path) as z:
                for name in z.names():
                    with z.open(name) as fh:
                        if name.lower().endswith((".mbox", ".eml")) or _sniff_bytes(fh.read(8192)):
                            return "zip"
        except (ReaderError, *_READ_ERRORS):
            return None
        return None
    return _sniff_bytes(head)


# -- naming -------------------------------------------------------------------------------------------


def _instance(path: Path) -> str:
    """The source name: the folder's name, or the file's stem unless that is generic or a month
    (``2016-April.txt``, ``messages.zip``), in which case the folder holding it names the list."""
    return export_name(
        path,
        _ARCHIVE_SUFFIXES,
        lambda stem: stem.lower() in _GENERIC_STEMS or re.search(r"(19|20)\d\d", stem) is not None,
        "mail",
    )


def _maildir_tmp(f: Path) -> bool:
    parent = f.parent
    return parent.name == "tmp" and (parent.parent / "cur").is_dir() and (parent.parent / "new").is_dir()


# -- the reader ------------------------------------------------------------------------------------------
class MailReader(Reader):
    name = "mbox"
    description = "Mailing lists: mbox (.gz), maildir, pipermail, HyperKitty, groups.io messages.zip, .eml"

    @classmethod
    def detect_file(cls, path: Path) -> float:
        return {"mbox": 0.9, "gzip": 0.9, "zip": 0.85, "message": 0.8}.get(sniff(path) or "", 0.0)

    @classmethod
    def detect_folder(cls, path: Path) -> float:
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return 0.9
        for n, f in enumerate(p for p in path.rglob("*") if p.is_file()):
            if sniff(f):
                return 0.8
            if n >= 40:
                break
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        if path.is_file() and sniff(path) is None:
            raise ReaderError(
                f"{path}: not a mail archive (no mbox 'From ' line, mail headers, gzip or zip of mail)"
            )
        run = _MailRun(sink, path)
        # a maildir's tmp/ holds messages still being delivered: they show up in new/ once complete
        files = [f for f in iter_files(path) if not _maildir_tmp(f)]
        sink.set_total(len(files))
        skipped: list[str] = []
        for f in files:
            kind = sniff(f)
            loc = run.loc(f)
            if kind is None:
                skipped.append(loc)
            elif kind == "zip":
                run.read_zip(f, loc)
            elif kind == "gzip":
                run.read_mbox_file(f, loc, compressed=True)
            elif kind == "mbox":
                run.read_mbox_file(f, loc, compressed=False)
            else:
                run.read_single(f, loc)
            sink.advance(1)
        if skipped:
            shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
            sink.warn(f"mbox: {len(skipped)} files are not mail and were not read: {shown}")
        run.finish()


class _MailRun:
    """Thread maps, counters and row writing for one read."""

    def __init__(self, sink: Sink, root: Path) -> None:
        self.sink = sink
        self.root = root
        self.default_space = _instance(root)
        self._src: SourceSink | None = None
        self._list_name: str | None = None  # the first List-Id read: the community's name
        self.thread_of: dict[str, str] = {}  # message native id -> thread root native id
        self.by_subject: dict[str, str] = {}  # normalised subject -> earliest root native id
        self.duplicates = 0
        self.charset_fallbacks = 0

    @property
    def src(self) -> SourceSink:
        """The source, made on first use so that the first ``List-Id`` read can name the community
        (the file or folder name names it only when no message says which list it came from)."""
        if self._src is None:
            self._src = self.sink.source("mbox", self.default_space, community=self._list_name)
        return self._src

    def loc(self, f: Path) -> str:
        if self.root.is_dir():
            try:
                return str(f.relative_to(self.root))
            except ValueError:
                return str(f)
        return f.name

    # -- inputs ----------------------------------------------------------------------------------
    def read_mbox_file(self, f: Path, loc: str, *, compressed: bool) -> None:
        try:
            with gzip.open(f, "rb") if compressed else f.open("rb") as fh:
                self._read_split(MboxSplitter(fh), loc)
        except OSError as e:  # the file could not even be opened (errors while reading are kept per message)
            self.src.reject(loc, f"file cannot be opened: {e}")

    def _read_split(self, splitter: MboxSplitter, loc: str) -> None:
        for raw in splitter:
            self.message(raw, loc)
        if splitter.preamble:
            self.src.reject(
                f"{loc}:start",
                "text before the first 'From ' line is not a message",
                splitter.preamble.decode("utf-8", "replace"),
            )
        if splitter.error is not None:
            cut = splitter.truncated
            where = f"{loc}:message {cut.index} (byte {cut.offset})" if cut else f"{loc}:end"
            self.src.reject(
                where,
                f"file is truncated or damaged ({splitter.error}); the messages before this "
                "point were kept and this one is incomplete",
                cut.data[:300].decode("utf-8", "replace") if cut else None,
            )

    def read_zip(self, f: Path, loc: str) -> None:
        try:
            z = ZipArchive(f)
        except ReaderError as e:
            self.src.reject(loc, str(e))
            return
        with z:
            for r in z.refused:
                self.src.reject(f"{loc}:{r.name}", r.reason)
            for name in z.names():
                try:
                    with z.open(name) as fh:
                        head = fh.read(8192)
                except _READ_ERRORS as e:
                    self.src.reject(f"{loc}:{name}", f"entry cannot be read: {e}")
                    continue
                kind = _sniff_bytes(head)
                if kind is None:
                    if head.strip():
                        self.sink.warn(f"mbox: {loc}:{name} is not mail and was not read")
                    continue
                with z.open(name) as fh:
                    if kind == "mbox":
                        self._read_split(MboxSplitter(fh), f"{loc}:{name}")
                    else:
                        try:
                            data = fh.read(MAX_MESSAGE_BYTES + 1)
                        except _READ_ERRORS as e:
                            self.src.reject(f"{loc}:{name}", f"entry cannot be read: {e}")
                            continue
                        self.message(RawMessage(1, 0, data, len(data) > MAX_MESSAGE_BYTES), f"{loc}:{name}")

    def read_single(self, f: Path, loc: str) -> None:
        try:
            with f.open("rb") as fh:
                data = fh.read(MAX_MESSAGE_BYTES + 1)
        except OSError as e:
            self.src.reject(loc, f"file cannot be read: {e}")
            return
        self.message(RawMessage(1, 0, data, len(data) > MAX_MESSAGE_BYTES), loc, single=True)

    # -- one message -----------------------------------------------------------------------------
    def message(self, raw: RawMessage, loc: str, *, single: bool = False) -> None:
        where = loc if single else f"{loc}:message {raw.index} (byte {raw.offset})"
        excerpt = raw.data[:300].decode("utf-8", "replace")
        if raw.oversized:
            self.src.reject(where, f"message is larger than {MAX_MESSAGE_BYTES:,} bytes; refused", excerpt)
            return
        try:
            msg = email.message_from_bytes(raw.data, policy=_POLICY)
        except Exception as e:  # the email package raises many kinds on hostile input
            self.src.reject(where, f"headers cannot be parsed ({type(e).__name__}: {e})", excerpt)
            return
        if not isinstance(msg, EmailMessage) or not msg.keys():
            self.src.reject(where, "no mail headers found", excerpt)
            return
        headers = raw_headers(msg)
        if self._src is None and self._list_name is None and headers.get("list-id"):
            self._list_name = list_label(headers["list-id"])
        from_value = headers.get("from")
        if not from_value or not from_value.strip():
            self.src.reject(where, "message has no From header", excerpt)
            return
        addr, name = parse_from(from_value)
        if addr is None and name is None:
            self.src.reject(where, "From header holds no address or name", excerpt)
            return
        date_value = headers.get("date")
        created = sent_at(msg, date_value)
        if created is None:
            reason = (
                "message has no Date header"
                if date_value is None or not date_value.strip()
                else f"Date header cannot be read: {date_value.strip()[:80]!r}"
            )
            self.src.reject(where, reason, excerpt)
            return
        try:
            self._item(msg, headers, raw, addr, name, created)
        except Exception as e:  # a structurally broken MIME tree: keep the reason, go on with the rest
            self.src.reject(where, f"message body cannot be read ({type(e).__name__}: {e})", excerpt)

    def _item(
        self,
        msg: EmailMessage,
        headers: dict[str, str],
        raw: RawMessage,
        addr: str | None,
        name: str | None,
        created: datetime,
    ) -> None:
        ids = MSGID.findall(headers.get("message-id") or "")
        native = ids[0] if ids else (headers.get("message-id") or "").strip()
        if not native:
            # no usable Message-ID: a hash of the message is as stable across re-ingests
            native = "sha:" + hashlib.blake2b(raw.data, digest_size=16).hexdigest()
        if native in self.thread_of:
            self.duplicates += 1
            return
        subject = " ".join(decode_words(headers.get("subject") or "").split())
        reply_to = MSGID.findall(headers.get("in-reply-to") or "")
        refs = MSGID.findall(headers.get("references") or "")
        parent = next((r for r in [*reply_to[:1], *reversed(refs)] if r != native), None)
        norm = normalise_subject(subject)
        if parent is not None:
            root = self.thread_of.get(parent) or (refs[0] if refs and refs[0] != native else parent)
            root = self.thread_of.get(root, root)
        elif norm and IS_REPLY.match(subject) and norm in self.by_subject:
            parent = self.by_subject[norm]
            root = self.thread_of.get(parent, parent)
        else:
            root = native
            if norm:
                self.by_subject.setdefault(norm, native)
        self.thread_of[native] = root
        key = addr or f"name:{name}"
        recovered = original_sender(headers, addr, name)
        if recovered is not None:
            key, name, addr = recovered
        author = self.src.person(
            key,
            display_name=name,
            email=addr,
            is_bot=looks_like_bot(name) or looks_like_bot((addr or "").split("@")[0]),
        )
        if recovered is not None:
            self.src.recovered_senders.add(author)
        space = self._space(headers.get("list-id"), headers.get("newsgroups"))
        text, attachments, fallback = message_body(msg)
        self.charset_fallbacks += fallback
        self.src.item(
            native,
            kind="post" if parent is None else "reply",
            created_at=created,
            author_id=author,
            space_id=space,
            thread_id=self.src.item_ref(root),
            parent_id=self.src.item_ref(parent) if parent else None,
            title=subject or None,
            text=text,
            own_text=own_text(text),
            n_attachments=attachments,
        )

    def _space(self, list_id: str | None, newsgroups: str | None) -> str:
        if not list_id and newsgroups and newsgroups.split(",")[0].strip():
            group = newsgroups.split(",")[0].strip()
            return self.src.space(f"list:{group.lower()}", group, "list")
        if list_id:
            ident, label = split_list_id(list_id)
            if ident:
                return self.src.space(f"list:{ident.lower()}", label or ident, "list")
        return self.src.space(f"list:{self.default_space.lower()}", self.default_space, "list")

    def finish(self) -> None:
        if self._src is not None and self._src.recovered_senders:
            self.sink.warn(recovered_warning("mbox", len(self._src.recovered_senders)))
        self.sink.warn_counts(
            "mbox",
            (self.duplicates, "messages appeared more than once (same Message-ID); each was read once"),
            (
                self.charset_fallbacks,
                "messages declared no charset, a wrong one or an unknown one; their text was decoded as "
                "UTF-8 or else Windows-1252",
            ),
        )
