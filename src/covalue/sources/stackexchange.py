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

import re
import tempfile
from pathlib import Path

from covalue.sources.archive import DEFAULT_MAX_UNPACKED, extract_7z
from covalue.sources.base import Reader, ReaderError, Sink
from covalue.sources.naming import is_se_site, se_site_from_path, se_site_from_posts
from covalue.sources.stackexchange_dump import (
    BY_STEM,
    CANONICAL,
    FILE_NAMES,
    ROOTS,
    Site,
    peek,
    root_name,
)
from covalue.sources.stackexchange_rows import (
    Problems,
    SiteRun,
    size,
)

#: hosts whose dumps are named after them (``beer.stackexchange.com.7z``, ``stackoverflow.com-Posts.7z``)
_SITE_ARCHIVE = re.compile(
    r"(stackexchange\.com|stackoverflow\.com|mathoverflow\.net|serverfault\.com|superuser\.com|"
    r"askubuntu\.com|stackapps\.com)(-[A-Za-z]+)?\.7z$",
    re.I,
)
_SPLIT_ARCHIVE = re.compile(r"^(?P<site>.+?)-(?P<table>[A-Za-z]+)\.7z$", re.I)


_SPACES = re.compile(r"[ \t\r\f\v]+")
_SNIFF = 1 << 16  # for detection: enough for the declaration, the root and the first rows


def _site_name(archive: Path) -> str:
    """``beer.stackexchange.com.7z`` -> ``beer.stackexchange.com``; ``stackoverflow.com-Posts.7z`` ->
    ``stackoverflow.com``."""
    m = _SPLIT_ARCHIVE.match(archive.name)
    if m and m.group("table").lower() in BY_STEM:
        return m.group("site")
    return archive.name[:-3] if archive.name.lower().endswith(".7z") else archive.stem


def _looks_like_table(path: Path) -> bool:
    """An XML file whose root is a dump table and which has rows (for detection)."""
    head = peek(path, _SNIFF)
    return root_name(head) in ROOTS and b"<row" in head


def _table_of(path: Path) -> str | None:
    """Which dump table an XML file holds: its root element, else its file name."""
    root = root_name(peek(path, _SNIFF))
    if root in ROOTS:
        return root
    stem = path.stem.lower()
    return stem if stem in BY_STEM else None


class StackExchangeReader(Reader):
    """Reads a Stack Exchange site dump into members, one site space, items (questions, answers,
    comments, pages) and actions (votes, accepts, favourites)."""

    name = "stackexchange"
    description = "Stack Exchange data dump: a site's .7z, its extracted folder, or its XML files"

    @classmethod
    def detect_folder(cls, path: Path) -> float:
        if any(p.suffix.lower() == ".xml" and _looks_like_table(p) for p in path.iterdir()):
            return 0.9
        if any(_SITE_ARCHIVE.search(p.name) for p in path.iterdir() if p.is_file()):
            return 0.85
        return 0.0

    @classmethod
    def detect_file(cls, path: Path) -> float:
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
    def _plan(self, path: Path) -> list[Site]:
        """The sites an input holds, and what to read from each."""
        if path.is_file():
            if path.name.lower().endswith(".7z"):
                return [Site(_site_name(path), archives=[path])]
            table = _table_of(path)
            site = Site(
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
        direct = Site(se_site_from_path(path) or path.resolve().name)
        for p in sorted(path.glob("*.xml")):
            t = _table_of(p)
            if t in ROOTS and t not in direct.xml:
                direct.xml[t] = p
        if direct.xml:
            return [direct]
        sites: dict[str, Site] = {}
        for p in sorted(path.iterdir()):
            if p.is_file() and p.name.lower().endswith(".7z"):
                sites.setdefault(_site_name(p), Site(_site_name(p))).archives.append(p)
            elif p.is_dir() and any(_table_of(x) in ROOTS for x in p.glob("*.xml")):
                sites.update({s.name: s for s in self._plan(p)})
        return list(sites.values())

    # -- reading ----------------------------------------------------------------------------------
    def read(self, path: Path, sink: Sink) -> None:
        path = Path(path)
        sites = self._plan(path)
        if not sites:
            raise ReaderError(f"{path}: no Stack Exchange dump here (no .7z and no Posts/Users/... XML)")
        problems = Problems(sink)
        before = sum(sink.batches.counts[t] for t in ("members", "items", "actions"))
        single = len(sites) == 1
        # the total grows as archives are unpacked and each site's reading plan is known
        self._total = sum(size(a) for s in sites for a in s.archives)
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

    def _read_site(self, site: Site, sink: Sink, problems: Problems) -> None:
        with tempfile.TemporaryDirectory(prefix="covalue-stackexchange-") as tmp:
            limit = getattr(getattr(self.settings, "ingest", None), "max_unpacked_bytes", None)
            refusals: list[tuple[str, str]] = []
            for i, arc in enumerate(site.archives):
                files, refused = extract_7z(
                    arc, Path(tmp) / str(i), max_unpacked=limit or DEFAULT_MAX_UNPACKED
                )
                sink.advance(size(arc))
                refusals += [(f"{arc.name}:{r.name}", r.reason) for r in refused]
                for f in files:
                    t = _table_of(f)
                    if t in ROOTS and t not in site.xml:
                        site.xml[t] = f
                    elif t in ROOTS:
                        sink.warn(f"{arc.name}: a second {FILE_NAMES[t]} ({f.name}); only the first is read")
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
            run = SiteRun(site, src, sink, problems)
            self._total += run.planned_bytes()
            sink.set_total(self._total)
            run.run()
