"""Zulip: the public zulip-archive layout, and Zulip's own organisation (realm) export.

**zulip-archive** (github.com/zulip/zulip-archive, what public Zulip instances publish): a folder or
``.tar.gz`` holding ``zulip_json/<stream id>-<stream>/<topic>.json``, each a list of messages
``{content (HTML), id, sender_full_name, timestamp}``, plus ``stream_index.json`` with the streams' real
names. A stream becomes a space, a topic a thread (its earliest message is the ``post``, the others are
``reply`` items whose parent is that first message: Zulip topics are flat). Stream and topic names in
file names are encoded by zulip-archive (``.20`` for a space, ``.2E`` for a dot...) and decoded here.

This layout names senders only by their full name: that is all it has. People are therefore keyed by
full name, so two people with the same full name cannot be told apart, and one person who changed their
name appears as two.

**Realm export** (``manage.py export`` or the organisation export in Zulip's settings): a folder (or
``.tar.gz``) with ``realm.json`` (``zerver_userprofile`` with emails, ``zerver_stream``,
``zerver_recipient``, often ``zerver_reaction`` and ``zerver_submessage``) and ``messages-NNNNNN.json``
files (``zerver_message``). People are keyed by Zulip user id, emails are hashed, reactions become
``react`` actions (emoji name in ``detail``; the export does not keep when someone reacted, so ``ts`` is
the message's time) and poll votes from submessages become ``vote`` actions. Direct and group messages
are private conversations, not community content: they are counted and left out, and the ingest says so.
Messages files are read one at a time; in a ``.tar.gz`` whose ``realm.json`` comes after them they wait
in memory until it arrives (unpack a very large export and read the folder instead).
"""

from __future__ import annotations

import re
import tarfile
import zlib
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson

from covalue.identity import looks_like_bot
from covalue.sources.archive import iter_tar
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, iter_files, to_utc
from covalue.sources.htmltext import parse_html
from covalue.sources.jsonstream import loads
from covalue.sources.naming import folder_name

_ENCODED = re.compile(r"(?:\.[0-9A-Fa-f]{2})+")
_STREAM_DIR = re.compile(r"^(\d+)-(.*)$")
_MESSAGES_FILE = re.compile(r"(?:^|/)messages-\d+\.json$")
_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)
#: Zulip recipient types: 1 = one person, 2 = stream, 3 = group of people
_STREAM = 2


def decode_name(encoded: str) -> str:
    """A stream or topic name from zulip-archive's file-name encoding (``.20`` -> space, ``.C2.B0`` -> °)."""

    def repl(m: re.Match[str]) -> str:
        raw = bytes(int(h, 16) for h in m.group(0)[1:].split("."))
        return raw.decode("utf-8", "replace")

    return _ENCODED.sub(repl, encoded)


def _is_tar(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz"))


def _archive_stem(path: Path) -> str:
    name = path.name
    for sfx in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar"):
        if name.lower().endswith(sfx):
            return name[: -len(sfx)]
    return path.stem


def topic_message(
    src: SourceSink,
    mid: str,
    first: str | None,
    ts: datetime,
    author: str | None,
    space: str | None,
    topic: str,
    text: str,
    n_media: int,
) -> str:
    """One message of a topic: the topic's first message is a post titled by the topic, the others reply
    to it (Zulip topics are flat)."""
    return src.message(
        mid,
        parent_id=first,
        created_at=ts,
        author_id=author,
        space_id=space,
        title=None if first else topic,
        text=text,
        n_attachments=n_media,
    )


class ZulipReader(Reader):
    name = "zulip"
    description = "Zulip: zulip-archive JSON (folder or .tar.gz) and Zulip's organisation export"

    @classmethod
    def detect_folder(cls, path: Path) -> float:
        if (path / "zulip_json").is_dir() or (path / "stream_index.json").is_file():
            return 0.95
        if (path / "realm.json").is_file() and any(path.glob("messages-*.json")):
            return 0.95
        return 0.0

    @classmethod
    def detect_file(cls, path: Path) -> float:
        if _is_tar(path):
            try:
                for n, (name, _fh, _refused) in enumerate(iter_tar(path)):
                    parts = PurePosixPath(name).parts
                    if "zulip_json" in parts or parts[-1] in ("realm.json", "stream_index.json"):
                        return 0.95
                    if _MESSAGES_FILE.search(name) and "zulip" in path.name.lower():
                        return 0.9
                    if n >= 20:
                        break
            except (ReaderError, *_READ_ERRORS):
                return 0.0
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        if _is_tar(path):
            self._read_tar(path, sink)
        elif path.is_dir():
            self._read_dir(path, sink)
        else:
            raise ReaderError(f"{path}: expected a zulip-archive folder or .tar.gz, or a Zulip export folder")

    # -- inputs ----------------------------------------------------------------------------------
    def _read_dir(self, path: Path, sink: Sink) -> None:
        files = iter_files(path, [".json"])
        realm = [f for f in files if f.name == "realm.json"]
        # realm.json names an organisation export; an archive folder is named after itself, or after
        # the folder holding it when its own name says nothing (``zulip_json``)
        name = folder_name(path)
        if realm:
            export = _RealmExport(sink, name)
            for f in realm + [f for f in files if _MESSAGES_FILE.search(f.name)]:
                export.feed(str(f.relative_to(path)), _read_bytes(f))
            export.finish()
            return
        src = sink.source("zulip", name)
        archive = _Archive(src, sink)
        sink.set_total(len(files))
        for f in files:
            archive.feed(str(f.relative_to(path)), _read_bytes(f))
            sink.advance(1)
        archive.finish()

    def _read_tar(self, path: Path, sink: Sink) -> None:
        stem = _archive_stem(path)
        archive: _Archive | None = None
        export: _RealmExport | None = None
        count = 0
        try:
            for name, fh, refused in iter_tar(path):
                count += 1
                sink.advance(1)
                if refused is not None:
                    target = export or archive
                    src = target.src_for_rejects() if target else sink.source("zulip", stem)
                    src.reject(f"{path.name}:{name}", refused.reason)
                    continue
                parts = PurePosixPath(name).parts
                if not name.endswith(".json"):
                    continue
                # the layout is known from the first file that only one of the two formats has
                if export is None and archive is None:
                    if parts[-1] == "realm.json" or _MESSAGES_FILE.search(name):
                        export = _RealmExport(sink, stem)
                    elif parts[-1] == "stream_index.json" or (
                        len(parts) > 1 and _STREAM_DIR.match(parts[-2])
                    ):
                        archive = _Archive(sink.source("zulip", stem), sink)
                    else:
                        continue
                if export is not None:
                    if parts[-1] == "realm.json" or _MESSAGES_FILE.search(name):
                        export.feed(name, _read_stream(fh))
                elif archive is not None:
                    archive.feed(name, _read_stream(fh))
        except ReaderError as e:
            target = export or archive
            if target is None:
                raise
            target.src_for_rejects().reject(
                f"{path.name}:after entry {count}",
                f"archive is damaged or truncated; {count} entries were read and kept ({e})",
            )
        if export is not None:
            export.finish()
        elif archive is not None:
            archive.finish()
        else:
            raise ReaderError(f"{path}: the archive holds no zulip-archive topic files and no realm.json")


def _read_bytes(f: Path) -> bytes | Exception:
    try:
        return f.read_bytes()
    except OSError as e:
        return e


def _read_stream(fh: IO[bytes] | None) -> bytes | Exception:
    if fh is None:
        return OSError("entry has no data")
    try:
        return fh.read()
    except _READ_ERRORS as e:
        return e


def _load(src: SourceSink, name: str, data: bytes | Exception | None) -> Any:
    """Parsed JSON, or None after a reject row saying why."""
    if isinstance(data, Exception) or data is None:
        src.reject(name, f"file cannot be read (damaged or truncated): {data}")
        return None
    try:
        return loads(data)
    except orjson.JSONDecodeError as e:
        src.reject(name, f"malformed JSON: {e}", data[:300].decode("utf-8", "replace"))
        return None


class _Archive:
    """zulip-archive JSON: one topic file at a time."""

    def __init__(self, src: SourceSink, sink: Sink) -> None:
        self.src = src
        self.sink = sink
        self.streams: dict[str, str] = {}  # stream id -> name decoded from folder names
        self.index_names: dict[str, str] = {}  # stream id -> real name from stream_index.json
        self.senders: set[str] = set()
        # mentions wait for the end: only people who wrote something have an account here
        self.mentions: list[tuple[str, str, str, Any, str, str, bool]] = []

    def src_for_rejects(self) -> SourceSink:
        return self.src

    def feed(self, name: str, data: bytes | Exception | None) -> None:
        parts = PurePosixPath(name).parts
        if parts[-1] == "stream_index.json":
            doc = _load(self.src, name, data)
            if isinstance(doc, dict):
                for sname, info in (doc.get("streams") or {}).items():
                    if isinstance(info, dict) and info.get("id") is not None:
                        self.index_names[str(info["id"])] = str(sname)
            return
        if len(parts) < 2:
            return
        m = _STREAM_DIR.match(parts[-2])
        if not m:
            self.src.reject(name, "topic file is not inside a '<stream id>-<stream name>' folder")
            return
        stream_id, stream_name = m.group(1), decode_name(m.group(2))
        self.streams.setdefault(stream_id, stream_name)
        doc = _load(self.src, name, data)
        if doc is None:
            return
        if not isinstance(doc, list):
            self.src.reject(name, "topic file is not a JSON list of messages", repr(doc)[:300])
            return
        topic = decode_name(parts[-1][: -len(".json")])
        self.topic(name, stream_id, topic, doc)

    def topic(self, name: str, stream_id: str, topic: str, messages: list[Any]) -> None:
        good = []
        for i, m in enumerate(messages):
            where = f"{name}[{i}]"
            if not isinstance(m, dict):
                self.src.reject(where, "message is not a JSON object", repr(m)[:300])
                continue
            ts = to_utc(m.get("timestamp"))
            if m.get("id") is None or ts is None:
                self.src.reject(where, "message lacks an id or a usable timestamp", orjson.dumps(m)[:300])
                continue
            sender = m.get("sender_full_name")
            if not isinstance(sender, str) or not sender.strip():
                self.src.reject(where, "message has no sender_full_name", orjson.dumps(m)[:300])
                continue
            good.append((ts, str(m["id"]), m))
        good.sort(key=lambda t: (t[0], len(t[1]), t[1]))
        space = self.src.space_ref(stream_id)
        first: str | None = None
        for ts, mid, m in good:
            sender = m["sender_full_name"].strip()
            # the archive does not flag bots: "Notification Bot", "GitHub" and the like go by their name
            author = self.src.person(sender, display_name=sender, is_bot=looks_like_bot(sender))
            self.senders.add(m["sender_full_name"].strip())
            html = parse_html(m.get("content") if isinstance(m.get("content"), str) else None)
            text, n_media = html.text, html.media
            iid = self.src.item_ref(mid)
            for name, _uid, silent in dict.fromkeys(html.mentions):
                self.mentions.append((mid, iid, author, ts, space, name, silent))
            iid = topic_message(self.src, mid, first, ts, author, space, topic, text, n_media)
            first = first or iid

    def finish(self) -> None:
        for sid in sorted(set(self.streams) | set(self.index_names), key=lambda s: int(s)):
            self.src.space(sid, self.index_names.get(sid) or self.streams[sid], "stream")
        unknown = 0
        for mid, iid, author, ts, space, name, silent in self.mentions:
            if name not in self.senders:
                unknown += 1
                continue
            _mention(self.src, mid, iid, author, ts, space, self.src.person_ref(name), silent)
        if unknown:
            self.sink.warn(
                f"zulip: {unknown} mentions name people who wrote nothing in this archive; they were "
                "not recorded"
            )


def _mention(
    src: SourceSink, mid: Any, iid: str, author: str | None, ts: Any, space: str, target: str, silent: bool
) -> None:
    """A mention of a person in a message; a silent one is Zulip's quote-and-reply reference."""
    src.mention(
        f"mention:{mid}:{target}",
        ts=ts,
        actor_id=author,
        space_id=space,
        item_id=iid,
        target_id=target,
        detail="silent" if silent else None,
    )


class _RealmExport:
    """Zulip's organisation export: realm.json first, then the messages files (any order in a tar)."""

    def __init__(self, sink: Sink, fallback_name: str) -> None:
        self.sink = sink
        self.fallback_name = fallback_name
        self.src: SourceSink | None = None
        self.pending: list[tuple[str, bytes | Exception | None]] = []  # message files seen before realm.json
        self.users: dict[int, str] = {}
        self.stream_of_recipient: dict[int, str] = {}
        self.messages: dict[int, tuple[str, str | None, Any, str]] = {}  # id -> (item, author, ts, space)
        self.private = 0
        self.reactions: list[dict[str, Any]] = []
        self.submessages: list[dict[str, Any]] = []
        self.other_submessages = 0
        self._threads: dict[tuple[str, str], str] = {}  # (space, topic) -> first message's item id

    def src_for_rejects(self) -> SourceSink:
        return self.src or self.sink.source("zulip", self.fallback_name)

    def feed(self, name: str, data: bytes | Exception | None) -> None:
        if PurePosixPath(name).name == "realm.json":
            doc = _load(self.src_for_rejects(), name, data)
            if not isinstance(doc, dict):
                if doc is not None:
                    self.src_for_rejects().reject(name, "realm.json is not a JSON object")
                return
            self.start(doc)
            # messages files are numbered in time order; a tar may hold them in any order
            for pname, pdata in sorted(self.pending, key=lambda t: t[0]):
                self.messages_file(pname, pdata)
            self.pending = []
        elif self.src is None:
            self.pending.append((name, data))
        else:
            self.messages_file(name, data)

    def start(self, realm: dict[str, Any]) -> None:
        info = next(iter(realm.get("zerver_realm") or []), {}) or {}
        instance = str(info.get("string_id") or info.get("name") or self.fallback_name) or self.fallback_name
        self.src = self.sink.source("zulip", instance, community=info.get("name") or instance)
        src = self.src
        for table in (
            "zerver_userprofile",
            "zerver_userprofile_mirrordummy",
            "zerver_userprofile_crossrealm",
        ):
            for u in realm.get(table) or []:
                if not isinstance(u, dict) or u.get("id") is None:
                    src.reject(f"realm.json:{table}", "user row without an id", repr(u)[:300])
                    continue
                email = u.get("delivery_email") or u.get("email")
                role = u.get("role")
                self.users[int(u["id"])] = src.person(
                    int(u["id"]),
                    display_name=u.get("full_name") or u.get("email"),
                    email=email if isinstance(email, str) else None,
                    is_bot=bool(u.get("is_bot")) or table == "zerver_userprofile_crossrealm",
                    joined_at=to_utc(u.get("date_joined")),
                    role={100: "owner", 200: "admin", 300: "moderator", 400: "member", 600: "guest"}.get(role)
                    if isinstance(role, int)
                    else None,
                )
        streams = {}
        for s in realm.get("zerver_stream") or []:
            if isinstance(s, dict) and s.get("id") is not None:
                streams[int(s["id"])] = src.space(
                    s["id"], str(s.get("name") or f"stream {s['id']}"), "stream"
                )
        for r in realm.get("zerver_recipient") or []:
            if isinstance(r, dict) and r.get("type") == _STREAM and r.get("type_id") in streams:
                self.stream_of_recipient[int(r["id"])] = streams[int(r["type_id"])]
        self.reactions.extend(x for x in realm.get("zerver_reaction") or [] if isinstance(x, dict))
        self.submessages.extend(x for x in realm.get("zerver_submessage") or [] if isinstance(x, dict))

    def messages_file(self, name: str, data: bytes | Exception | None) -> None:
        src = self.src_for_rejects()
        doc = _load(src, name, data)
        if doc is None:
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("zerver_message"), list):
            src.reject(name, "messages file has no zerver_message list", repr(doc)[:300])
            return
        self.reactions.extend(x for x in doc.get("zerver_reaction") or [] if isinstance(x, dict))
        self.submessages.extend(x for x in doc.get("zerver_submessage") or [] if isinstance(x, dict))
        rows = []
        for i, m in enumerate(doc["zerver_message"]):
            where = f"{name}:zerver_message[{i}]"
            if not isinstance(m, dict) or m.get("id") is None:
                src.reject(where, "message without an id", repr(m)[:300])
                continue
            ts = to_utc(m.get("date_sent", m.get("pub_date")))
            if ts is None:
                src.reject(where, f"message {m['id']} has no usable date_sent", orjson.dumps(m)[:300])
                continue
            rows.append((ts, int(m["id"]), m))
        # Threads are (stream, topic); a topic's first message may sit in an earlier file, so the
        # thread starts are remembered for the whole export.
        rows.sort(key=lambda t: (t[0], t[1]))
        for ts, mid, m in rows:
            space = self.stream_of_recipient.get(m.get("recipient"))  # type: ignore[arg-type]
            if space is None:
                self.private += 1
                continue
            author = self.users.get(m.get("sender")) if isinstance(m.get("sender"), int) else None
            if author is None and m.get("sender") is not None:
                author = src.person(m["sender"])
            topic = str(m.get("subject") or m.get("topic_name") or "")
            key = (space, topic.lower())
            rendered = m.get("rendered_content")
            html = parse_html(rendered if isinstance(rendered, str) else None)
            text, n_media = (html.text, html.media) if html.text else (str(m.get("content") or ""), 0)
            if m.get("has_attachment"):
                n_media = max(n_media, 1)
            first = self._threads.get(key)
            iid = topic_message(src, mid, first, ts, author, space, topic, text, n_media)
            self._threads.setdefault(key, iid)
            self.messages[mid] = (iid, author, ts, space)
            for _name, uid, silent in dict.fromkeys(html.mentions):
                target = self.users.get(int(uid)) if uid and uid.isdigit() else None
                if target is not None:
                    _mention(src, mid, iid, author, ts, space, target, silent)
            self.sink.advance(1)

    def finish(self) -> None:
        if self.src is None:
            src = self.src_for_rejects()
            for name, _data in self.pending:
                src.reject(name, "messages file without realm.json: users and streams are unknown")
            return
        src = self.src
        for r in self.reactions:
            msg = self.messages.get(r.get("message"))  # type: ignore[arg-type]
            if msg is None:
                continue  # a reaction to a private message, which is not read
            iid, author, ts, space = msg
            actor = self.users.get(r.get("user_profile"))  # type: ignore[arg-type]
            key = f"reaction:{r.get('id')}:{r.get('message')}:{r.get('user_profile')}:{r.get('emoji_name')}"
            emoji = str(r.get("emoji_name") or r.get("emoji_code") or "")
            src.reactions(iid, author, space, [(key, actor, ts, emoji)])
        for s in self.submessages:
            msg = self.messages.get(s.get("message_id", s.get("message")))  # type: ignore[arg-type]
            if msg is None:
                continue
            try:
                content = loads(s.get("content") or "null")
            except (orjson.JSONDecodeError, TypeError):
                content = None
            if not (isinstance(content, dict) and content.get("type") == "vote"):
                self.other_submessages += 1
                continue
            iid, author, ts, space = msg
            actor = self.users.get(s.get("sender_id", s.get("sender")))  # type: ignore[arg-type]
            src.action(
                f"submessage:{s.get('id')}",
                verb="vote",
                ts=ts,
                actor_id=actor,
                space_id=space,
                item_id=iid,
                target_id=author,
                value=float(content.get("vote") or 1),
                detail="poll vote",
            )
        self.sink.warn_counts(
            "zulip",
            (
                self.other_submessages,
                "widget submessages (poll options, to-do edits) are not interactions and were not read",
            ),
            (self.private, "direct or group messages are private conversations and were not read"),
        )
