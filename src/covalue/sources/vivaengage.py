"""Viva Engage (Yammer) network data export: a zip (or its unpacked folder) of CSV files.

The files used, with the columns Microsoft documents for them:

* ``Users.csv``: id, name, email, job_title, location, department, joined_at, deleted_at, suspended_at,
  state (active / soft_delete / suspended ...). People; the email is kept only as its keyed hash.
* ``Groups.csv``: id, name, description, private, created_at... Groups (communities) become spaces.
* ``Messages.csv``: id, replied_to_id, thread_id, conversation_id, group_id, group_name, participants,
  in_private_group, in_private_conversation, sender_id, sender_type, sender_name, sender_email, body,
  attachments, deleted_by_id, created_at, deleted_at. A thread starter (id = thread_id) is a post, the
  rest replies to ``replied_to_id`` in ``thread_id``; ``[[user:ID]]`` in a body is a mention. Messages
  outside any group sit in the network's All Company feed; private conversations in one ``direct`` space
  each (named without the participants).

The network export has no likes (Microsoft lists likes only in the per-user export), so none are read.

Files, Topics, Admins and the other CSVs carry nothing the canonical tables need and are left alone.
Users and groups are read before messages so that every message finds its author and space. When the
export holds several networks (one folder each), each becomes its own source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar

from covalue import identity
from covalue.sources import archive
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, to_utc
from covalue.sources.exportfiles import READ_ERRORS, csv_rows, is_zip, limits

_WANTED = ("users.csv", "groups.csv", "messages.csv")
_UPLOAD = re.compile(r"uploadedfile:\d+", re.I)
_MENTION = re.compile(r"\[\[user:(\d+)\]\]")  # how message bodies reference people
_TZ_WORD = re.compile(r"\s*(UTC|GMT|Z)$", re.I)
_TZ_NUM = re.compile(r"\s*([+-]\d{2}):?(\d{2})$")


def parse_ts(value: str | None) -> datetime | None:
    """Export times: ``2019-03-15 12:34:56 UTC``, ``2019-03-15T12:34:56Z``, ``... +0000`` or ISO 8601."""
    if not value or value.strip().lower() in ("", "null", "none"):
        return None
    s = value.strip()
    if _TZ_WORD.search(s):
        s = _TZ_WORD.sub("", s) + "+00:00"
    else:
        s = _TZ_NUM.sub(lambda m: f"{m.group(1)}:{m.group(2)}", s)
    return to_utc(s)


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("true", "1", "yes", "t")


class _Export:
    """The CSV files of an export (zip or folder), grouped by the folder (network) holding them."""

    def __init__(self, path: Path, settings: Any, sink: Sink | None, source: str) -> None:
        self.path = path
        self._zip: archive.ZipArchive | None = None
        self.networks: dict[str, dict[str, str]] = {}  # folder -> {lower file name -> entry name}
        if is_zip(path):
            max_unpacked, max_ratio = limits(settings)
            self._zip = archive.ZipArchive(path, max_unpacked, max_ratio)
            if sink is not None:
                for r in self._zip.refused:
                    sink.reject(source, f"{path.name}:{r.name}", r.reason)
            names = self._zip.names()
        elif path.is_dir():
            names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            names = [path.name]
        else:
            raise ReaderError(f"{path}: no such file or folder")
        for n in names:
            pp = PurePosixPath(n)
            if pp.name.lower() in _WANTED:
                folder = pp.parent.as_posix()
                self.networks.setdefault("" if folder == "." else folder, {})[pp.name.lower()] = n

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.entries[name].compress_size
        return (self.path / name).stat().st_size if self.path.is_dir() else self.path.stat().st_size

    def open(self, name: str) -> AbstractContextManager[IO[bytes]]:
        if self._zip is not None:
            return self._zip.open(name)  # type: ignore[return-value]
        return (self.path / name if self.path.is_dir() else self.path).open("rb")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _dict_rows(
    stream: IO[bytes], location: str, reject: Callable[[str, str, Any], None]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {column: value}) per record; records with the wrong number of fields become rejects."""
    rows = csv_rows(stream, location, reject, delimiter=",")
    head = next(rows, None)
    if head is None:
        return
    cols = [c.strip().lower() for c in head[1]]
    for line, row in rows:
        if len(row) != len(cols):
            reject(
                f"{location}:{line}", f"expected {len(cols)} fields, found {len(row)}", ",".join(row)[:200]
            )
            continue
        yield line, dict(zip(cols, row, strict=True))


def _rows_with_id(
    stream: IO[bytes], location: str, reject: Callable[[str, str, Any], None], what: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """(id, record) per record of a users or groups file; a record without an id becomes a reject."""
    for line, r in _dict_rows(stream, location, reject):
        rid = r.get("id", "").strip()
        if rid:
            yield rid, r
        else:
            reject(f"{location}:{line}", f"{what} without id", None)


class VivaEngageReader(Reader):
    name: ClassVar[str] = "vivaengage"
    description: ClassVar[str] = "Viva Engage / Yammer network data export (zip or folder of CSV files)"

    @classmethod
    def detect(cls, path: Path) -> float:
        try:
            exp = _Export(path, None, None, "")
        except (ReaderError, OSError):
            return 0.0
        try:
            for files in exp.networks.values():
                name = files.get("messages.csv")
                if name is None:
                    continue
                with exp.open(name) as fh:
                    head = fh.read(4096).decode("utf-8-sig", "replace").split("\n", 1)[0].lower()
                cols = {c.strip().strip('"') for c in head.split(",")}
                if {"replied_to_id", "thread_id", "sender_id"} <= cols:
                    return 0.95
        except READ_ERRORS:
            return 0.0
        finally:
            exp.close()
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        stem = re.sub(r"\.(zip|csv)$", "", path.name, flags=re.I) or "vivaengage"
        exp = _Export(path, self.settings, sink, f"vivaengage:{stem}")
        try:
            if not any("messages.csv" in f for f in exp.networks.values()):
                raise ReaderError(
                    f"{path}: no Messages.csv found; is this a Viva Engage network data export?"
                )
            sink.set_total(sum(exp.size(n) for files in exp.networks.values() for n in files.values()))
            for folder, files in sorted(exp.networks.items()):
                instance = f"{stem}-{PurePosixPath(folder).name}" if folder else stem
                src = sink.source("vivaengage", instance)
                state = _State(src)
                for key in _WANTED:
                    name = files.get(key)
                    if name is None:
                        continue
                    try:
                        with exp.open(name) as stream:
                            getattr(self, f"_{key[:-4]}")(state, name, stream)
                    except READ_ERRORS as e:
                        src.reject(name, f"file could not be read to the end ({e}); rows before kept")
                    sink.advance(exp.size(name))
        finally:
            exp.close()

    # -- the three files ---------------------------------------------------------------------------
    def _users(self, st: _State, name: str, stream: IO[bytes]) -> None:
        for uid, r in _rows_with_id(stream, name, st.src.reject, "user"):
            state = (r.get("state") or "").strip().lower()
            left = parse_ts(r.get("deleted_at")) or parse_ts(r.get("suspended_at"))
            st.people[uid] = st.src.person(
                uid,
                display_name=r.get("name") or None,
                email=r.get("email") or None,
                joined_at=parse_ts(r.get("joined_at")),
                left_at=left,
                org_unit=r.get("department") or None,
                location=r.get("location") or None,
                role=r.get("job_title") or (state if state and state != "active" else None),
            )

    def _groups(self, st: _State, name: str, stream: IO[bytes]) -> None:
        for gid, r in _rows_with_id(stream, name, st.src.reject, "group"):
            st.src.space(f"group:{gid}", r.get("name") or f"group {gid}", kind="group")

    def _messages(self, st: _State, name: str, stream: IO[bytes]) -> None:
        src = st.src
        for line, r in _dict_rows(stream, name, src.reject):
            loc = f"{name}:{line}"
            mid = r.get("id", "").strip()
            sender = r.get("sender_id", "").strip()
            ts = parse_ts(r.get("created_at"))
            if not mid or not sender:
                src.reject(loc, "message without id or sender_id", r.get("body", "")[:200])
                continue
            if ts is None:
                src.reject(
                    loc,
                    f"created_at not understood: {r.get('created_at', '')[:40]!r}",
                    r.get("body", "")[:200],
                )
                continue
            author = st.people.get(sender)
            if author is None:
                stype = (r.get("sender_type") or "user").strip().lower()
                author = st.people[sender] = src.person(
                    sender,
                    display_name=r.get("sender_name") or None,
                    email=r.get("sender_email") or None,
                    is_bot=stype not in ("user", ""),
                )
            gid = (r.get("group_id") or "").strip()
            if gid:
                space = src.space(f"group:{gid}", r.get("group_name") or f"group {gid}", kind="group")
            elif _truthy(r.get("in_private_conversation")):
                conv = (r.get("conversation_id") or r.get("thread_id") or mid).strip()
                space = src.space(
                    f"private:{identity.stable_id(conv)}", "private conversation", kind="direct"
                )
            else:
                space = src.space("all-company", "All Company", kind="group")
            thread = (r.get("thread_id") or "").strip() or mid
            parent = (r.get("replied_to_id") or "").strip()
            is_reply = bool(parent) or thread != mid
            body = r.get("body") or ""
            iid = src.message(
                mid,
                parent_id=src.item_ref(parent or thread) if is_reply else None,
                thread_id=src.item_ref(thread),
                created_at=ts,
                author_id=author,
                space_id=space,
                text=body,
                n_attachments=len(_UPLOAD.findall(r.get("attachments") or "")),
            )
            for uid in dict.fromkeys(_MENTION.findall(body)):  # each person once per message
                src.mention(
                    f"{mid}:mention:{uid}",
                    ts=ts,
                    actor_id=author,
                    space_id=space,
                    item_id=iid,
                    target_id=st.people.get(uid) or src.person_ref(uid),
                )


class _State:
    """What one network's files share while they are read: its sink and the people already recorded."""

    def __init__(self, src: SourceSink) -> None:
        self.src = src
        self.people: dict[str, str] = {}
