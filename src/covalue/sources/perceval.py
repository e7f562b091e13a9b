"""Reader for CHAOSS GrimoireLab Perceval output, and for the raw platform API pages Perceval reads.

Two kinds of input land here:

* **Perceval items**: what ``perceval <backend> ...`` prints, one JSON object per fetched item
  (``{backend_name, category, origin, uuid, updated_on, data: {...}}``), as a JSON array, as JSON Lines
  (``--json-line``) or as pretty-printed objects one after another (the default). The file is split into
  values as it streams (:mod:`covalue.sources.jsonstream`), so a file of any size is read in bounded memory.
* **Raw API captures**: the responses Perceval's backends fetch (Slack ``conversations.history`` pages,
  Mattermost posts pages, Telegram ``getUpdates``, Meetup events, Stack Exchange questions, IRC logs
  written by Supybot, raw NNTP articles, groups.io subscriptions, ...). Each file is recognised by its
  shape, not its name, and read with the same mapping as the matching Perceval item.

Every backend's native record becomes canonical rows: messages, posts, questions, answers and comments
become items with their threads and parents; reactions become ``react`` actions, one per person;
Meetup events become ``event`` items and their RSVPs ``attend`` actions; joins and leaves become
actions. The source is ``perceval-<backend>:<host>`` for Perceval items (the host of the item's origin:
accounts belong to a server, not to one channel) and ``perceval-<backend>:<folder>`` for raw captures.

Files that hold no community content (an API error, an empty page, a login response) and records that
cannot be read become reject rows saying why, so every file is accounted for.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from covalue.sources.base import Reader, ReaderError, Sink, to_utc
from covalue.sources.jsonstream import iter_json, loads
from covalue.sources.mailmessage import recovered_warning
from covalue.sources.perceval_chat import (
    PercevalSource,
    excerpt,
    first_name,
    gitter_message,
    irc_entry,
    mattermost_post,
    mattermost_user,
    parse_irc_message,
    resolve_pending,
    rocketchat_message,
    slack_message,
    slack_user,
    telegram_update,
)
from covalue.sources.perceval_forums import (
    MailHeaders,
    discourse_topic,
    mail_message,
    mail_text,
    meetup_comment,
    meetup_event,
    meetup_rsvp,
    se_question,
)

#: Perceval backends this reader maps (chat, forum and mail); others are rejected with their name.
BACKENDS = (
    "slack",
    "discourse",
    "mattermost",
    "rocketchat",
    "telegram",
    "gitter",
    "mbox",
    "pipermail",
    "hyperkitty",
    "groupsio",
    "nntp",
    "supybot",
    "stackexchange",
    "meetup",
)
MAIL_BACKENDS = ("mbox", "pipermail", "hyperkitty", "groupsio", "nntp")

_SNIFF = 65_536
_MAX_PAGE = 256 * 1024**2  # a raw API page larger than this is not an API page
_IRC_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{4})?)\s\s(.*)$")


# -- raw capture recognition ---------------------------------------------------------------------------

#: which dedicated reader takes raw files of the backends this reader leaves to others
OTHER_READERS = {"discourse": "discourse", "mbox": "mbox", "pipermail": "mbox", "hyperkitty": "mbox"}


#: API pages wrapped in a flag that says whether the call worked ("success" for Rocket.Chat, "ok" for
#: Slack and Telegram): (key, its type, backend, kind) in the order they are tried
_ENVELOPES: dict[str, tuple[tuple[str, type, str, str], ...]] = {
    "success": (("messages", list, "rocketchat", "messages"), ("channel", dict, "rocketchat", "channel")),
    "ok": (
        ("result", list, "telegram", "updates"),
        ("messages", list, "slack", "history"),
        ("channel", dict, "slack", "channel"),
        ("user", dict, "slack", "user"),
        ("members", list, "slack", "members"),
    ),
}


def classify_json(obj: Any) -> tuple[str, str]:
    """(backend, kind) of a raw API response; backend "" when it holds no community content."""
    if isinstance(obj, dict):
        if "backend_name" in obj and "data" in obj:
            return "perceval", "item"
        for flag, pages in _ENVELOPES.items():
            if flag in obj:
                if obj.get(flag) is False:
                    return "", "error"
                for key, holds, backend, kind in pages:
                    if isinstance(obj.get(key), holds):
                        return backend, kind
        if isinstance(obj.get("order"), list) and isinstance(obj.get("posts"), dict):
            return "mattermost", "posts"
        if "status_code" in obj and "message" in obj:
            return "", "error"
        if "username" in obj and "roles" in obj and "id" in obj:
            return "mattermost", "user"
        if "team_id" in obj and "display_name" in obj and "id" in obj:
            return "mattermost", "channel"
        if isinstance(obj.get("items"), list) and ("quota_max" in obj or "has_more" in obj):
            return "stackexchange", "questions"
        if "token" in obj and isinstance(obj.get("user"), dict):
            return "", "login"
        if obj.get("object") == "list" and isinstance(obj.get("data"), list):
            return "groupsio", "subscriptions"
        if "post_stream" in obj:
            return "", "discourse"
        if isinstance(obj.get("error"), str | dict) or "errors" in obj:
            return "", "error"
        return "", "unknown"
    if isinstance(obj, list):
        if not obj:
            return "", "empty"
        first = obj[0] if isinstance(obj[0], dict) else {}
        if "fromUser" in first and "sent" in first:
            return "gitter", "messages"
        if "uri" in first and ("oneToOne" in first or "githubType" in first):
            return "gitter", "rooms"
        if "question_id" in first:
            return "stackexchange", "questions"
        if "response" in first and "member" in first and "event" in first:
            return "meetup", "rsvps"
        if "comment" in first and "member" in first:
            return "meetup", "comments"
        if "event_hosts" in first or ("time" in first and "group" in first and "link" in first):
            return "meetup", "events"
        if "backend_name" in first:
            return "perceval", "item"
    return "", "unknown"


def _looks_irc(head: bytes) -> bool:
    lines = [ln for ln in head.decode("utf-8", "replace").splitlines()[:5] if ln.strip()]
    return bool(lines) and all(_IRC_LINE.match(ln) for ln in lines[:2])


def _looks_article(head: bytes) -> bool:
    text = head[:8192].decode("latin-1")
    return (
        bool(re.search(r"^Newsgroups:", text, re.M))
        and bool(re.search(r"^Message-ID:", text, re.M | re.I))
        and not text.startswith("From ")
    )


def sniff(path: Path) -> str:
    """What a file is: "items" (Perceval output), "json" (an API page), "irc", "article", "other"."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF)
    except OSError:
        return "other"
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "items" if b'"backend_name"' in head and b'"data"' in head else "json"
    if _looks_irc(head):
        return "irc"
    if _looks_article(head):
        return "article"
    return "other"


#: why records counted in ``PercevalSource.skipped`` add no row, as shown to the person running the ingest
_WHY = {
    "repeated item": "the same record in overlapping pages or an edit of it; read once",
    "earlier version of an edited message": "the edited message itself is read",
    "deleted post": "deleted on the platform",
    "empty IRC message": "a nick with no text",
    "mail without a readable Date": "kept, with no date",
}


# -- the reader ---------------------------------------------------------------------------------------


class PercevalReader(Reader):
    name = "perceval"
    description = "CHAOSS GrimoireLab Perceval items (JSON), and the raw platform API pages Perceval reads"

    @classmethod
    def detect(cls, path: Path) -> float:
        files = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()][:200]
        if not files:
            return 0.0
        kinds = {p: sniff(p) for p in files}
        if "items" in kinds.values():
            return 0.9
        known = 0
        for p, k in kinds.items():
            if k in ("irc", "article"):
                known += 1
            elif k == "json" and p.stat().st_size < 1024**2:  # API pages are small; never load big files here
                try:
                    backend, kind = classify_json(loads(p.read_bytes()))
                except orjson.JSONDecodeError:
                    continue
                known += bool(backend) or kind in ("error", "empty", "login")
        # raw captures are a weaker signal than a platform's own export: leave those to their readers
        return 0.4 if known * 2 > len(files) else 0.0

    def read(self, path: Path, sink: Sink) -> None:
        if not path.exists():
            raise ReaderError(f"{path}: no such file or folder")
        files = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()]
        if not files:
            raise ReaderError(f"{path}: no files to read")
        sink.set_total(sum(p.stat().st_size for p in files))
        self._ctx: dict[str, PercevalSource] = {}
        raw: dict[Path, list[tuple[Path, str]]] = {}
        for p in files:
            kind = sniff(p)
            if kind == "items":
                self._read_items(p, sink)
                sink.advance(p.stat().st_size)
            else:
                raw.setdefault(p.parent, []).append((p, kind))
        for folder, entries in raw.items():
            self._read_raw_folder(folder, entries, sink)
        for ctx in self._ctx.values():
            resolve_pending(ctx)
            for what, n in sorted(ctx.skipped.items()):
                sink.warn(f"{ctx.ss.source}: {n} × {what} ({_WHY.get(what, 'not community content')})")
            if ctx.ss.recovered_senders:
                sink.warn(recovered_warning(ctx.ss.source, len(ctx.ss.recovered_senders)))

    # -- Perceval items -----------------------------------------------------------------------------
    def _ctx_for(self, sink: Sink, backend: str, instance: str) -> PercevalSource:
        key = f"{backend}\x1f{instance}"
        if key not in self._ctx:
            self._ctx[key] = PercevalSource(sink.source(f"perceval-{backend}", instance), backend)
        return self._ctx[key]

    def _read_items(self, path: Path, sink: Sink) -> None:
        with path.open("rb") as fh:
            for offset, obj, problem in iter_json(fh):
                loc = f"{path}:byte {offset}"
                if problem:
                    sink.reject("perceval", loc, problem)
                    continue
                if (
                    not isinstance(obj, dict)
                    or not isinstance(obj.get("data"), dict)
                    or "backend_name" not in obj
                ):
                    sink.reject(
                        "perceval", loc, "not a Perceval item (no backend_name and data)", excerpt(obj)
                    )
                    continue
                self._item(obj, loc, sink)

    def _item(self, it: dict[str, Any], loc: str, sink: Sink) -> None:
        backend = str(it.get("backend_name")).lower().replace(".", "").replace("-", "")
        if backend not in BACKENDS:
            sink.reject(
                "perceval",
                loc,
                f"Perceval backend {it.get('backend_name')!r} is not a community backend "
                f"covalue maps (it reads: {', '.join(BACKENDS)})",
            )
            return
        origin = str(it.get("origin") or "")
        u = urlparse(origin)
        instance = u.netloc or (Path(origin).name if origin else "") or "unknown"
        ctx = self._ctx_for(sink, backend, instance)
        d = it["data"]
        tail = (u.path or "").strip("/") or origin  # the channel, room, group or list in the origin
        try:
            self._map_item(ctx, backend, d, tail, loc)
        except (TypeError, AttributeError, KeyError, ValueError) as e:
            ctx.ss.reject(loc, f"{backend} item could not be mapped: {type(e).__name__}: {e}", excerpt(d))

    def _map_item(self, ctx: PercevalSource, backend: str, d: dict[str, Any], tail: str, loc: str) -> None:
        if backend == "slack":
            info = d.get("channel_info") if isinstance(d.get("channel_info"), dict) else {}
            chan = info.get("id") or tail.rsplit("/", 1)[-1] or "unknown"
            slack_message(ctx, d, ctx.space(chan, info.get("name")), loc)
        elif backend == "mattermost":
            mattermost_post(ctx, d, loc, {})
        elif backend == "rocketchat":
            rocketchat_message(ctx, d, loc)
        elif backend == "gitter":
            gitter_message(ctx, d, ctx.space(tail or "unknown", tail or None, "room"), loc)
        elif backend == "telegram":
            telegram_update(ctx, d, loc)
        elif backend == "meetup":
            meetup_event(ctx, d, loc)
        elif backend == "stackexchange":
            se_question(ctx, d, ctx.space(tail or "site", tail or "site", "site"), loc)
        elif backend == "supybot":
            chan = urlparse(tail).fragment or tail.rsplit("/", 1)[-1] or "irc"
            irc_entry(ctx, d, ctx.space(chan, chan), loc)
        elif backend == "discourse":
            discourse_topic(ctx, d, loc)
        else:  # mail
            body = d.get("body")
            text = body.get("plain") or body.get("html") if isinstance(body, dict) else body
            mail_message(
                ctx,
                MailHeaders(d),
                text if isinstance(text, str) else None,
                loc,
                tail.rsplit("/", 1)[-1] or None,
            )

    # -- raw captures -----------------------------------------------------------------------------
    def _read_raw_folder(self, folder: Path, entries: list[tuple[Path, str]], sink: Sink) -> None:
        """Read the raw captures of one folder: context (users, channels, rooms) first, then content."""
        parsed: list[tuple[Path, str, str, Any]] = []
        for p, kind in entries:
            loc = str(p)
            if kind in ("irc", "article"):
                parsed.append((p, "supybot" if kind == "irc" else "nntp", kind, None))
                continue
            if kind == "other":
                self._reject_other(p, sink)
                sink.advance(p.stat().st_size)
                continue
            if p.stat().st_size > _MAX_PAGE:
                sink.reject(
                    "perceval",
                    loc,
                    f"JSON file of {p.stat().st_size:,} bytes is too large for an API page "
                    "and holds no Perceval items",
                )
                sink.advance(p.stat().st_size)
                continue
            try:
                obj = loads(p.read_bytes())
            except orjson.JSONDecodeError as e:
                sink.reject("perceval", loc, f"invalid JSON: {e}")
                sink.advance(p.stat().st_size)
                continue
            backend, what = classify_json(obj)
            parsed.append((p, backend, what, obj))
        order = {"user": 0, "channel": 1, "rooms": 1, "members": 2}
        parsed.sort(key=lambda e: (order.get(e[2], 5), e[0].name))
        channels: dict[str, dict[str, Any]] = {}  # backend -> {id: name} learned from context files
        for p, backend, what, obj in parsed:
            loc = str(p)
            size = p.stat().st_size
            if not backend:
                self._reject_raw(p, what, obj, sink)
                sink.advance(size)
                continue
            ctx = self._ctx_for(sink, backend, folder.name)
            known = channels.setdefault(backend, {})
            try:
                self._raw(ctx, backend, what, obj, p, loc, known)
            except (TypeError, AttributeError, KeyError, ValueError) as e:
                ctx.ss.reject(
                    loc, f"{backend} {what} page could not be mapped: {type(e).__name__}: {e}", excerpt(obj)
                )
            sink.advance(size)

    def _reject_raw(self, p: Path, what: str, obj: Any, sink: Sink) -> None:
        loc = str(p)
        if what == "error":
            msg = (
                obj.get("message") or obj.get("error") or obj.get("errors") if isinstance(obj, dict) else obj
            )
            code = obj.get("status_code") if isinstance(obj, dict) else None
            sink.reject(
                "perceval",
                loc,
                f"API error response: {(str(code) + ' ') if code else ''}{msg}",
                excerpt(obj),
            )
        elif what == "empty":
            sink.reject("perceval", loc, "empty page: the API returned no records")
        elif what == "login":
            sink.reject(
                "perceval",
                loc,
                "login response (an account session): no community content; "
                "it holds a session token, so delete it from shared folders",
                excerpt(obj),
            )
        elif what == "discourse" or p.parent.name == "discourse":
            sink.reject("perceval", loc, "raw Discourse API page: ingest it with --source discourse")
        else:
            sink.reject(
                "perceval",
                loc,
                "JSON of an unknown shape: not a Perceval item nor an API page covalue recognises",
                excerpt(obj),
            )

    def _reject_other(self, p: Path, sink: Sink) -> None:
        head = p.open("rb").read(512)
        if head.startswith(b"PK") or p.suffix.lower() in (".zip", ".7z", ".gz", ".tar"):
            reason = "archive (a groups.io messages.zip or mail archive): ingest it with --source mbox"
        elif head.startswith(b"From ") or p.parent.name in OTHER_READERS:
            reason = f"mail archive or raw page: ingest it with --source {OTHER_READERS.get(p.parent.name, 'mbox')}"
        else:
            reason = "not Perceval output nor an API page, IRC log or news article covalue recognises"
        sink.reject("perceval", str(p), reason, head[:120].decode("utf-8", "replace"))

    def _raw(
        self, ctx: PercevalSource, backend: str, what: str, obj: Any, p: Path, loc: str, known: dict[str, Any]
    ) -> None:
        empty = "empty page: the API returned no records"
        if backend == "slack":
            if what == "user":
                slack_user(ctx, obj["user"])
            elif what == "channel":
                ch = obj["channel"]
                known[ch["id"]] = ch.get("name")
                ctx.space(ch["id"], ch.get("name"))
                for uid in ch.get("members") or []:
                    ctx.person(uid)
            elif what == "members":
                if not obj["members"]:
                    ctx.ss.reject(loc, empty)
                for uid in obj["members"]:
                    ctx.person(uid)
            else:
                msgs = obj["messages"]
                if not msgs:
                    ctx.ss.reject(loc, empty)
                    return
                space = (
                    ctx.space(next(iter(known)), next(iter(known.values())))
                    if len(known) == 1
                    else ctx.fallback_space("channel")
                )
                for i, m in enumerate(msgs):
                    slack_message(ctx, m, space, f"{loc}:message {i}")
        elif backend == "mattermost":
            if what == "user":
                mattermost_user(ctx, obj)
            elif what == "channel":
                known[obj["id"]] = first_name(obj.get("display_name"), obj.get("name"))
                ctx.space(obj["id"], known[obj["id"]])
            else:
                if not obj["order"]:
                    ctx.ss.reject(loc, empty)
                for pid in obj["order"]:
                    post = obj["posts"].get(pid)
                    if not isinstance(post, dict):
                        ctx.ss.reject(loc, f"post {pid} is listed in order but missing from posts")
                        continue
                    mattermost_post(ctx, post, f"{loc}:post {pid}", known)
        elif backend == "rocketchat":
            if what == "channel":
                ch = obj["channel"]
                known[ch["_id"]] = ch
                ctx.space(ch["_id"], first_name(ch.get("fname"), ch.get("name")))
            else:
                if not obj["messages"]:
                    ctx.ss.reject(loc, empty)
                for i, m in enumerate(obj["messages"]):
                    rocketchat_message(ctx, m, f"{loc}:message {i}")
        elif backend == "telegram":
            if not obj["result"]:
                ctx.ss.reject(loc, empty)
            for i, upd in enumerate(obj["result"]):
                telegram_update(ctx, upd, f"{loc}:update {i}")
        elif backend == "gitter":
            if what == "rooms":
                for r in obj:
                    known[r["id"]] = r.get("name") or r.get("uri")
                    ctx.space(r["id"], known[r["id"]], "room")
            else:
                # a messages page does not say its room; it is known only when the capture has one room
                space = (
                    ctx.space(next(iter(known)), next(iter(known.values())), "room")
                    if len(known) == 1
                    else ctx.fallback_space("room")
                )
                for i, m in enumerate(obj):
                    gitter_message(ctx, m, space, f"{loc}:message {i}")
        elif backend == "meetup":
            for i, rec in enumerate(obj):
                where = f"{loc}:record {i}"
                if what == "events":
                    meetup_event(ctx, rec, where)
                elif what == "comments":
                    meetup_comment(ctx, rec, where, None, None)
                else:
                    meetup_rsvp(ctx, rec, where, None, None)
        elif backend == "stackexchange":
            qs = obj["items"] if isinstance(obj, dict) else obj
            if not qs:
                ctx.ss.reject(loc, empty)
            space = ctx.space("site", p.parent.name, "site")
            for i, q in enumerate(qs):
                se_question(ctx, q, space, f"{loc}:question {i}")
        elif backend == "groupsio":
            if not obj["data"]:
                ctx.ss.reject(loc, empty)
            for s in obj["data"]:
                space = ctx.space(s.get("group_id"), s.get("group_name"), "list")
                who = ctx.person(
                    s.get("user_id"),
                    display_name=first_name(s.get("full_name"), s.get("user_name")),
                    email=s.get("email"),
                )
                ctx.action(
                    f"subscription/{s.get('id')}",
                    verb="join",
                    ts=to_utc(s.get("created")),
                    actor_id=who,
                    space_id=space,
                    detail="subscription",
                )
        elif backend == "supybot":
            self._read_irc(ctx, p)
        elif backend == "nntp":
            self._read_article(ctx, p)

    def _read_irc(self, ctx: PercevalSource, p: Path) -> None:
        with p.open("rb") as fh:
            lines = [(n, raw.decode("utf-8", "replace").rstrip("\r\n")) for n, raw in enumerate(fh, 1)]
        chan = None
        for _n, line in lines:
            found = re.search(r"has (?:joined|left) (#\S+)", line)
            if found:
                chan = found.group(1)
                break
        space = ctx.space(chan, chan) if chan else ctx.fallback_space("channel")
        for n, line in lines:
            loc = f"{p}:line {n}"
            if not line.strip():
                continue
            m = _IRC_LINE.match(line)
            if not m:
                ctx.ss.reject(
                    loc, "IRC log line without a date (expected 'YYYY-MM-DDTHH:MM:SS+ZZZZ  message')", line
                )
                continue
            ts, msg = m.groups()
            if not ts[-5:].startswith(("+", "-")):
                ts += "+0000"  # a log written without an offset: taken as UTC
            rec = parse_irc_message(msg)
            if rec is None:
                ctx.ss.reject(
                    loc,
                    "IRC log line is neither a message (<nick> text, * nick action, -nick- notice) "
                    "nor a server line (*** ...)",
                    line,
                )
                continue
            if not rec:
                ctx.skipped["empty IRC message"] += 1
                continue
            rec["timestamp"] = ts
            irc_entry(ctx, rec, space, loc)

    def _read_article(self, ctx: PercevalSource, p: Path) -> None:
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.compat32)
        body, n_att = mail_text(msg)
        mail_message(ctx, MailHeaders(msg), body, str(p), None, n_att)
