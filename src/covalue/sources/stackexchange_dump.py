"""What a Stack Exchange dump holds and how its XML files are read: the tables and their file names, the
root element that says which table a file is, and a byte stream that repairs what XML parsers refuse."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from covalue.sources.base import file_head

#: the tables that become canonical rows, by root element name
CANONICAL = ("users", "posts", "comments", "votes")


#: the tables a dump also carries, and why they are not read into canonical rows
NOT_CANONICAL = {
    "posthistory": "edit history, revisions of posts already read from Posts.xml",
    "postlinks": "links between posts, such as duplicates, which are not contributions",
    "badges": "awards the site computed from activity already read",
    "tags": "the tag list; tag wikis are read from Posts.xml as pages",
}


ROOTS = (*CANONICAL, *NOT_CANONICAL)


FILE_NAMES = {
    "users": "Users.xml",
    "posts": "Posts.xml",
    "comments": "Comments.xml",
    "votes": "Votes.xml",
    "posthistory": "PostHistory.xml",
    "postlinks": "PostLinks.xml",
    "badges": "Badges.xml",
    "tags": "Tags.xml",
}


BY_STEM = {v[:-4].lower(): k for k, v in FILE_NAMES.items()}


XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.-]*)")


_MARKUP = re.compile(rb"<(\?|!--|!|[A-Za-z_])")


DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)


_BAD_CHARS = re.compile("[\udc80-\udcff]+")  # undecodable bytes, as surrogateescape leaves them


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed anywhere in XML 1.0


_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


PEEK = 1 << 20  # before parsing: how far to look for a DOCTYPE


CHUNK = 1 << 20


def peek(path: Path, size: int = PEEK) -> bytes:
    return file_head(path, size)


def strip_bom(head: bytes) -> bytes:
    return head[3:] if head.startswith(codecs.BOM_UTF8) else head


def root_name(head: bytes) -> str | None:
    """The root element of an XML document from its first bytes (declaration, comments and DOCTYPE
    skipped), lower-cased; None when there is none in sight."""
    head = strip_bom(head)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    pos = 0
    while (m := _MARKUP.search(head, pos)) is not None:
        token = m.group(1)
        if token in (b"?", b"!--", b"!"):
            closing = {b"?": b"?>", b"!--": b"-->", b"!": b">"}[token]
            end = head.find(closing, m.end())
            if end < 0:
                return None
            pos = end + len(closing)
            continue
        name = _ROOT_TAG.match(head, m.start())
        return name.group(1).decode("ascii", errors="replace").lower() if name else None
    return None


@dataclass
class Site:
    """One site to read: XML files by table, archives still to unpack, and which tables to write."""

    name: str
    xml: dict[str, Path] = field(default_factory=dict)
    archives: list[Path] = field(default_factory=list)
    #: tables whose rows are written; the others only serve as lookups (None: all)
    emit: set[str] | None = None


class XmlStream:
    """A file seen through a UTF-8 check: undecodable bytes and characters XML forbids become U+FFFD
    (recorded with their line), so one bad byte costs a character, not the rest of the file. Also
    reports every chunk read to the progress bar."""

    def __init__(self, fh: IO[bytes], advance: Callable[[int], None], repair: bool) -> None:
        self._fh = fh
        self._advance = advance
        self._repair = repair
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.line = 1
        self.bad: list[tuple[int, str]] = []  # (line, excerpt) of the first repaired spots
        self.n_bad = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(CHUNK)  # lxml takes chunks larger than it asked for and keeps the rest
        self._advance(len(data))
        if not self._repair:
            return data
        text = self._decoder.decode(data, final=not data)
        # fast checks first (C speed): undecodable bytes make encode fail, control bytes shorten translate
        try:
            out = text.encode("utf-8")
            clean = len(out.translate(None, _CONTROL_BYTES)) == len(out) and b"\xef\xbf\xbe" not in out
            clean = clean and b"\xef\xbf\xbf" not in out
        except UnicodeEncodeError:
            clean = False
        if not clean:
            out = self._fix(text).encode("utf-8")
        self.line += out.count(b"\n")
        return out

    def _fix(self, text: str) -> str:
        for pattern in (_BAD_CHARS, _CONTROL):
            for m in pattern.finditer(text):
                self.n_bad += 1
                if len(self.bad) < _MAX_BYTE_REJECTS:
                    line = self.line + text.count("\n", 0, m.start())
                    around = text[max(0, m.start() - 40) : m.end() + 40]
                    excerpt = around.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    self.bad.append((line, excerpt))
            text = pattern.sub("\ufffd", text)
        return text


_MAX_BYTE_REJECTS = 100  # per file: undecodable lines recorded one by one, the rest summed up
