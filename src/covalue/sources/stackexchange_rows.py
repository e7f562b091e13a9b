"""The rows of one Stack Exchange site: users, posts, comments and votes mapped onto canonical rows, with
the cross-references between them (a post's thread and owner, accepted answers) kept in compact arrays."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from lxml import etree

from covalue.sources.base import Sink, SourceSink
from covalue.sources.htmltext import html_to_text
from covalue.sources.stackexchange_dump import (
    CHUNK,
    DOCTYPE,
    FILE_NAMES,
    NOT_CANONICAL,
    PEEK,
    XML_DECL_ENCODING,
    Site,
    XmlStream,
    peek,
    root_name,
    strip_bom,
)

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


_MISSING = np.iinfo(np.int32).min  # "this id was never seen"


_NONE = _MISSING + 1  # "seen, but the value is absent" (a post without owner)


class IdMap:
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


class Problems:
    """File-level problems of one run: rejected and told to the person running the ingest."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.count = 0

    def __call__(self, src: SourceSink, location: str, reason: str, excerpt: Any = None) -> None:
        self.count += 1
        src.reject(location, reason, excerpt)
        self.sink.warn(f"{location}: {reason}")


def _int(attrib: Any, key: str) -> int | None:
    v = attrib.get(key)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"{key} {v!r} is not a number; row not read") from None


class SiteRun:
    """Reading one site: lookups first, then each table in the order its references need."""

    def __init__(self, site: Site, src: SourceSink, sink: Sink, problems: Problems) -> None:
        self.site = site
        self.src = src
        self.sink = sink
        self.problems = problems
        self.space = src.space("site", site.name, kind="site")
        self.users: IdMap | None = None  # None: no Users.xml, so owners are taken as given
        self.owner = IdMap()  # post -> author user id
        self.thread = IdMap()  # post -> its question (itself for questions and pages)
        self.accepted = IdMap(np.int8)  # answer ids some question accepted (a flag: one byte each)

    def planned_bytes(self) -> int:
        """Bytes :meth:`run` will read, for the progress bar (Posts.xml is read twice)."""
        xml = self.site.xml
        n = sum(size(xml[t]) for t in ("users", "posts") if t in xml)
        n += size(xml["posts"]) if self.emits("posts") else 0
        n += sum(size(xml[t]) for t in ("comments", "votes", *NOT_CANONICAL) if self.emits(t))
        return n

    def emits(self, table: str) -> bool:
        return table in self.site.xml and (self.site.emit is None or table in self.site.emit)

    def run(self) -> None:
        xml = self.site.xml
        if "users" in xml:
            self.users = IdMap(np.int8)  # which accounts exist: one byte each
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
                    f"{self.site.name}: no {FILE_NAMES[t]} in the dump; "
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
            while chunk := fh.read(CHUNK):
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
        head = peek(path)
        if DOCTYPE.search(head):
            report(
                self.src,
                f"{label}:line 1",
                "the file declares a DOCTYPE; refused unread so that its "
                "entities cannot expand (a Stack Exchange dump never has one)",
                head[:200],
            )
            self.sink.advance(path.stat().st_size)
            return
        if len(head) == PEEK and root_name(head) is None:
            # a DOCTYPE could hide past the peek: a dump has its root element on its second line
            report(self.src, f"{label}:line 1", "no root element in the first MB; file not read", head[:200])
            self.sink.advance(path.stat().st_size)
            return
        m = XML_DECL_ENCODING.match(strip_bom(head))
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
            stream = XmlStream(fh, self.sink.advance, repair)
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


def size(path: Path) -> int:
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


#: a question's tags: ``<a><b>`` in older dumps, ``|a|b|`` in newer ones
_TAG_NAMES = re.compile(r"<([^<>]+)>|\|?([^|<>]+)\|?")
