"""Mattermost bulk export (``mmctl export create``): JSON Lines, loose or inside the export zip.

Each line is one object tagged by ``type``: ``version``, ``team``, ``channel``, ``user``, ``bot``, ``post``
(with its ``replies`` and ``reactions``), ``direct_channel``, ``direct_post``, ``emoji``, ``scheme``...
Posts carry no ids: Mattermost itself recognises a post by channel, author, ``create_at`` (milliseconds)
and text, so the reader builds its ids from the same parts and a re-ingest adds nothing.

Channels (and the teams holding them) become spaces, users people (email kept only as its keyed hash),
posts ``post`` items, their replies ``reply`` items in the post's thread, and each user's reaction a
``react`` action aimed at the author. The API captures read by the Perceval reader are not this format.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson

from covalue import identity
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, epoch_ms
from covalue.sources.exportfiles import (
    decode,
    is_tar,
    is_zip,
    peek_export_files,
    read_each_file,
)
from covalue.sources.jsonstream import loads

_IGNORED = {"version", "emoji", "scheme", "role", "topical_thread"}  # carry nothing a metric needs
_TYPES = {"team", "channel", "user", "bot", "post", "direct_channel", "direct_post"} | _IGNORED


def _first_line_type(head: bytes) -> str | None:
    line = head.split(b"\n", 1)[0].strip()
    try:
        obj = loads(line)
    except orjson.JSONDecodeError:
        return None
    return obj.get("type") if isinstance(obj, dict) else None


class MattermostReader(Reader):
    name: ClassVar[str] = "mattermost"
    description: ClassVar[str] = "Mattermost bulk export (mmctl export): JSON Lines file, folder or zip"

    @classmethod
    def _suffixes(cls, path: Path) -> tuple[str, ...]:
        # inside an export zip or folder only the .jsonl counts (attachments sit beside it)
        if path.is_file() and not (is_zip(path) or is_tar(path)):
            return (path.name.lower(),)
        return (".jsonl",)

    @classmethod
    def detect(cls, path: Path) -> float:
        for _name, head in peek_export_files(path, cls._suffixes(path), limit=5):
            t = _first_line_type(head)
            if t == "version" and b'"version"' in head.split(b"\n", 1)[0]:
                return 0.95
            if t in _TYPES:
                return 0.7
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        instance = re.sub(r"\.(jsonl|json|zip|tar\.gz|tgz|tar)$", "", path.name, flags=re.I) or "mattermost"
        src = sink.source("mattermost", instance)
        self._teams: dict[str, str] = {}  # team name -> display name
        self._channels: dict[tuple[str, str], str] = {}  # (team, channel) -> space id
        self._users: dict[str, str] = {}  # username -> identity id
        self._loc = ""  # where the line being read is, for rejects of its parts
        read = functools.partial(self._read_lines, src)
        suffixes = self._suffixes(path)
        if not read_each_file(
            path, sink, src, read, suffixes=suffixes, settings=self.settings, kept="; lines before kept"
        ):
            raise ReaderError(f"{path}: no Mattermost bulk export (.jsonl) found")

    def _read_lines(self, src: SourceSink, name: str, stream: IO[bytes]) -> None:
        for lineno, raw in enumerate(stream, start=1):
            line = raw.strip()
            if not line:
                continue
            loc = f"{name}:{lineno}"
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as e:
                text, had_bad = decode(line)
                try:
                    obj = loads(text) if had_bad else None
                except orjson.JSONDecodeError:
                    obj = None
                if obj is None:
                    src.reject(loc, f"not valid JSON ({e})", text[:200])
                    continue
                src.reject(loc, "invalid UTF-8 bytes replaced with U+FFFD; line kept", text[:200])
            kind = obj.get("type") if isinstance(obj, dict) else None
            kind = kind if isinstance(kind, str) else None
            if kind in _IGNORED:
                continue
            body = obj.get(kind) if isinstance(kind, str) else None
            if kind not in _TYPES or not isinstance(body, dict):
                src.reject(
                    loc,
                    f"not a bulk export line (type {kind!r} with no {kind!r} object)",
                    line[:200].decode("utf-8", "replace"),
                )
                continue
            self._loc = loc
            try:
                getattr(self, f"_{kind}")(src, body)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                src.reject(
                    loc,
                    f"{kind} not understood ({type(e).__name__}: {e})",
                    line[:200].decode("utf-8", "replace"),
                )

    # -- one method per line type ----------------------------------------------------------------------
    def _team(self, src: SourceSink, t: dict[str, Any]) -> None:
        name = str(t["name"])
        display = str(t.get("display_name") or name)
        self._teams[name] = display
        src.space(f"team:{name}", display, kind="team")

    def _space(self, src: SourceSink, team: str, channel: str, display: str | None = None) -> str:
        sid = self._channels.get((team, channel))
        if sid is None:
            label = f"{self._teams.get(team, team)}/{display or channel}"
            sid = src.space(f"{team}/{channel}", label, kind="channel")
            self._channels[(team, channel)] = sid
        return sid

    def _channel(self, src: SourceSink, c: dict[str, Any]) -> None:
        self._space(src, str(c["team"]), str(c["name"]), c.get("display_name"))

    def _person(self, src: SourceSink, username: Any, **kw: Any) -> str:
        key = str(username)
        pid = self._users.get(key)
        if pid is None:
            pid = self._users[key] = src.person(key, display_name=kw.pop("display_name", key), **kw)
        return pid

    def _user(self, src: SourceSink, u: dict[str, Any]) -> None:
        username = str(u["username"])
        full = " ".join(x for x in (u.get("first_name"), u.get("last_name")) if x)
        roles = str(u.get("roles") or "")
        self._person(
            src,
            username,
            display_name=u.get("nickname") or full or username,
            email=u.get("email"),
            left_at=epoch_ms(u.get("delete_at")),
            role="admin" if "system_admin" in roles else (u.get("position") or None),
        )

    def _bot(self, src: SourceSink, b: dict[str, Any]) -> None:
        self._person(src, b["username"], display_name=b.get("display_name") or b["username"], is_bot=True)

    def _post(self, src: SourceSink, p: dict[str, Any]) -> None:
        team, channel = str(p["team"]), str(p["channel"])
        self._message(src, self._space(src, team, channel), f"{team}/{channel}", p)

    def _direct_channel(self, src: SourceSink, d: dict[str, Any]) -> None:
        self._direct_space(src, d.get("members") or [])

    def _direct_space(self, src: SourceSink, members: list[Any]) -> str:
        # a direct channel is named by its members; the space name must not spell out who they are
        key = "dm:" + identity.stable_id(*sorted(str(m) for m in members))
        return src.space(key, f"direct messages ({len(members)} people)", kind="direct")

    def _direct_post(self, src: SourceSink, p: dict[str, Any]) -> None:
        members = p.get("channel_members") or []
        sid = self._direct_space(src, members)
        self._message(src, sid, sid, p)

    def _message(self, src: SourceSink, space_id: str, channel_key: str, p: dict[str, Any]) -> None:
        native, iid = self._contribution(src, space_id, channel_key, p, None)
        if iid is None:
            return
        for j, r in enumerate(p.get("replies") or []):
            # one bad reply is rejected alone: the post and its other replies are kept
            try:
                self._contribution(src, space_id, native, r, iid)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                src.reject(
                    f"{self._loc} replies[{j}]",
                    f"reply not understood ({type(e).__name__}: {e})",
                    orjson.dumps(r)[:200].decode("utf-8", "replace"),
                )

    def _contribution(
        self, src: SourceSink, space_id: str, key: str, p: dict[str, Any], thread: str | None
    ) -> tuple[str, str | None]:
        """A post (``thread`` None) or a reply in ``thread``, with its reactions: (native id, item id);
        the item id is None for a system message (a join, a header change), which becomes an action."""
        author = self._person(src, p["user"])
        ts = epoch_ms(p.get("create_at"))
        if ts is None:
            what = "reply create_at" if thread else "create_at"
            raise ValueError(f"{what} is not epoch milliseconds: {p.get('create_at')!r}")
        text = p.get("message") or ""
        native = identity.stable_id(key, p["user"], p["create_at"], text)
        ptype = p.get("type") or ""
        if thread is None and ptype.startswith("system_"):
            src.action(
                f"{native}:system", verb="system", ts=ts, actor_id=author, space_id=space_id, detail=ptype
            )
            return native, None
        iid = src.message(
            native,
            parent_id=thread,
            created_at=ts,
            author_id=author,
            space_id=space_id,
            text=text,
            n_attachments=len(p.get("attachments") or []),
        )
        src.reactions(iid, author, space_id, self._reactions(src, native, p.get("reactions")))
        return native, iid

    def _reactions(
        self, src: SourceSink, native: str, reactions: list[dict[str, Any]] | None
    ) -> Iterator[tuple[str, str, datetime | None, str]]:
        """(native id, who, when, emoji) of each reaction to the post ``native``."""
        for r in reactions or []:
            emoji = str(r["emoji_name"])
            yield (
                f"{native}:react:{r['user']}:{emoji}",
                self._person(src, r["user"]),
                epoch_ms(r.get("create_at")),
                emoji,
            )
