"""Stack Exchange data dumps: a site's ``.7z`` as published, its extracted folder, or its XML files.

A dump holds one XML file per table (``Posts.xml``, ``Users.xml``, ``Comments.xml``, ``Votes.xml`` and a
few the canonical tables have no place for), each a root element with one ``<row>`` per record. Files
can be tens of GB, so everything streams: archives are unpacked to a temporary folder on disk, the XML
is read with lxml ``iterparse`` and every element is cleared once read, and the cross-references a row
needs (a post's author, its question, whether it is an accepted answer) live in compact integer arrays
rather than in Python dicts.

The order inside a dump is not guaranteed (an answer may precede its question), so ``Posts.xml`` is read
twice: a first pass collects the cross-references, the second writes the items.
"""

from __future__ import annotations

import codecs
import html
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from lxml import etree
from lxml import html as lhtml

from covalue.sources.archive import DEFAULT_MAX_UNPACKED, extract_7z
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink
from covalue.sources.naming import is_se_site, se_site_from_path, se_site_from_posts

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
_FILE_NAMES = {
    "users": "Users.xml",
    "posts": "Posts.xml",
    "comments": "Comments.xml",
    "votes": "Votes.xml",
    "posthistory": "PostHistory.xml",
    "postlinks": "PostLinks.xml",
    "badges": "Badges.xml",
    "tags": "Tags.xml",
}
_BY_STEM = {v[:-4].lower(): k for k, v in _FILE_NAMES.items()}

#: hosts whose dumps are named after them (``beer.stackexchange.com.7z``, ``stackoverflow.com-Posts.7z``)
_SITE_ARCHIVE = re.compile(
    r"(stackexchange\.com|stackoverflow\.com|mathoverflow\.net|serverfault\.com|superuser\.com|"
    r"askubuntu\.com|stackapps\.com)(-[A-Za-z]+)?\.7z$",
    re.I,
)
_SPLIT_ARCHIVE = re.compile(r"^(?P<site>.+?)-(?P<table>[A-Za-z]+)\.7z$", re.I)

#: VoteTypeId -> (verb, value, detail); types not listed become ("vote", 0.0, "type_<n>")
VOTE_TYPES: dict[int, tuple[str, float | None, str]] = {
    1: ("accept", None, "accepted_by_originator"),
    2: ("vote", 1.0, "up"),
    3: ("vote", -1.0, "down"),
    4: ("vote", 0.0, "offensive"),
    5: ("follow", None, "favorite"),
    6: ("vote", 0.0, "close"),
    7: ("vote", 0.0, "reopen"),
    8: ("vote", 0.0, "bounty_start"),
    9: ("vote", 0.0, "bounty_close"),
    10: ("vote", 0.0, "deletion"),
    11: ("vote", 0.0, "undeletion"),
    12: ("vote", 0.0, "spam"),
    13: ("vote", 0.0, "inform_moderator"),
    15: ("vote", 0.0, "moderator_review"),
    16: ("vote", 0.0, "approve_edit_suggestion"),
}

#: elements that end a paragraph, and elements that only end a line, once the markup is gone
_PARAGRAPH_TAGS = {
    "p",
    "ul",
    "ol",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "table",
    "dl",
}
_LINE_TAGS = {"div", "br", "li", "tr", "dt", "dd"}
_URL = re.compile(r"https?://", re.I)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.-]*)")
_MARKUP = re.compile(rb"<(\?|!--|!|[A-Za-z_])")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
#: a question's tags: ``<a><b>`` in older dumps, ``|a|b|`` in newer ones
_TAG_NAMES = re.compile(r"<([^<>]+)>|\|?([^|<>]+)\|?")
_BAD_CHARS = re.compile("[\udc80-\udcff]+")  # undecodable bytes, as surrogateescape leaves them
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed anywhere in XML 1.0
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_PEEK = 1 << 20  # before parsing: how far to look for a DOCTYPE
_SNIFF = 1 << 16  # for detection: enough for the declaration, the root and the first rows
_CHUNK = 1 << 20
_MAX_BYTE_REJECTS = 100  # per file: undecodable lines recorded one by one, the rest summed up

_MISSING = np.iinfo(np.int32).min  # "this id was never seen"
_NONE = _MISSING + 1  # "seen, but the value is absent" (a post without owner)


class _IdMap:
    """A map from the integer ids of one dump to int32 values, in bounded memory.

    Stack Exchange ids are auto-increment, hence dense: they index a numpy array that grows by doubling
    (4 bytes per id instead of ~100 for a dict entry, which matters at Stack Overflow's 60 million posts).
    Ids that would make the array sparse (a stray huge id in a damaged file) go to a small dict instead.
    """

    def __init__(self, dtype: type = np.int32) -> None:
        self._dtype = dtype
        self._missing = int(np.iinfo(dtype).min)  # the "never seen" marker in the array
        self._a = np.full(1024, self._missing, dtype=dtype)
        self._n = 0
        self._extra: dict[int, int] = {}

    def __setitem__(self, key: int, value: int) -> None:
        info = np.iinfo(self._dtype)
        if not info.min + 1 < value <= info.max:
            value = _NONE if self._dtype is np.int32 else info.max
        a = self._a
        if 0 <= key < len(a):
            a[key] = value
        elif 0 <= key < max(8 * (self._n + 1), 1 << 20):
            grown = np.full(max(key + 1, 2 * len(a)), self._missing, dtype=self._dtype)
            grown[: len(a)] = a
            grown[key] = value
            self._a = grown
        else:
            self._extra[key] = value
        self._n += 1

    def get(self, key: int | None) -> int:
        if key is None:
            return _MISSING
        if 0 <= key < len(self._a):
            v = int(self._a[key])
            return _MISSING if v == self._missing else v
        return self._extra.get(key, _MISSING)

    def __contains__(self, key: int | None) -> bool:
        return self.get(key) != _MISSING


def html_to_text(body: str | None) -> tuple[str, int]:
    """Plain text of an HTML fragment and the number of links in it (counted before the markup goes)."""
    if not body or not body.strip():
        return "", 0
    try:
        root = lhtml.fragment_fromstring(body, create_parent="div")
    except (etree.ParserError, ValueError):
        # not HTML at all (or unparsable): drop anything tag-like, keep the rest
        text = html.unescape(re.sub(r"<[^>]{0,500}>", " ", body))
        return _tidy(text), len(re.findall(r"<a\s[^>]*href", body, re.I))
    links = 0
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        in_link = any(True for _ in el.iterancestors("a"))
        if tag == "a" and el.get("href"):
            links += 1
        elif el.text and not in_link:  # a bare address in the text is a link too
            links += len(_URL.findall(el.text))
        if el.tail and not in_link:
            links += len(_URL.findall(el.tail))
        if tag in _PARAGRAPH_TAGS:  # keep paragraphs and lines apart once the tags are gone
            el.tail = "\n\n" + (el.tail or "")
        elif tag in _LINE_TAGS:
            el.tail = "\n" + (el.tail or "")
    return _tidy(root.text_content()), links


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _peek(path: Path, size: int = _PEEK) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def _strip_bom(head: bytes) -> bytes:
    return head[3:] if head.startswith(codecs.BOM_UTF8) else head


def root_name(head: bytes) -> str | None:
    """The root element of an XML document from its first bytes (declaration, comments and DOCTYPE
    skipped), lower-cased; None when there is none in sight."""
    head = _strip_bom(head)
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


def _site_name(archive: Path) -> str:
    """``beer.stackexchange.com.7z`` -> ``beer.stackexchange.com``; ``stackoverflow.com-Posts.7z`` ->
    ``stackoverflow.com``."""
    m = _SPLIT_ARCHIVE.match(archive.name)
    if m and m.group("table").lower() in _BY_STEM:
        return m.group("site")
    return archive.name[:-3] if archive.name.lower().endswith(".7z") else archive.stem


def _looks_like_table(path: Path) -> bool:
    """An XML file whose root is a dump table and which has rows (for detection)."""
    head = _peek(path, _SNIFF)
    return root_name(head) in ROOTS and b"<row" in head


def _table_of(path: Path) -> str | None:
    """Which dump table an XML file holds: its root element, else its file name."""
    root = root_name(_peek(path, _SNIFF))
    if root in ROOTS:
        return root
    stem = path.stem.lower()
    return stem if stem in _BY_STEM else None


@dataclass
class _Site:
    """One site to read: XML files by table, archives still to unpack, and which tables to write."""

    name: str
    xml: dict[str, Path] = field(default_factory=dict)
    archives: list[Path] = field(default_factory=list)
    #: tables whose rows are written; the others only serve as lookups (None: all)
    emit: set[str] | None = None


class _Problems:
    """File-level problems of one run: rejected and told to the person running the ingest."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.count = 0

    def __call__(self, src: SourceSink, location: str, reason: str, excerpt: Any = None) -> None:
        self.count += 1
        src.reject(location, reason, excerpt)
        self.sink.warn(f"{location}: {reason}")


class _Stream:
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
        data = self._fh.read(_CHUNK)  # lxml takes chunks larger than it asked for and keeps the rest
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


def _int(attrib: Any, key: str) -> int | None:
    v = attrib.get(key)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"{key} {v!r} is not a number; row not read") from None


class StackExchangeReader(Reader):
    """Reads a Stack Exchange site dump into members, one site space, items (questions, answers,
    comments, pages) and actions (votes, accepts, favourites)."""

    name = "stackexchange"
    description = "Stack Exchange data dump: a site's .7z, its extracted folder, or its XML files"

    @classmethod
    def detect(cls, path: Path) -> float:
        if path.is_dir():
            if any(p.suffix.lower() == ".xml" and _looks_like_table(p) for p in path.iterdir()):
                return 0.9
            if any(_SITE_ARCHIVE.search(p.name) for p in path.iterdir() if p.is_file()):
                return 0.85
            return 0.0
        name = path.name.lower()
        if name.endswith(".7z"):
            if _SITE_ARCHIVE.search(name):
                return 0.95
            return 0.5 if cls._archive_has_tables(path) else 0.0
        if name.endswith(".xml") and _looks_like_table(path):
            return 0.9
        return 0.0

    @staticmethod
    def _archive_has_tables(path: Path) -> bool:
        """Whether a 7z of another name lists dump tables (reads only the archive's header)."""
        import py7zr

        try:
            with py7zr.SevenZipFile(path, mode="r") as arc:
                names = {Path(n).stem.lower() for n in arc.getnames()}
        except Exception:  # anything unreadable is simply not ours
            return False
        return "posts" in names or "users" in names

    # -- planning ---------------------------------------------------------------------------------
    def _plan(self, path: Path) -> list[_Site]:
        """The sites an input holds, and what to read from each."""
        if path.is_file():
            if path.name.lower().endswith(".7z"):
                return [_Site(_site_name(path), archives=[path])]
            table = _table_of(path)
            site = _Site(
                se_site_from_path(path.parent) or path.resolve().parent.name or "stackexchange",
                emit={table or "posts"},
            )
            site.xml[table or "posts"] = path
            # siblings of a single file answer its lookups (authors, questions), without being written
            for sib in path.parent.glob("*.xml"):
                t = _table_of(sib) if sib != path else None
                if t in ("users", "posts") and t not in site.xml:
                    site.xml[t] = sib
            return [site]
        if not path.is_dir():
            raise ReaderError(f"{path}: no such file or folder")
        direct = _Site(se_site_from_path(path) or path.resolve().name)
        for p in sorted(path.glob("*.xml")):
            t = _table_of(p)
            if t in ROOTS and t not in direct.xml:
                direct.xml[t] = p
        if direct.xml:
            return [direct]
        sites: dict[str, _Site] = {}
        for p in sorted(path.iterdir()):
            if p.is_file() and p.name.lower().endswith(".7z"):
                sites.setdefault(_site_name(p), _Site(_site_name(p))).archives.append(p)
            elif p.is_dir() and any(_table_of(x) in ROOTS for x in p.glob("*.xml")):
                sites.update({s.name: s for s in self._plan(p)})
        return list(sites.values())

    # -- reading ----------------------------------------------------------------------------------
    def read(self, path: Path, sink: Sink) -> None:
        path = Path(path)
        sites = self._plan(path)
        if not sites:
            raise ReaderError(f"{path}: no Stack Exchange dump here (no .7z and no Posts/Users/... XML)")
        problems = _Problems(sink)
        before = sum(sink.batches.counts[t] for t in ("members", "items", "actions"))
        single = len(sites) == 1
        # the total grows as archives are unpacked and each site's reading plan is known
        self._total = sum(_size(a) for s in sites for a in s.archives)
        sink.set_total(self._total)
        for site in sites:
            try:
                self._read_site(site, sink, problems)
            except ReaderError as e:
                if single:  # nothing else to read: the whole ingest failed, say why
                    raise
                src = sink.source("stackexchange", site.name)
                problems(src, site.name, str(e))
        after = sum(sink.batches.counts[t] for t in ("members", "items", "actions"))
        if after == before and problems.count:
            raise ReaderError(f"{path}: nothing could be read ({problems.count} problems, see the rejects)")

    def _read_site(self, site: _Site, sink: Sink, problems: _Problems) -> None:
        with tempfile.TemporaryDirectory(prefix="covalue-stackexchange-") as tmp:
            limit = getattr(getattr(self.settings, "ingest", None), "max_unpacked_bytes", None)
            refusals: list[tuple[str, str]] = []
            for i, arc in enumerate(site.archives):
                files, refused = extract_7z(
                    arc, Path(tmp) / str(i), max_unpacked=limit or DEFAULT_MAX_UNPACKED
                )
                sink.advance(_size(arc))
                refusals += [(f"{arc.name}:{r.name}", r.reason) for r in refused]
                for f in files:
                    t = _table_of(f)
                    if t in ROOTS and t not in site.xml:
                        site.xml[t] = f
                    elif t in ROOTS:
                        sink.warn(f"{arc.name}: a second {_FILE_NAMES[t]} ({f.name}); only the first is read")
                    else:
                        sink.warn(f"{arc.name}: {f.name} is not a Stack Exchange table; not read")
            # a dump not named after its site (a folder called "data", "dump.7z") is named from its own
            # links to itself; the file or folder name stays only when it has none
            if not is_se_site(site.name) and "posts" in site.xml:
                site.name = se_site_from_posts(site.xml["posts"]) or site.name
            src = sink.source("stackexchange", site.name)
            for where, reason in refusals:
                problems(src, where, reason)
            if not any(t in site.xml for t in CANONICAL):
                raise ReaderError(
                    f"{site.name}: the dump has none of Users.xml, Posts.xml, Comments.xml, Votes.xml"
                )
            run = _SiteRun(site, src, sink, problems)
            self._total += run.planned_bytes()
            sink.set_total(self._total)
            run.run()


class _SiteRun:
    """Reading one site: lookups first, then each table in the order its references need."""

    def __init__(self, site: _Site, src: SourceSink, sink: Sink, problems: _Problems) -> None:
        self.site = site
        self.src = src
        self.sink = sink
        self.problems = problems
        self.space = src.space("site", site.name, kind="site")
        self.users: _IdMap | None = None  # None: no Users.xml, so owners are taken as given
        self.owner = _IdMap()  # post -> author user id
        self.thread = _IdMap()  # post -> its question (itself for questions and pages)
        self.accepted = _IdMap(np.int8)  # answer ids some question accepted (a flag: one byte each)

    def planned_bytes(self) -> int:
        """Bytes :meth:`run` will read, for the progress bar (Posts.xml is read twice)."""
        xml = self.site.xml
        n = sum(_size(xml[t]) for t in ("users", "posts") if t in xml)
        n += _size(xml["posts"]) if self.emits("posts") else 0
        n += sum(_size(xml[t]) for t in ("comments", "votes", *NOT_CANONICAL) if self.emits(t))
        return n

    def emits(self, table: str) -> bool:
        return table in self.site.xml and (self.site.emit is None or table in self.site.emit)

    def run(self) -> None:
        xml = self.site.xml
        if "users" in xml:
            self.users = _IdMap(np.int8)  # which accounts exist: one byte each
            if self.emits("users"):
                self._parse("users", self._user)
            else:
                self._parse("users", self._user_lookup, write=False)
        if "posts" in xml:
            self._parse("posts", self._post_lookup, write=False)
            if self.emits("posts"):
                self._parse("posts", self._post)
        if self.emits("comments"):
            self._parse("comments", self._comment)
        if self.emits("votes"):
            self._parse("votes", self._vote)
        unused = []
        for t, why in NOT_CANONICAL.items():
            if self.emits(t):
                n = self._count_rows(xml[t])
                unused.append(f"{xml[t].name} ({n:,} row{'' if n == 1 else 's'}: {why})")
        if unused:
            self.sink.warn(f"{self.site.name}: not read into the canonical tables: " + "; ".join(unused))
        for t in ("users", "posts"):
            if t not in xml and self.site.emit is None:
                self.sink.warn(
                    f"{self.site.name}: no {_FILE_NAMES[t]} in the dump; "
                    + (
                        "authors are kept as given, no members recorded"
                        if t == "users"
                        else "comments and votes cannot be tied to their question or author"
                    )
                )

    def _count_rows(self, path: Path) -> int:
        """Rows of a table that is only reported: counted on the raw bytes, far faster than parsing."""
        n, carry = 0, b""
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                self.sink.advance(len(chunk))
                buf = carry + chunk
                n += buf.count(b"<row")
                carry = buf[-3:]  # shorter than the marker: a match split by the chunk edge counts once
        return n

    # -- one file ---------------------------------------------------------------------------------
    def _parse(self, table: str, handle: Callable[[Any, str], None], *, write: bool = True) -> None:
        """Stream the rows of one table into ``handle(attrib, location)``. With ``write`` False the
        pass only builds lookups and stays silent: problems are reported by the writing pass."""
        path = self.site.xml[table]
        label = path.name
        report = self.problems if write else (lambda *a, **k: None)
        head = _peek(path)
        if _DOCTYPE.search(head):
            report(
                self.src,
                f"{label}:line 1",
                "the file declares a DOCTYPE; refused unread so that its "
                "entities cannot expand (a Stack Exchange dump never has one)",
                head[:200],
            )
            self.sink.advance(path.stat().st_size)
            return
        if len(head) == _PEEK and root_name(head) is None:
            # a DOCTYPE could hide past the peek: a dump has its root element on its second line
            report(self.src, f"{label}:line 1", "no root element in the first MB; file not read", head[:200])
            self.sink.advance(path.stat().st_size)
            return
        m = _XML_DECL_ENCODING.match(_strip_bom(head))
        declared = m.group(1).decode().lower() if m else "utf-8"
        repair = declared in ("utf-8", "utf8") and not head.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        )
        n = 0
        try:
            fh = path.open("rb")
        except OSError as e:
            report(self.src, label, f"cannot open the file: {e}")
            return
        with fh:
            stream = _Stream(fh, self.sink.advance, repair)
            parser = etree.iterparse(
                stream, events=("end",), resolve_entities=False, no_network=True, load_dtd=False,
                huge_tree=True, remove_comments=True, remove_pis=True,
            )  # fmt: skip
            it: Iterator[tuple[str, Any]] = iter(parser)
            root = None
            try:
                for _, el in it:
                    if root is None:  # the first element read: check the document before any row
                        root = el.getroottree().getroot()
                        if root.getroottree().docinfo.internalDTD is not None:  # a DOCTYPE past the peek
                            report(
                                self.src,
                                f"{label}:line {root.sourceline}",
                                "the file declares a DOCTYPE; refused so that its entities cannot expand",
                            )
                            return
                        if root.tag != table:
                            report(
                                self.src,
                                f"{label}:line {root.sourceline}",
                                f"root element is <{root.tag}>, expected <{table}>; file not read",
                            )
                            return
                    if el.getparent() is not root:  # the root closing, or something inside a row
                        continue
                    location = f"{label}:line {el.sourceline}"
                    if el.tag != "row":
                        if write:
                            tag = el.tag if isinstance(el.tag, str) else "?"
                            self.src.reject(
                                location, f"element <{tag}> is not a <row>; skipped", _excerpt(el)
                            )
                    else:
                        try:
                            handle(el.attrib, location)
                            n += 1
                        except ValueError as e:  # a bad row: rejected alone, the rest of the file goes on
                            if write:
                                self.src.reject(location, str(e), _excerpt(el))
                    el.clear()  # bounded memory: drop the row and everything read before it
                    while el.getprevious() is not None:
                        del root[0]
            except etree.XMLSyntaxError as e:
                line = e.lineno or stream.line
                report(
                    self.src,
                    f"{label}:line {line}",
                    f"the XML breaks off or is malformed here ({e.msg}); the {n:,} rows before it "
                    "were kept, nothing after it could be read",
                )
            except etree.LxmlError as e:
                report(
                    self.src,
                    f"{label}:line {stream.line}",
                    f"the XML parser gave up here ({type(e).__name__}: {e}); the {n:,} rows before it "
                    "were kept, nothing after it could be read",
                )
        if write and stream.n_bad:
            for line, excerpt in stream.bad:
                self.src.reject(
                    f"{label}:line {line}",
                    "bytes that are not valid UTF-8 (or characters XML "
                    "forbids) were replaced with U+FFFD; the row is kept",
                    excerpt,
                )
            self.sink.warn(
                f"{label}: {stream.n_bad:,} invalid byte sequences replaced with U+FFFD "
                f"(the file declares {declared}); first at line {stream.bad[0][0]}"
            )

    # -- rows -------------------------------------------------------------------------------------
    def _user_ref(self, uid: int | None) -> str | None:
        """The author id of a user id, or None when the dump does not hold that account."""
        if uid is None or (self.users is not None and uid not in self.users):
            return None
        return self.src.person_ref(uid)

    def _user(self, a: Any, where: str) -> None:
        uid = _id(a)
        joined = _date(a, "CreationDate")
        self.users[uid] = 1  # type: ignore[index]
        self.src.person(
            uid,
            display_name=a.get("DisplayName"),
            joined_at=joined,
            location=a.get("Location") or None,
            is_bot=uid == -1,  # the "Community" account: the site's own background process
        )

    def _user_lookup(self, a: Any, where: str) -> None:
        """Only which accounts exist (the same rows :meth:`_user` would keep)."""
        uid = _id(a)
        _date(a, "CreationDate")
        self.users[uid] = 1  # type: ignore[index]

    def _post_lookup(self, a: Any, where: str) -> None:
        pid = _id(a)
        kind = a.get("PostTypeId")
        owner = _opt_int(a, "OwnerUserId")
        self.owner[pid] = _NONE if owner is None else owner
        parent = _opt_int(a, "ParentId")
        self.thread[pid] = parent if kind == "2" and parent is not None else pid
        acc = _opt_int(a, "AcceptedAnswerId")
        if kind == "1" and acc is not None:
            self.accepted[acc] = 1

    def _post(self, a: Any, where: str) -> None:
        pid = _id(a)
        created = _date(a, "CreationDate")
        notes = []
        try:
            ptype = _int(a, "PostTypeId")
        except ValueError:
            ptype = None
            notes.append(f"PostTypeId {a.get('PostTypeId')!r} is not a number; kept as a page")
        owner, note = self._checked_int(a, "OwnerUserId")
        notes += note
        score, note = self._checked_int(a, "Score")
        notes += note
        views, note = self._checked_int(a, "ViewCount")
        notes += note
        text, links = html_to_text(a.get("Body"))
        parent = thread = None
        if ptype == 1:
            kind = "question"
        elif ptype == 2:
            kind = "answer"
            q, note = self._checked_int(a, "ParentId")
            notes += note
            if q is not None:
                parent = thread = self.src.item_ref(q)
        else:
            kind = "page"  # tag wikis (4, 5) and every other post type: kept, never dropped
        self.src.item(
            pid,
            kind=kind,
            created_at=created,
            author_id=self._user_ref(owner),
            space_id=self.space,
            thread_id=thread,
            parent_id=parent,
            title=a.get("Title"),
            text=text,
            n_links=links,
            accepted=kind == "answer" and pid in self.accepted,
            views=views,
            score=score,
        )
        # tags name what a question is about or for (feature-request, support...): like Discourse tags,
        # each becomes a space of kind tag tied to the question by a system action, so that roles can
        # be read from them (the item itself has one space, the site)
        for tag in _tags(a.get("Tags")) if ptype == 1 else ():
            self.src.action(
                f"tag:{pid}:{tag}",
                verb="system",
                ts=created,
                actor_id=self._user_ref(owner),
                space_id=self.src.space(f"tag:{tag}", tag, "tag"),
                item_id=self.src.item_ref(pid),
                target_id=self._user_ref(owner),
                detail="tag",
            )
        for n in notes:
            self.src.reject(where, n, f"Id={pid}")

    def _checked_int(self, a: Any, key: str) -> tuple[int | None, list[str]]:
        """An optional number; garbage becomes None plus a note (the row itself is kept)."""
        try:
            return _int(a, key), []
        except ValueError:
            return None, [f"{key} {a.get(key)!r} is not a number; the row is kept without it"]

    def _thread_of(self, post: int) -> str:
        q = self.thread.get(post)
        return self.src.item_ref(post if q in (_MISSING, _NONE) else q)

    def _owner_of(self, post: int) -> str | None:
        owner = self.owner.get(post)
        return None if owner in (_MISSING, _NONE) else self._user_ref(owner)

    def _comment(self, a: Any, where: str) -> None:
        cid = _id(a)
        created = _date(a, "CreationDate")
        post = _int(a, "PostId")
        if post is None:
            raise ValueError("PostId is missing: the comment belongs to no post")
        owner, notes = self._checked_int(a, "UserId")
        score, note = self._checked_int(a, "Score")
        self.src.item(
            f"c{cid}",  # comment ids and post ids are separate sequences
            kind="comment",
            created_at=created,
            author_id=self._user_ref(owner),
            space_id=self.space,
            thread_id=self._thread_of(post),
            parent_id=self.src.item_ref(post),
            text=a.get("Text") or "",
            score=score,
        )
        for n in notes + note:
            self.src.reject(where, n, f"Id={cid}")

    def _vote(self, a: Any, where: str) -> None:
        vid = _id(a)
        ts = _date(a, "CreationDate")
        post = _int(a, "PostId")
        vtype = _int(a, "VoteTypeId")
        if post is None or vtype is None:
            raise ValueError("PostId or VoteTypeId is missing")
        verb, value, detail = VOTE_TYPES.get(vtype, ("vote", 0.0, f"type_{vtype}"))
        voter, notes = self._checked_int(a, "UserId")
        actor = self._user_ref(voter)
        if verb == "accept" and actor is None:
            # accepted by the originator: the asker of the question the answer belongs to
            q = self.thread.get(post)
            actor = self._owner_of(q) if q not in (_MISSING, _NONE) else None
        self.src.action(
            f"vote:{vid}",
            verb=verb,
            ts=ts,
            actor_id=actor,
            space_id=self.space,
            item_id=self.src.item_ref(post),
            target_id=self._owner_of(post),  # received, even when the voter is anonymous
            value=value,
            detail=detail,
        )
        for n in notes:
            self.src.reject(where, n, f"Id={vid}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _id(a: Any) -> int:
    v = a.get("Id")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError(f"Id {v!r} is missing or not a number; row not read") from None


def _tags(value: str | None) -> list[str]:
    """The distinct tag names of a post's ``Tags`` attribute, in order."""
    names = (m.group(1) or m.group(2) for m in _TAG_NAMES.finditer(value or ""))
    return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def _opt_int(a: Any, key: str) -> int | None:
    try:
        return _int(a, key)
    except ValueError:
        return None


def _date(a: Any, key: str) -> datetime:
    """A dump timestamp (ISO 8601, UTC, e.g. ``2014-01-21T20:26:05.383``) as naive UTC."""
    v = a.get(key)
    try:
        dt = datetime.fromisoformat(v)  # far faster than a general parser, and all a dump uses
    except (TypeError, ValueError):
        raise ValueError(f"{key} {v!r} is not a date; row not read") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _excerpt(el: Any) -> str:
    return " ".join(f'{k}="{v}"' for k, v in list(el.attrib.items())[:6])[:300]
