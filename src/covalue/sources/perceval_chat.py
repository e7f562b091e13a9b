"""Perceval records of chat platforms mapped onto canonical rows, and the state of one source while it is
read (ids already seen, people known by username, reactions waiting for their people): Slack, Mattermost,
Rocket.Chat, Gitter, Telegram and IRC logs written by Supybot."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from covalue import identity
from covalue.sources import slack
from covalue.sources.base import SourceSink, epoch_ms, to_utc


def excerpt(obj: Any) -> str:
    """A short, safe excerpt of a JSON value: keys only for objects (they may hold tokens)."""
    if isinstance(obj, dict):
        return "keys: " + ", ".join(sorted(map(str, obj))[:20])
    if isinstance(obj, list):
        return f"list of {len(obj)}"
    return str(obj)[:200]


def first_name(*parts: Any) -> str | None:
    """The first non-empty display name from its parts."""
    for p in parts:
        if isinstance(p, str) and p.strip():
            return p.strip()
    return None


class PercevalSource:
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
        return self.ss.item(native_id, **kw) if self._first_time(native_id) else None

    def message(self, native_id: Any, *, reply_to: Any, thread: Any = None, **kw: Any) -> str | None:
        """Record a message once: a post, or a reply to the native id ``reply_to`` in the thread started
        by the native id ``thread`` (the one of ``reply_to`` when not given); None when already read."""
        if not self._first_time(native_id):
            return None
        ref = self.ss.item_ref
        return self.ss.message(
            native_id,
            parent_id=ref(reply_to) if reply_to else None,
            thread_id=ref(thread) if thread else None,
            **kw,
        )

    def _first_time(self, native_id: Any) -> bool:
        iid = self.ss.item_ref(native_id)
        if iid in self.items:
            self.skipped["repeated item"] += 1
            return False
        self.items.add(iid)
        return True

    def action(self, native_id: Any, **kw: Any) -> None:
        key = str(native_id)
        if key in self.actions:
            return
        self.actions.add(key)
        self.ss.action(key, **kw)

    def react(
        self,
        key: str,
        actor: str | None,
        author: str | None,
        iid: str,
        space: str,
        emoji: Any,
        ts: Any = None,
    ) -> None:
        """``actor`` reacted with ``emoji`` to item ``iid`` by ``author`` (once per ``key``)."""
        self.action(
            key,
            verb="react",
            ts=ts,
            actor_id=actor,
            space_id=space,
            item_id=iid,
            target_id=author,
            detail=emoji,
        )

    def mention(
        self, key: str, author: str | None, target: str | None, iid: str, space: str, ts: Any
    ) -> None:
        """``author`` named ``target`` in item ``iid`` (once per ``key``)."""
        self.action(
            key, verb="mention", ts=ts, actor_id=author, space_id=space, item_id=iid, target_id=target
        )

    def space(self, native_id: Any, name: str | None, kind: str = "channel") -> str:
        return self.ss.space(native_id, name or str(native_id), kind)

    def fallback_space(self, label: str) -> str:
        """A space for records whose capture does not say where they were posted."""
        if self.default_space is None:
            self.default_space = self.space("unknown", f"({label} not in capture)")
        return self.default_space


def slack_user(ctx: PercevalSource, u: dict[str, Any]) -> str | None:
    return ctx.person(u.get("id"), **slack.user_fields(u))


def slack_message(ctx: PercevalSource, m: dict[str, Any], space: str, loc: str) -> None:
    ts = m.get("ts")
    if not ts:
        ctx.ss.reject(loc, "Slack message without ts", excerpt(m))
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
    for name, u in slack.reaction_pairs(m.get("reactions") or [])[0]:
        ctx.react(f"{native}/react/{name}/{u}", ctx.person(u), author, iid, space, name)


def mattermost_user(ctx: PercevalSource, u: dict[str, Any]) -> str | None:
    full = " ".join(x for x in (u.get("first_name"), u.get("last_name")) if x)
    return ctx.person(
        u.get("id"),
        display_name=first_name(full, u.get("nickname"), u.get("username")),
        email=u.get("email"),
        is_bot=bool(u.get("is_bot")),
        joined_at=epoch_ms(u.get("create_at")),
        role="admin" if "system_admin" in str(u.get("roles") or "") else None,
    )


def mattermost_post(ctx: PercevalSource, p: dict[str, Any], loc: str, channels: dict[str, str]) -> None:
    pid = p.get("id")
    if not pid:
        ctx.ss.reject(loc, "Mattermost post without id", excerpt(p))
        return
    if isinstance(p.get("user_data"), dict):
        mattermost_user(ctx, p["user_data"])
    author = ctx.person(p.get("user_id"))
    cid = p.get("channel_id") or "unknown"
    space = ctx.space(cid, channels.get(cid))
    when = epoch_ms(p.get("create_at"))
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
    iid = ctx.message(
        pid,
        reply_to=(p.get("parent_id") or root) if root else None,
        thread=root,
        created_at=when,
        author_id=author,
        space_id=space,
        text=p.get("message"),
        n_attachments=len(p.get("file_ids") or []),
    )
    meta = p.get("metadata") if isinstance(p.get("metadata"), dict) else {}
    if iid is None:
        return
    for r in meta.get("reactions") or []:
        key = f"{pid}/react/{r.get('emoji_name')}/{r.get('user_id')}"
        when = epoch_ms(r.get("create_at"))
        ctx.react(key, ctx.person(r.get("user_id")), author, iid, space, r.get("emoji_name"), when)


def rocketchat_message(ctx: PercevalSource, m: dict[str, Any], loc: str) -> None:
    mid = m.get("_id")
    if not mid:
        ctx.ss.reject(loc, "Rocket.Chat message without _id", excerpt(m))
        return
    if m.get("_hidden"):  # an earlier version of an edited message, kept by Rocket.Chat
        ctx.skipped["earlier version of an edited message"] += 1
        return
    u = m.get("u") or {}
    if u.get("username") and u.get("_id"):
        ctx.usernames[u["username"]] = u["_id"]
    author = ctx.person(
        u.get("_id") or u.get("username"),
        display_name=first_name(u.get("name"), u.get("username")),
        is_bot=bool(m.get("bot")),
    )
    info = m.get("channel_info") if isinstance(m.get("channel_info"), dict) else {}
    rid = m.get("rid") or info.get("_id") or "unknown"
    space = ctx.space(
        rid, first_name(info.get("fname"), info.get("name")) if info.get("_id") == rid else None
    )
    when = to_utc(m.get("ts"))
    mtype = m.get("t")
    if mtype:
        verb = {"uj": "join", "au": "join", "ul": "leave", "ru": "leave"}.get(mtype, "system")
        ctx.action(f"{mid}/{mtype}", verb=verb, ts=when, actor_id=author, space_id=space, detail=mtype)
        return
    iid = ctx.message(
        mid,
        reply_to=m.get("tmid"),
        created_at=when,
        author_id=author,
        space_id=space,
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


def resolve_pending(ctx: PercevalSource) -> None:
    """Reactions and mentions that name users by username, resolved once every message was seen."""
    for kind, name, d in ctx.pending:
        who = ctx.person(ctx.usernames.get(name, f"@{name}"), display_name=name)
        if kind == "react":
            ctx.react(d["key"], who, d["target"], d["item"], d["space"], d["emoji"])
        else:
            ctx.mention(d["key"], d["actor"], who, d["item"], d["space"], d["ts"])
    ctx.pending.clear()


def gitter_message(ctx: PercevalSource, m: dict[str, Any], space: str, loc: str) -> None:
    mid = m.get("id")
    if not mid:
        ctx.ss.reject(loc, "Gitter message without id", excerpt(m))
        return
    u = m.get("fromUser") or {}
    author = ctx.person(u.get("id"), display_name=first_name(u.get("displayName"), u.get("username")))
    parent = m.get("parentId")
    iid = ctx.message(
        mid,
        reply_to=parent,
        created_at=to_utc(m.get("sent")),
        author_id=author,
        space_id=space,
        text=m.get("text"),
    )
    if iid is None:
        return
    for men in m.get("mentions") or []:
        if isinstance(men, dict) and men.get("userId"):
            target = ctx.person(men["userId"], display_name=men.get("screenName"))
            ctx.mention(f"{mid}/mention/{men['userId']}", author, target, iid, space, to_utc(m.get("sent")))


def telegram_update(ctx: PercevalSource, upd: dict[str, Any], loc: str) -> None:
    msg = None
    for key in ("message", "channel_post", "edited_message", "edited_channel_post"):
        if isinstance(upd.get(key), dict):
            msg = upd[key]
            break
    if msg is None:
        msg = upd if "message_id" in upd else None
    if msg is None:
        ctx.ss.reject(loc, "Telegram update without a message (not community content)", excerpt(upd))
        return
    chat = msg.get("chat") or {}
    cname = first_name(
        chat.get("title"),
        " ".join(x for x in (chat.get("first_name"), chat.get("last_name")) if x),
        chat.get("username"),
    )
    space = ctx.space(chat.get("id", "unknown"), cname, chat.get("type") or "group")
    f = msg.get("from") or {}
    fname = " ".join(x for x in (f.get("first_name"), f.get("last_name")) if x)
    author = ctx.person(
        f.get("id"), display_name=first_name(fname, f.get("username")), is_bot=bool(f.get("is_bot"))
    )
    native = f"{chat.get('id')}/{msg.get('message_id')}"
    reply = msg.get("reply_to_message") if isinstance(msg.get("reply_to_message"), dict) else None
    parent = f"{chat.get('id')}/{reply.get('message_id')}" if reply else None
    ctx.message(
        native,
        reply_to=parent,
        created_at=to_utc(msg.get("date")),
        author_id=author,
        space_id=space,
        text=msg.get("text") or msg.get("caption"),
        n_attachments=sum(1 for k in ("photo", "document", "video", "audio", "voice") if msg.get(k)),
    )


def irc_entry(ctx: PercevalSource, rec: dict[str, Any], space: str, loc: str) -> None:
    """One Supybot log entry: ``{timestamp, type: comment|server, nick, body}``."""
    nick = str(rec.get("nick") or "").split("!", 1)[0]
    body = str(rec.get("body") or "")
    when = to_utc(rec.get("timestamp"))
    if when is None or not nick:
        ctx.ss.reject(loc, "IRC log entry without a readable date or nick", excerpt(rec))
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


def parse_irc_message(msg: str) -> dict[str, Any] | None:
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
