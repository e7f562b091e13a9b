"""Microsoft Teams channel messages as Microsoft Graph returns them (``chatMessage`` resources).

Accepted shapes: a response page ``{"value": [...], "@odata.nextLink": ...}``, a plain list of messages,
one message, or a folder / zip of such files (one file per page, as a paging script saves them). Replies
are recognised from ``replyToId`` or from a nested ``replies`` list (``$expand=replies``). Bodies are HTML:
links are counted before the markup is stripped. ``from.application`` marks a bot or connector;
``systemEventMessage`` becomes ``system`` actions (and ``join`` / ``leave`` for member events).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar

import lxml.html
import orjson
from lxml import etree

from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, to_utc
from covalue.sources.exportfiles import (
    decode,
    peek_export_files,
    read_each_file,
)
from covalue.sources.jsonstream import loads

_HREF = re.compile(r"<a\s[^>]*href\s*=", re.I)
_BARE_URL = re.compile(r"(?<![\"'=])https?://", re.I)
_JOIN_EVENTS = {"membersAddedEventMessageDetail", "membersJoinedEventMessageDetail"}
_LEAVE_EVENTS = {"membersDeletedEventMessageDetail", "membersLeftEventMessageDetail"}


def html_text(content: str | None, content_type: str | None) -> tuple[str, int]:
    """(plain text, links) of a message body; HTML is parsed without fetching anything."""
    if not content:
        return "", 0
    if (content_type or "").lower() != "html":
        return content, len(_BARE_URL.findall(content))
    links = len(_HREF.findall(content)) + len(_BARE_URL.findall(_HREF.sub("", content)))
    try:
        parser = lxml.html.HTMLParser(no_network=True, remove_comments=True)
        doc = lxml.html.fromstring(content, parser=parser)
        text = doc.text_content()
    except (etree.ParserError, ValueError):
        text = re.sub(r"<[^>]+>", " ", content)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip(), links


def _short(odata_type: Any) -> str:
    return str(odata_type or "").rsplit(".", 1)[-1]


class TeamsReader(Reader):
    name: ClassVar[str] = "teams"
    description: ClassVar[str] = (
        "Microsoft Teams channel messages from Microsoft Graph (JSON pages, folder, zip)"
    )

    @classmethod
    def detect(cls, path: Path) -> float:
        for _name, head in peek_export_files(path, (".json",), limit=5):
            if b'"messageType"' in head and b'"createdDateTime"' in head:
                return 0.95 if (b'"channelIdentity"' in head or b"chatMessage" in head) else 0.8
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        instance = re.sub(r"\.(json|zip|tar\.gz|tgz|tar)$", "", path.name, flags=re.I) or "teams"
        src = sink.source("teams", instance)
        self._seen_people: dict[str, str] = {}
        read = functools.partial(self._read_file, src)
        if not read_each_file(path, sink, src, read, suffixes=(".json",), settings=self.settings):
            raise ReaderError(f"{path}: no Microsoft Graph message files (.json) found")

    def _read_file(self, src: SourceSink, name: str, stream: IO[bytes]) -> None:
        text, had_bad = decode(stream.read())
        try:
            docs: list[tuple[str, Any]] = [("", loads(text))]
        except orjson.JSONDecodeError as e:
            docs = self._json_lines(text)
            if not docs:
                src.reject(name, f"not valid JSON ({e})", text[:200])
                return
        if had_bad:
            src.reject(name, "invalid UTF-8 bytes replaced with U+FFFD; file kept")
        parent = PurePosixPath(name).parent.as_posix()
        self._folder = "" if parent in ("", ".") else parent
        for prefix, doc in docs:
            # a list of response pages (as a paging script may save them) is read page by page
            if isinstance(doc, list) and doc and all(isinstance(d, dict) and "value" in d for d in doc):
                for k, page in enumerate(doc):
                    self._page(src, name, f"{prefix}[{k}].", page, text)
            else:
                self._page(src, name, prefix, doc, text)

    @staticmethod
    def _json_lines(text: str) -> list[tuple[str, Any]]:
        """One JSON document per line (pages or messages), or [] when the text is not that either."""
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    out.append((f"line {n} ", loads(line)))
                except orjson.JSONDecodeError:
                    return []
        return out

    def _page(self, src: SourceSink, name: str, prefix: str, doc: Any, text: str) -> None:
        if isinstance(doc, dict) and isinstance(doc.get("value"), list):
            messages, where = doc["value"], f"{prefix}value"
        elif isinstance(doc, list):
            messages, where = doc, prefix.strip()
        elif isinstance(doc, dict) and "messageType" in doc:
            messages, where = [doc], prefix.strip()
        else:
            src.reject(
                f"{name}:{prefix.strip()}".rstrip(":"),
                "not Microsoft Graph chat messages (no 'value' list, list or message)",
                text[:200],
            )
            return
        for i, m in enumerate(messages):
            self._message(src, f"{name}:{where}[{i}]", m, None)

    def _reactions(
        self, src: SourceSink, iid: str, ts: datetime, reactions: list[dict[str, Any]]
    ) -> Iterator[tuple[str, str | None, datetime, str]]:
        """(native id, who, when, kind) of each reaction; one without a time took the message's."""
        for r in reactions:
            who = self._person(src, r.get("user"))
            rts = to_utc(r.get("createdDateTime")) or ts
            kind = str(r.get("reactionType") or "like")
            yield f"{iid}:react:{kind}:{who}:{rts.isoformat()}", who, rts, kind

    def _person(self, src: SourceSink, ident: Any) -> str | None:
        """The account behind a Graph identitySet (``user`` or ``application``), or None."""
        if not isinstance(ident, dict):
            return None
        user = ident.get("user")
        app = ident.get("application")
        who, bot = (user, False) if isinstance(user, dict) and user.get("id") else (app, True)
        if not isinstance(who, dict) or not who.get("id"):
            return None
        key = f"{'app' if bot else 'user'}:{who['id']}"
        pid = self._seen_people.get(key)
        if pid is None:
            pid = src.person(key, display_name=who.get("displayName"), is_bot=bot)
            self._seen_people[key] = pid
        return pid

    def _space(self, src: SourceSink, m: dict[str, Any]) -> tuple[str, str | None]:
        """(channel key, space id). Message ids are only unique within a channel, so item ids carry the
        channel key; without ``channelIdentity`` the file's folder stands for the channel."""
        ch = m.get("channelIdentity") or {}
        cid = ch.get("channelId") if isinstance(ch, dict) else None
        if not cid:
            if not self._folder:
                return "", None
            return f"folder:{self._folder}", src.space(f"folder:{self._folder}", self._folder, kind="channel")
        return str(cid), src.space(str(cid), self._folder or str(cid), kind="channel")

    def _message(self, src: SourceSink, loc: str, m: Any, parent_native: str | None) -> None:
        try:
            self._one(src, loc, m, parent_native)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            src.reject(loc, f"message not understood ({type(e).__name__}: {e})", orjson.dumps(m)[:200])

    def _one(self, src: SourceSink, loc: str, m: dict[str, Any], parent_native: str | None) -> None:
        mid = str(m["id"])
        ts = to_utc(m.get("createdDateTime"))
        if ts is None:
            raise ValueError(f"createdDateTime not understood: {m.get('createdDateTime')!r}")
        chan, space_id = self._space(src, m)
        native = f"{chan}/{mid}"  # Graph message ids are unique within a channel only
        author = self._person(src, m.get("from"))
        # a value of another type (true, a number) is kept as text rather than breaking the batch
        mtype = str(m.get("messageType") or "message")
        if mtype == "systemEventMessage":
            detail = m.get("eventDetail") or {}
            event = _short(detail.get("@odata.type")) if isinstance(detail, dict) else ""
            verb = "join" if event in _JOIN_EVENTS else "leave" if event in _LEAVE_EVENTS else None
            if verb:
                for j, member in enumerate(detail.get("members") or []):
                    who = self._person(src, {"user": member})
                    src.action(
                        f"{native}:{verb}:{j}",
                        verb=verb,
                        ts=ts,
                        actor_id=who,
                        space_id=space_id,
                        detail=event,
                    )
            else:
                actor = self._person(src, detail.get("initiator")) if isinstance(detail, dict) else None
                src.action(
                    f"{native}:system",
                    verb="system",
                    ts=ts,
                    actor_id=actor or author,
                    space_id=space_id,
                    detail=event or mtype,
                )
            return
        if mtype != "message":  # typing, chatEvent, unknownFutureValue: nothing a member contributed
            src.action(
                f"{native}:system", verb="system", ts=ts, actor_id=author, space_id=space_id, detail=mtype
            )
            return
        reply_to = m.get("replyToId") or parent_native
        body = m.get("body") or {}
        text, links = html_text(body.get("content"), body.get("contentType"))
        if m.get("deletedDateTime"):
            text, links = "", 0  # Graph keeps the shell of a deleted message; its content is gone
        atts = [a for a in m.get("attachments") or [] if (a or {}).get("contentType") != "messageReference"]
        parent_id = src.item_ref(f"{chan}/{reply_to}") if reply_to else None
        iid = src.message(
            native,
            parent_id=parent_id,
            created_at=ts,
            author_id=author,
            space_id=space_id,
            title=m.get("subject") or None,
            text=text,
            n_links=links,
            n_attachments=len(atts),
        )
        src.reactions(iid, author, space_id, self._reactions(src, iid, ts, m.get("reactions") or []))
        for men in m.get("mentions") or []:
            target = self._person(src, (men or {}).get("mentioned"))
            if target is not None:
                src.mention(
                    f"{iid}:mention:{target}",
                    ts=ts,
                    actor_id=author,
                    space_id=space_id,
                    item_id=iid,
                    target_id=target,
                )
        for j, r in enumerate(m.get("replies") or []):
            self._message(src, f"{loc}.replies[{j}]", r, mid)
