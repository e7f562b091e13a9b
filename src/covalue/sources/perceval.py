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
from collections import Counter
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from covalue import identity
from covalue.quoting import own_text
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, to_utc
from covalue.sources.jsonstream import iter_json
from covalue.sources.mbox import original_sender, recovered_warning

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
_MSGID = re.compile(r"<([^<>]+)>")
_MEETUP_EVENT = re.compile(r"/([^/]+)/events/(\w+)")


def ms(value: Any) -> datetime | None:
    """A timestamp given in epoch milliseconds (Mattermost, Meetup)."""
    if isinstance(value, int | float) and value > 0:
        return to_utc(value / 1000.0)
    return None


def _excerpt(obj: Any) -> str:
    """A short, safe excerpt of a JSON value: keys only for objects (they may hold tokens)."""
    if isinstance(obj, dict):
        return "keys: " + ", ".join(sorted(map(str, obj))[:20])
    if isinstance(obj, list):
        return f"list of {len(obj)}"
    return str(obj)[:200]


def _name(*parts: Any) -> str | None:
    """The first non-empty display name from its parts."""
    for p in parts:
        if isinstance(p, str) and p.strip():
            return p.strip()
    return None


# -- one source being read -------------------------------------------------------------------------


class _Ctx:
    """The rows of one source: the sink plus what is needed to keep ids unique and people resolved."""

    def __init__(self, ss: SourceSink, backend: str) -> None:
        self.ss = ss
        self.backend = backend
        self.items: set[str] = set()
        self.actions: set[str] = set()
        self.usernames: dict[str, str] = {}  # username -> native id, for reactions that name users
        self.pending: list[tuple[str, str, dict[str, Any]]] = []  # reactions by username, resolved at end
        self.skipped: Counter[str] = Counter()
        self.default_space: str | None = None

    def person(self, native_id: Any, **kw: Any) -> str | None:
        if native_id is None or native_id == "":
            return None
        name = kw.get("display_name")
        if "is_bot" not in kw and identity.looks_like_bot(name):
            kw["is_bot"] = True
        return self.ss.person(native_id, **kw)

    def item(self, native_id: Any, **kw: Any) -> str | None:
        """Record an item once (pages and captures overlap); None when it was already read."""
        iid = self.ss.item_ref(native_id)
        if iid in self.items:
            self.skipped["repeated item"] += 1
            return None
        self.items.add(iid)
        return self.ss.item(native_id, **kw)

    def action(self, native_id: Any, **kw: Any) -> None:
        key = str(native_id)
        if key in self.actions:
            return
        self.actions.add(key)
        self.ss.action(key, **kw)

    def space(self, native_id: Any, name: str | None, kind: str = "channel") -> str:
        return self.ss.space(native_id, name or str(native_id), kind)

    def fallback_space(self, label: str) -> str:
        """A space for records whose capture does not say where they were posted."""
        if self.default_space is None:
            self.default_space = self.space("unknown", f"({label} not in capture)")
        return self.default_space


# -- backend mappings (shared by Perceval items and raw captures) -----------------------------------


def slack_user(ctx: _Ctx, u: dict[str, Any]) -> str | None:
    prof = u.get("profile") or {}
    return ctx.person(
        u.get("id"),
        display_name=_name(u.get("real_name"), prof.get("real_name"), u.get("name")),
        email=prof.get("email"),
        is_bot=bool(u.get("is_bot")) or u.get("id") == "USLACKBOT",
    )


def slack_message(ctx: _Ctx, m: dict[str, Any], space: str, loc: str) -> None:
    ts = m.get("ts")
    if not ts:
        ctx.ss.reject(loc, "Slack message without ts", _excerpt(m))
        return
    when = to_utc(ts)
    if isinstance(m.get("user_data"), dict):
        slack_user(ctx, m["user_data"])
    sub = m.get("subtype") or ""
    comment = m.get("comment") if isinstance(m.get("comment"), dict) else None
    who = m.get("user") or (comment or {}).get("user")
    if who:
        author = ctx.person(who)
    elif m.get("bot_id") or m.get("username"):
        bot = m.get("bot_id") or f"bot:{m['username']}"
        author = ctx.person(bot, display_name=m.get("username"), is_bot=True)
    else:
        author = None
    chan = space.rsplit(":", 1)[-1]
    native = f"{chan}/{ts}"
    if sub in ("channel_join", "group_join", "channel_leave", "group_leave"):
        verb = "join" if sub.endswith("join") else "leave"
        ctx.action(f"{native}/{verb}", verb=verb, ts=when, actor_id=author, space_id=space)
        return
    if sub.startswith(("channel_", "group_", "bot_add", "bot_remove", "pinned_item", "unpinned_item")):
        ctx.action(f"{native}/{sub}", verb="system", ts=when, actor_id=author, space_id=space, detail=sub)
        return
    thread = m.get("thread_ts")
    reply = bool(thread) and thread != ts
    text = (comment or {}).get("comment") if sub == "file_comment" else m.get("text")
    files = m.get("files") or ([m["file"]] if sub == "file_share" and isinstance(m.get("file"), dict) else [])
    iid = ctx.item(
        native,
        kind="comment" if sub == "file_comment" else ("reply" if reply else "post"),
        created_at=when,
        author_id=author,
        space_id=space,
        thread_id=ctx.ss.item_ref(f"{chan}/{thread}") if reply else None,
        parent_id=ctx.ss.item_ref(f"{chan}/{thread}") if reply else None,
        text=text,
        n_attachments=len(files),
    )
    if iid is None:
        return
    for r in m.get("reactions") or []:
        for u in r.get("users") or []:
            ctx.action(
                f"{native}/react/{r.get('name')}/{u}",
                verb="react",
                ts=None,
                actor_id=ctx.person(u),
                space_id=space,
                item_id=iid,
                target_id=author,
                detail=r.get("name"),
            )


def mattermost_user(ctx: _Ctx, u: dict[str, Any]) -> str | None:
    full = " ".join(x for x in (u.get("first_name"), u.get("last_name")) if x)
    return ctx.person(
        u.get("id"),
        display_name=_name(full, u.get("nickname"), u.get("username")),
        email=u.get("email"),
        is_bot=bool(u.get("is_bot")),
        joined_at=ms(u.get("create_at")),
        role="admin" if "system_admin" in str(u.get("roles") or "") else None,
    )


def mattermost_post(ctx: _Ctx, p: dict[str, Any], loc: str, channels: dict[str, str]) -> None:
    pid = p.get("id")
    if not pid:
        ctx.ss.reject(loc, "Mattermost post without id", _excerpt(p))
        return
    if isinstance(p.get("user_data"), dict):
        mattermost_user(ctx, p["user_data"])
    author = ctx.person(p.get("user_id"))
    cid = p.get("channel_id") or "unknown"
    space = ctx.space(cid, channels.get(cid))
    when = ms(p.get("create_at"))
    ptype = p.get("type") or ""
    if ptype.startswith("system_"):
        verb = (
            "join"
            if "join" in ptype or "add" in ptype
            else "leave"
            if "leave" in ptype or "remove" in ptype
            else "system"
        )
        ctx.action(f"{pid}/{ptype}", verb=verb, ts=when, actor_id=author, space_id=space, detail=ptype)
        return
    if p.get("delete_at"):
        ctx.skipped["deleted post"] += 1
        return
    root = p.get("root_id") or None
    iid = ctx.item(
        pid,
        kind="reply" if root else "post",
        created_at=when,
        author_id=author,
        space_id=space,
        thread_id=ctx.ss.item_ref(root) if root else None,
        parent_id=ctx.ss.item_ref(p.get("parent_id") or root) if root else None,
        text=p.get("message"),
        n_attachments=len(p.get("file_ids") or []),
    )
    meta = p.get("metadata") if isinstance(p.get("metadata"), dict) else {}
    if iid is None:
        return
    for r in meta.get("reactions") or []:
        ctx.action(
            f"{pid}/react/{r.get('emoji_name')}/{r.get('user_id')}",
            verb="react",
            ts=ms(r.get("create_at")),
            actor_id=ctx.person(r.get("user_id")),
            space_id=space,
            item_id=iid,
            target_id=author,
            detail=r.get("emoji_name"),
        )


def rocketchat_message(ctx: _Ctx, m: dict[str, Any], loc: str) -> None:
    mid = m.get("_id")
    if not mid:
        ctx.ss.reject(loc, "Rocket.Chat message without _id", _excerpt(m))
        return
    if m.get("_hidden"):  # an earlier version of an edited message, kept by Rocket.Chat
        ctx.skipped["earlier version of an edited message"] += 1
        return
    u = m.get("u") or {}
    if u.get("username") and u.get("_id"):
        ctx.usernames[u["username"]] = u["_id"]
    author = ctx.person(
        u.get("_id") or u.get("username"),
        display_name=_name(u.get("name"), u.get("username")),
        is_bot=bool(m.get("bot")),
    )
    info = m.get("channel_info") if isinstance(m.get("channel_info"), dict) else {}
    rid = m.get("rid") or info.get("_id") or "unknown"
    space = ctx.space(rid, _name(info.get("fname"), info.get("name")) if info.get("_id") == rid else None)
    when = to_utc(m.get("ts"))
    mtype = m.get("t")
    if mtype:
        verb = {"uj": "join", "au": "join", "ul": "leave", "ru": "leave"}.get(mtype, "system")
        ctx.action(f"{mid}/{mtype}", verb=verb, ts=when, actor_id=author, space_id=space, detail=mtype)
        return
    tmid = m.get("tmid")
    iid = ctx.item(
        mid,
        kind="reply" if tmid else "post",
        created_at=when,
        author_id=author,
        space_id=space,
        thread_id=ctx.ss.item_ref(tmid) if tmid else None,
        parent_id=ctx.ss.item_ref(tmid) if tmid else None,
        text=m.get("msg"),
        n_attachments=len(m.get("attachments") or m.get("files") or []),
    )
    if iid is None:
        return
    for emoji, who in (m.get("reactions") or {}).items():
        for name in (who or {}).get("usernames") or []:
            ctx.pending.append(
                (
                    "react",
                    name,
                    {
                        "item": iid,
                        "space": space,
                        "target": author,
                        "emoji": emoji,
                        "key": f"{mid}/react/{emoji}/{name}",
                    },
                )
            )
    for men in m.get("mentions") or []:
        if isinstance(men, dict) and men.get("username"):
            ctx.pending.append(
                (
                    "mention",
                    men["username"],
                    {
                        "item": iid,
                        "space": space,
                        "actor": author,
                        "ts": when,
                        "key": f"{mid}/mention/{men['username']}",
                    },
                )
            )


def resolve_pending(ctx: _Ctx) -> None:
    """Reactions and mentions that name users by username, resolved once every message was seen."""
    for kind, name, d in ctx.pending:
        who = ctx.person(ctx.usernames.get(name, f"@{name}"), display_name=name)
        if kind == "react":
            ctx.action(
                d["key"],
                verb="react",
                ts=None,
                actor_id=who,
                space_id=d["space"],
                item_id=d["item"],
                target_id=d["target"],
                detail=d["emoji"],
            )
        else:
            ctx.action(
                d["key"],
                verb="mention",
                ts=d["ts"],
                actor_id=d["actor"],
                space_id=d["space"],
                item_id=d["item"],
                target_id=who,
            )
    ctx.pending.clear()


def gitter_message(ctx: _Ctx, m: dict[str, Any], space: str, loc: str) -> None:
    mid = m.get("id")
    if not mid:
        ctx.ss.reject(loc, "Gitter message without id", _excerpt(m))
        return
    u = m.get("fromUser") or {}
    author = ctx.person(u.get("id"), display_name=_name(u.get("displayName"), u.get("username")))
    parent = m.get("parentId")
    iid = ctx.item(
        mid,
        kind="reply" if parent else "post",
        created_at=to_utc(m.get("sent")),
        author_id=author,
        space_id=space,
        thread_id=ctx.ss.item_ref(parent) if parent else None,
        parent_id=ctx.ss.item_ref(parent) if parent else None,
        text=m.get("text"),
    )
    if iid is None:
        return
    for men in m.get("mentions") or []:
        if isinstance(men, dict) and men.get("userId"):
            ctx.action(
                f"{mid}/mention/{men['userId']}",
                verb="mention",
                ts=to_utc(m.get("sent")),
                actor_id=author,
                space_id=space,
                item_id=iid,
                target_id=ctx.person(men["userId"], display_name=men.get("screenName")),
            )


def telegram_update(ctx: _Ctx, upd: dict[str, Any], loc: str) -> None:
    msg = None
    for key in ("message", "channel_post", "edited_message", "edited_channel_post"):
        if isinstance(upd.get(key), dict):
            msg = upd[key]
            break
    if msg is None:
        msg = upd if "message_id" in upd else None
    if msg is None:
        ctx.ss.reject(loc, "Telegram update without a message (not community content)", _excerpt(upd))
        return
    chat = msg.get("chat") or {}
    cname = _name(
        chat.get("title"),
        " ".join(x for x in (chat.get("first_name"), chat.get("last_name")) if x),
        chat.get("username"),
    )
    space = ctx.space(chat.get("id", "unknown"), cname, chat.get("type") or "group")
    f = msg.get("from") or {}
    fname = " ".join(x for x in (f.get("first_name"), f.get("last_name")) if x)
    author = ctx.person(
        f.get("id"), display_name=_name(fname, f.get("username")), is_bot=bool(f.get("is_bot"))
    )
    native = f"{chat.get('id')}/{msg.get('message_id')}"
    reply = msg.get("reply_to_message") if isinstance(msg.get("reply_to_message"), dict) else None
    parent = f"{chat.get('id')}/{reply.get('message_id')}" if reply else None
    ctx.item(
        native,
        kind="reply" if parent else "post",
        created_at=to_utc(msg.get("date")),
        author_id=author,
        space_id=space,
        parent_id=ctx.ss.item_ref(parent) if parent else None,
        thread_id=ctx.ss.item_ref(parent) if parent else None,
        text=msg.get("text") or msg.get("caption"),
        n_attachments=sum(1 for k in ("photo", "document", "video", "audio", "voice") if msg.get(k)),
    )


def meetup_member(ctx: _Ctx, m: dict[str, Any] | None) -> str | None:
    if not isinstance(m, dict):
        return None
    return ctx.person(m.get("id"), display_name=m.get("name"))


def meetup_event(ctx: _Ctx, ev: dict[str, Any], loc: str) -> None:
    eid = ev.get("id")
    if not eid:
        ctx.ss.reject(loc, "Meetup event without id", _excerpt(ev))
        return
    g = ev.get("group") or {}
    space = ctx.space(g.get("urlname") or g.get("id") or "unknown", g.get("name"), "group")
    hosts = ev.get("event_hosts") or []
    author = meetup_member(ctx, hosts[0]) if hosts else None
    iid = ctx.item(
        f"event/{eid}",
        kind="event",
        created_at=ms(ev.get("created")),
        author_id=author,
        space_id=space,
        title=ev.get("name"),
        text=ev.get("plain_text_description") or ev.get("description"),
    )
    item_id = iid or ctx.ss.item_ref(f"event/{eid}")
    for c in ev.get("comments") or []:
        meetup_comment(ctx, c, loc, str(eid), space)
    for r in ev.get("rsvps") or []:
        meetup_rsvp(ctx, r, loc, item_id, space)


def meetup_comment(ctx: _Ctx, c: dict[str, Any], loc: str, event_id: str | None, space: str | None) -> None:
    cid = c.get("id")
    if not cid:
        ctx.ss.reject(loc, "Meetup comment without id", _excerpt(c))
        return
    link = _MEETUP_EVENT.search(str(c.get("link") or ""))
    if event_id is None and link:
        event_id = link.group(2)
    if space is None:
        space = ctx.space(link.group(1), link.group(1), "group") if link else ctx.fallback_space("group")
    parent = (
        f"comment/{c['in_reply_to']}" if c.get("in_reply_to") else f"event/{event_id}" if event_id else None
    )
    ctx.item(
        f"comment/{cid}",
        kind="comment",
        created_at=ms(c.get("created")),
        author_id=meetup_member(ctx, c.get("member")),
        space_id=space,
        parent_id=ctx.ss.item_ref(parent) if parent else None,
        thread_id=ctx.ss.item_ref(f"event/{event_id}") if event_id else None,
        text=c.get("comment"),
        score=c.get("like_count"),
    )


def meetup_rsvp(ctx: _Ctx, r: dict[str, Any], loc: str, item_id: str | None, space: str | None) -> None:
    who = meetup_member(ctx, r.get("member"))
    ev = r.get("event") or {}
    if item_id is None and ev.get("id"):
        item_id = ctx.ss.item_ref(f"event/{ev['id']}")
    if space is None:
        g = r.get("group") or {}
        space = (
            ctx.space(g["urlname"], g.get("name"), "group")
            if g.get("urlname")
            else ctx.fallback_space("group")
        )
    if who is None or item_id is None:
        ctx.ss.reject(loc, "Meetup RSVP without member or event", _excerpt(r))
        return
    resp = str(r.get("response") or "yes")
    # declining is not attending: kept as a system action so the answer is not lost
    verb = "attend" if resp in ("yes", "waitlist") else "system"
    ctx.action(
        f"rsvp/{item_id}/{(r.get('member') or {}).get('id')}",
        verb=verb,
        ts=ms(r.get("created")) or ms(r.get("mtime")),
        actor_id=who,
        space_id=space,
        item_id=item_id,
        detail=f"rsvp:{resp}",
        value=float(r.get("guests") or 0) + 1 if verb == "attend" else None,
    )


def se_owner(ctx: _Ctx, o: dict[str, Any] | None) -> str | None:
    if not isinstance(o, dict):
        return None
    native = (
        o.get("user_id")
        if o.get("user_id") is not None
        else (f"name:{o['display_name']}" if o.get("display_name") else None)
    )
    return ctx.person(native, display_name=o.get("display_name"))


def se_question(ctx: _Ctx, q: dict[str, Any], space: str, loc: str) -> None:
    qid = q.get("question_id")
    if qid is None:
        ctx.ss.reject(loc, "Stack Exchange question without question_id", _excerpt(q))
        return
    qref = ctx.ss.item_ref(f"q/{qid}")
    ctx.item(
        f"q/{qid}",
        kind="question",
        created_at=to_utc(q.get("creation_date")),
        author_id=se_owner(ctx, q.get("owner")),
        space_id=space,
        title=q.get("title"),
        text=q.get("body") or q.get("body_markdown"),
        views=q.get("view_count"),
        score=q.get("score"),
    )
    for a in q.get("answers") or []:
        aid = a.get("answer_id")
        if aid is None:
            ctx.ss.reject(loc, "Stack Exchange answer without answer_id", _excerpt(a))
            continue
        ctx.item(
            f"a/{aid}",
            kind="answer",
            created_at=to_utc(a.get("creation_date")),
            author_id=se_owner(ctx, a.get("owner")),
            space_id=space,
            thread_id=qref,
            parent_id=qref,
            text=a.get("body") or a.get("body_markdown"),
            accepted=bool(a.get("is_accepted")),
            score=a.get("score"),
        )
        for c in a.get("comments") or []:
            se_comment(ctx, c, space, qref, loc)
    for c in q.get("comments") or []:
        se_comment(ctx, c, space, qref, loc)


def se_comment(ctx: _Ctx, c: dict[str, Any], space: str, qref: str, loc: str) -> None:
    cid = c.get("comment_id")
    if cid is None:
        ctx.ss.reject(loc, "Stack Exchange comment without comment_id", _excerpt(c))
        return
    on = "a" if c.get("post_type") == "answer" else "q"
    parent = ctx.ss.item_ref(f"{on}/{c.get('post_id')}") if c.get("post_id") is not None else qref
    ctx.item(
        f"c/{cid}",
        kind="comment",
        created_at=to_utc(c.get("creation_date")),
        author_id=se_owner(ctx, c.get("owner")),
        space_id=space,
        thread_id=qref,
        parent_id=parent,
        text=c.get("body") or c.get("body_markdown"),
        score=c.get("score"),
    )


def irc_entry(ctx: _Ctx, rec: dict[str, Any], space: str, loc: str) -> None:
    """One Supybot log entry: ``{timestamp, type: comment|server, nick, body}``."""
    nick = str(rec.get("nick") or "").split("!", 1)[0]
    body = str(rec.get("body") or "")
    when = to_utc(rec.get("timestamp"))
    if when is None or not nick:
        ctx.ss.reject(loc, "IRC log entry without a readable date or nick", _excerpt(rec))
        return
    key = identity.stable_id(rec.get("timestamp"), nick, body)
    who = ctx.person(nick, display_name=nick, is_bot=bool(rec.get("bot")) or identity.looks_like_bot(nick))
    if rec.get("type") == "server":
        low = body.lower()
        verb = "join" if " has joined" in low else "leave" if " has left" in low else "system"
        detail = (
            None
            if verb != "system"
            else "quit"
            if " has quit" in low
            else "nick"
            if "known as" in low
            else "server"
        )
        ctx.action(key, verb=verb, ts=when, actor_id=who, space_id=space, detail=detail)
        return
    ctx.item(key, kind="post", created_at=when, author_id=who, space_id=space, text=body)


class _Headers:
    """Case-insensitive access to mail headers held in a dict (Perceval items) or a Message (raw)."""

    def __init__(self, src: dict[str, Any] | Message) -> None:
        if isinstance(src, Message):
            self._d = {k.lower(): str(v) for k, v in src.items()}
        else:
            self._d = {str(k).lower(): v for k, v in src.items()}

    def get(self, name: str) -> Any:
        return self._d.get(name.lower())


#: the headers :func:`covalue.sources.mbox.original_sender` reads
_LIST_SENDER_HEADERS = ("list-id", "list-post", "x-original-from", "reply-to", "x-original-sender")


def mail_message(
    ctx: _Ctx, h: _Headers, body: str | None, loc: str, space_hint: str | None, n_att: int = 0
) -> None:
    mid = _MSGID.findall(str(h.get("Message-ID") or ""))
    if not mid:
        ctx.ss.reject(loc, "mail message without Message-ID", str(h.get("Subject") or "")[:200])
        return
    name, addr = email.utils.parseaddr(str(h.get("From") or ""))
    addr = addr.strip().lower()
    # a list that rewrote From to its own address keeps the person elsewhere (see covalue.sources.mbox)
    lower = {k: str(v) for k in _LIST_SENDER_HEADERS if (v := h.get(k)) is not None}
    recovered = original_sender(lower, addr or None, name or None)
    if recovered is not None:
        key, name, addr = recovered[0], recovered[1] or "", recovered[2] or ""
    author = ctx.person(
        (key if recovered is not None else None) or addr or name or None,
        display_name=_name(name, addr.split("@")[0] if addr else None),
        email=addr or None,
    )
    if recovered is not None and author is not None:
        ctx.ss.recovered_senders.add(author)
    date = h.get("Date") or h.get("NNTP-Posting-Date")
    when = None
    if date:
        try:
            when = to_utc(email.utils.parsedate_to_datetime(str(date)))
        except (TypeError, ValueError, IndexError):
            when = None
    if when is None:
        ctx.skipped["mail without a readable Date"] += 1
    group = str(h.get("Newsgroups") or "").split(",")[0].strip() or space_hint or "list"
    space = ctx.space(group, group, "list")
    refs = _MSGID.findall(str(h.get("References") or ""))
    irt = _MSGID.findall(str(h.get("In-Reply-To") or ""))
    parent = irt[-1] if irt else refs[-1] if refs else None
    root = refs[0] if refs else parent
    ctx.item(
        mid[0],
        kind="reply" if parent else "post",
        created_at=when,
        author_id=author,
        space_id=space,
        thread_id=ctx.ss.item_ref(root) if root else None,
        parent_id=ctx.ss.item_ref(parent) if parent else None,
        title=str(h.get("Subject") or "") or None,
        text=body,
        own_text=own_text(body),
        n_attachments=n_att,
    )


def discourse_topic(ctx: _Ctx, t: dict[str, Any], loc: str) -> None:
    tid = t.get("id")
    posts = ((t.get("post_stream") or {}).get("posts")) or []
    if tid is None or not posts:
        ctx.ss.reject(loc, "Discourse topic without id or posts", _excerpt(t))
        return
    cat = t.get("category_id")
    space = (
        ctx.space(f"category/{cat}", f"category {cat}", "category")
        if cat is not None
        else ctx.fallback_space("category")
    )
    by_number = {p.get("post_number"): p.get("id") for p in posts}
    first = ctx.ss.item_ref(f"post/{posts[0].get('id')}")
    for p in posts:
        pid = p.get("id")
        if pid is None:
            ctx.ss.reject(loc, "Discourse post without id", _excerpt(p))
            continue
        author = ctx.person(
            p.get("user_id") if p.get("user_id") is not None else p.get("username"),
            display_name=_name(p.get("name"), p.get("username")),
        )
        is_first = p.get("post_number") == 1 or ctx.ss.item_ref(f"post/{pid}") == first
        target = by_number.get(p.get("reply_to_post_number"))
        likes = sum(a.get("count", 0) for a in p.get("actions_summary") or [] if a.get("id") == 2)
        ctx.item(
            f"post/{pid}",
            kind="post" if is_first else "reply",
            created_at=to_utc(p.get("created_at")),
            author_id=author,
            space_id=space,
            thread_id=first,
            parent_id=None if is_first else ctx.ss.item_ref(f"post/{target}") if target else first,
            title=t.get("title") if is_first else None,
            text=p.get("cooked") or p.get("raw"),
            accepted=bool(p.get("accepted_answer")),
            views=t.get("views") if is_first else None,
            score=likes or p.get("like_count"),
        )


# -- raw capture recognition ---------------------------------------------------------------------------

#: which dedicated reader takes raw files of the backends this reader leaves to others
OTHER_READERS = {"discourse": "discourse", "mbox": "mbox", "pipermail": "mbox", "hyperkitty": "mbox"}


def classify_json(obj: Any) -> tuple[str, str]:
    """(backend, kind) of a raw API response; backend "" when it holds no community content."""
    if isinstance(obj, dict):
        if "backend_name" in obj and "data" in obj:
            return "perceval", "item"
        if "success" in obj:
            if obj.get("success") is False:
                return "", "error"
            if isinstance(obj.get("messages"), list):
                return "rocketchat", "messages"
            if isinstance(obj.get("channel"), dict):
                return "rocketchat", "channel"
        if "ok" in obj:
            if obj.get("ok") is False:
                return "", "error"
            if isinstance(obj.get("result"), list):
                return "telegram", "updates"
            if isinstance(obj.get("messages"), list):
                return "slack", "history"
            if isinstance(obj.get("channel"), dict):
                return "slack", "channel"
            if isinstance(obj.get("user"), dict):
                return "slack", "user"
            if isinstance(obj.get("members"), list):
                return "slack", "members"
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


#: why records counted in ``_Ctx.skipped`` add no row, as shown to the person running the ingest
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
                    backend, kind = classify_json(orjson.loads(p.read_bytes()))
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
        self._ctx: dict[str, _Ctx] = {}
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
    def _ctx_for(self, sink: Sink, backend: str, instance: str) -> _Ctx:
        key = f"{backend}\x1f{instance}"
        if key not in self._ctx:
            self._ctx[key] = _Ctx(sink.source(f"perceval-{backend}", instance), backend)
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
                        "perceval", loc, "not a Perceval item (no backend_name and data)", _excerpt(obj)
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
            ctx.ss.reject(loc, f"{backend} item could not be mapped: {type(e).__name__}: {e}", _excerpt(d))

    def _map_item(self, ctx: _Ctx, backend: str, d: dict[str, Any], tail: str, loc: str) -> None:
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
                _Headers(d),
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
                obj = orjson.loads(p.read_bytes())
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
                    loc, f"{backend} {what} page could not be mapped: {type(e).__name__}: {e}", _excerpt(obj)
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
                _excerpt(obj),
            )
        elif what == "empty":
            sink.reject("perceval", loc, "empty page: the API returned no records")
        elif what == "login":
            sink.reject(
                "perceval",
                loc,
                "login response (an account session): no community content; "
                "it holds a session token, so delete it from shared folders",
                _excerpt(obj),
            )
        elif what == "discourse" or p.parent.name == "discourse":
            sink.reject("perceval", loc, "raw Discourse API page: ingest it with --source discourse")
        else:
            sink.reject(
                "perceval",
                loc,
                "JSON of an unknown shape: not a Perceval item nor an API page covalue recognises",
                _excerpt(obj),
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
        self, ctx: _Ctx, backend: str, what: str, obj: Any, p: Path, loc: str, known: dict[str, Any]
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
                known[obj["id"]] = _name(obj.get("display_name"), obj.get("name"))
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
                ctx.space(ch["_id"], _name(ch.get("fname"), ch.get("name")))
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
                    display_name=_name(s.get("full_name"), s.get("user_name")),
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

    def _read_irc(self, ctx: _Ctx, p: Path) -> None:
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
            rec = _parse_irc_message(msg)
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

    def _read_article(self, ctx: _Ctx, p: Path) -> None:
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.compat32)
        body, n_att = _mail_text(msg)
        mail_message(ctx, _Headers(msg), body, str(p), None, n_att)


def _parse_irc_message(msg: str) -> dict[str, Any] | None:
    """``{type, nick, body}`` from the part of a Supybot line after the date; {} when it is empty."""
    m = re.match(r"^<([^>\s]+?)(?:!\S*)?>\s*(.*)$", msg)
    if m:
        return (
            {"type": "comment", "nick": m.group(1), "body": m.group(2).strip()} if m.group(2).strip() else {}
        )
    m = re.match(r"^<([^&\s]+?)&gt;\s*(.*)$", msg)  # a nick whose '>' was HTML-escaped by the logger
    if m:
        return (
            {"type": "comment", "nick": m.group(1), "body": m.group(2).strip()} if m.group(2).strip() else {}
        )
    m = re.match(r"^\*\*\*\s(\S+?)(?:!\S*)?\s(.+)$", msg)
    if m:
        return {"type": "server", "nick": m.group(1), "body": f"{m.group(1)} {m.group(2).strip()}"}
    m = re.match(r"^\*\s?([^\s*]+?)(?:!\S*)?(?:\s+(.*))?$", msg)
    if m:
        body = (m.group(2) or "").strip()
        return {"type": "comment", "nick": m.group(1), "body": f"{m.group(1)} {body}"} if body else {}
    m = re.match(r"^-(\S+?)(?:!\S*)?-\s*(.*)$", msg)
    if m:
        body = m.group(2).strip()
        return {"type": "comment", "nick": m.group(1), "body": body, "bot": True} if body else {}
    return None


def _mail_text(msg: Message) -> tuple[str | None, int]:
    """The plain-text body of a message (HTML when there is no plain part) and its attachment count."""
    plain: list[str] = []
    html: list[str] = []
    attachments = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        disp = str(part.get("Content-Disposition") or "").lower()
        ctype = part.get_content_type()
        if "attachment" in disp or ctype not in ("text/plain", "text/html"):
            if ctype not in ("application/pgp-signature",):
                attachments += 1
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, "replace")
        except LookupError:
            text = payload.decode("utf-8", "replace")
        (plain if ctype == "text/plain" else html).append(text)
    body = "\n".join(plain) if plain else "\n".join(html) if html else None
    return body, attachments
