"""Discord, as DiscordChatExporter writes it: CSV pages or JSON channel files, loose or in a zip / tar.

CSV (``AuthorID;Author;Date;Content;Attachments;Reactions``) has no message ids and no reply structure:
every message becomes a post, reactions arrive as counts per emoji (``👍 (2),KMD (1)``) and become one
aggregated ``react`` action per emoji whose ``value`` is the count and whose actor is unknown. JSON carries
ids, replies (``reference.messageId``), bots (``author.isBot``), mentions and, in recent versions, the
users behind each reaction.

Archives are streamed entry by entry (a tar.gz is never unpacked to disk), so memory stays bounded by one
CSV page or one JSON channel file; how is in :mod:`covalue.sources.exportfiles`, which the other chat
readers share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar

import orjson

from covalue import identity
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, slug, to_utc
from covalue.sources.exportfiles import (
    READ_ERRORS,
    csv_rows,
    decode,
    iter_export_files,
    peek_export_files,
)
from covalue.sources.jsonstream import loads

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

        CSV times stop at the minute, and a busy channel writes several messages in one: each gets its
        place in the page as microseconds past the minute, so that who spoke after whom (a question and
        its answer in the same minute) stays as the export lists it.
        """
        counts = self._edges.setdefault(space_key, {}) if edge else {}
        for place, r in enumerate(group):
            ts = r.ts + timedelta(microseconds=place) if place else r.ts
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
                created_at=ts,
                author_id=author,
                space_id=space_id,
                text=r.content,
                n_attachments=n_att,
            )
            seen: dict[str, int] = {}
            for emoji, n in r.reactions:
                # two custom emoji of different servers may share a name: rank them to keep both
                j = seen[emoji] = seen.get(emoji, -1) + 1
                src.react(
                    f"{native}:react:{emoji}:{j}",
                    ts=ts,
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
            doc = loads(text)
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
        if user.get("isBot") and disc == "0000" and name:
            # a webhook: it names each message as it likes, and a bridge names it after the person it
            # relays; one account per name, a bot until covalue.relays finds the webhook speaks for many
            return src.person(identity.webhook_account(user["id"], name), display_name=str(name), is_bot=True)
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
        if parent_native:
            parent_native = str(parent_native)
            parent_id = src.item_ref(parent_native)
            thread_id = roots.get(parent_native, parent_id)
        roots[mid] = thread_id or src.item_ref(mid)
        atts = m.get("attachments") or []
        iid = src.message(
            mid,
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
            # recent exporters list who reacted: one action each; older ones give a count and nobody
            users = r.get("users") or []
            who = [(f"{mid}:react:{ekey}:{u['id']}", self._json_person(src, u), 1.0) for u in users] or [
                (f"{mid}:react:{ekey}", None, float(r.get("count") or 1))
            ]
            for key, actor, value in who:
                src.react(
                    key,
                    ts=ts,
                    actor_id=actor,
                    space_id=space_id,
                    item_id=iid,
                    target_id=author,
                    value=value,
                    detail=ename,
                )
        for u in m.get("mentions") or []:
            target = self._json_person(src, u)
            src.mention(
                f"{mid}:mention:{u['id']}",
                ts=ts,
                actor_id=author,
                space_id=space_id,
                item_id=iid,
                target_id=target,
            )
