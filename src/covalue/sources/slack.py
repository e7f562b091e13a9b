"""The Slack reader: the official workspace export (a zip, or the folder it unpacks to).

An export holds ``users.json``, ``channels.json`` (and ``groups.json``, ``mpims.json``, ``dms.json``
when the owner exported private conversations), ``integration_logs.json`` and one folder per
conversation with one ``<YYYY-MM-DD>.json`` file per day, each a JSON list of messages.

Day files are read one at a time, in date order across conversations (so a file is usually shared
before anyone comments on it), which keeps memory bounded by the largest day. Every message ends up
somewhere: as an item (plain messages, file shares, file comments, bot posts), as a join / leave
action, as a ``system`` action named by its subtype, or as a reject row saying why it could not be
read. Reactions become one ``react`` action per reacting person and ``<@U...>`` mentions become
``mention`` actions.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from covalue import identity
from covalue.presentation import plural
from covalue.sources.archive import Refused, ZipArchive
from covalue.sources.base import Reader, ReaderError, Sink, json_excerpt, to_utc
from covalue.sources.slack_files import (
    DAY,
    Files,
    find_root,
    instance_name,
    open_dir,
    open_zip,
    parse_json,
    slack_names,
    under,
    workspace_name,
)

#: conversation lists in an export, and the space kind each one gives
CONVERSATION_FILES = {
    "channels.json": "channel",
    "groups.json": "group",
    "mpims.json": "group",
    "dms.json": "dm",
}
META_FILES = {"users.json", "integration_logs.json", *CONVERSATION_FILES}
#: subtypes that are ordinary conversation (a message somebody wrote)
PLAIN_SUBTYPES = {None, "thread_broadcast", "reply_broadcast", "me_message"}
JOIN_SUBTYPES = {
    "channel_join": "join",
    "group_join": "join",
    "channel_leave": "leave",
    "group_leave": "leave",
}

_TS = re.compile(r"^\d{1,12}(\.\d{1,9})?$")
_MARKUP = re.compile(r"<([^<>\n]{1,2000})>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]{1,30})(?:\|[^<>]*)?>")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{1,20}:", re.I)
_UNREADABLE = object()  # a file already reported as a reject (JSON ``null`` is a value, not a failure)


def plain_text(text: str, channels: dict[str, str]) -> str:
    """Slack markup turned into what a reader sees: ``<@U1|ann>`` → ``@ann``, ``<#C1|general>`` →
    ``#general``, ``<https://x|label>`` → ``label (https://x)`` (the address stays, so links are counted),
    and the three escaped characters back to themselves.

    A bare ``<@U1>`` stays ``@U1``: names live only in the identities table, so the text
    never gains a name the message did not spell out.
    """

    def sub(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            cid = target[1:]
            return "#" + (label or channels.get(cid) or cid)
        if target.startswith("!"):
            word = target[1:]
            if word in ("channel", "here", "everyone", "group"):
                return "@" + word
            return label or "@" + word.split("^")[0]
        if target.lower().startswith("mailto:"):
            return label or target[7:]
        if _SCHEME.match(target):
            return f"{label} ({target})" if label and label != target else target
        return m.group(0)

    out = _MARKUP.sub(sub, text) if "<" in text else text
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass
class _Conversation:
    native_id: str
    space_id: str
    name: str


@dataclass
class _Message:
    """What a message's later parts (reactions, mentions) need to know about it."""

    conv: _Conversation
    ts: str
    created: datetime
    loc: str


# -- record mappings, shared with the Perceval reader (Slack's API returns the same records) ----------
def user_fields(u: dict[str, Any]) -> dict[str, Any]:
    """The person fields of a Slack user record (``users.json`` entry or ``users.info`` answer)."""
    prof = u.get("profile") if isinstance(u.get("profile"), dict) else {}
    names = (prof.get("display_name"), prof.get("real_name"), u.get("real_name"), u.get("name"))
    email = prof.get("email") if isinstance(prof.get("email"), str) else None
    app = bool(u.get("is_app_user") or prof.get("bot_id") or prof.get("api_app_id"))
    if u.get("is_owner"):
        role = "owner"
    elif u.get("is_admin"):
        role = "admin"
    elif u.get("is_restricted") or u.get("is_ultra_restricted"):
        role = "guest"
    else:
        role = None
    return {
        "display_name": next((v for v in names if isinstance(v, str) and v.strip()), None),
        "email": email,
        "is_bot": bool(u.get("is_bot")) or u.get("id") == "USLACKBOT" or (bool(u.get("deleted")) and app),
        "role": role,
    }


def reaction_pairs(reactions: list[Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(emoji, user id) for each person behind a message's ``reactions``, and the entries that cannot be
    read as (where, why, excerpt)."""
    pairs: list[tuple[str, str]] = []
    problems: list[tuple[str, str, str]] = []
    for j, r in enumerate(reactions):
        users = r.get("users") if isinstance(r, dict) else None
        name = r.get("name") if isinstance(r, dict) else None
        if not isinstance(name, str) or not isinstance(users, list):
            problems.append((f"reactions[{j}]", "reaction without a name and a list of users", str(r)[:200]))
            continue
        for u in users:
            if not isinstance(u, str) or not u:
                problems.append((f"reactions[{j}]", "reacting user is not a string id", str(u)[:100]))
                continue
            pairs.append((name, u))
    return pairs, problems


class SlackReader(Reader):
    name: ClassVar[str] = "slack"
    description: ClassVar[str] = "Slack workspace export (zip or unpacked folder)"

    @classmethod
    def detect_folder(cls, path: Path) -> float:
        found: list[str] = []
        for depth, (dirpath, _dirs, files) in enumerate(os.walk(path)):
            rel = Path(dirpath).relative_to(path).as_posix()
            found += [f"{rel}/{f}" for f in files if f.endswith(".json")]
            if depth > 200:
                break
        return slack_names(found)

    @classmethod
    def detect_file(cls, path: Path) -> float:
        if path.suffix.lower() != ".zip":
            return 0.0
        try:
            with zipfile.ZipFile(path) as zf:
                return slack_names(zf.namelist())
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            # a damaged zip named like a Slack export: claim it so the person gets the real reason
            return 0.3 if "slack" in path.name.lower() else 0.0

    # -- reading -------------------------------------------------------------------------------------
    def read(self, path: Path, sink: Sink) -> None:
        if not path.exists():
            raise ReaderError(f"{path}: no such file or folder")
        self.sink = sink
        arc: ZipArchive | None = None
        refused: list[tuple[str, str]] = []
        if path.is_dir():
            files = open_dir(path)
        else:
            files, arc, refused = open_zip(path, self.settings)
        # the workspace's own subdomain names the community; the file or folder name only when no
        # permalink does (the source keeps the file's name, as its ids always have)
        self.src = sink.source("slack", instance_name(path), community=workspace_name(files))
        for where, reason in refused:
            self.src.reject(where, reason)
        try:
            self._read_export(files)
        finally:
            if arc is not None:
                arc.close()

    def _read_export(self, files: Files) -> None:
        root = find_root(list(files.sizes))
        if root is None:
            raise ReaderError(
                f"{files.label}: no Slack export inside (no users.json, channels.json or "
                "<channel>/<YYYY-MM-DD>.json day files)"
            )
        rel = {r: n for n in files.sizes if (r := under(root, n)) is not None}
        self.files = files
        self.label = files.label
        self.channel_names: dict[str, str] = {}
        self.file_items: dict[str, tuple[str, str]] = {}  # Slack file id -> (item id, thread id)
        self.pending_comments: list[tuple[dict[str, Any], _Message]] = []

        self._read_users(rel)
        convs = self._read_conversations(rel)
        days = sorted(
            (PurePosixPath(r).name, PurePosixPath(r).parent.as_posix(), n)
            for r, n in rel.items()
            if DAY.match(PurePosixPath(r).name) and PurePosixPath(r).parent.as_posix() not in ("", ".")
        )
        ignored = sorted(r for r in rel if r not in META_FILES and not DAY.match(PurePosixPath(r).name))
        if ignored:
            self.sink.warn(
                f"{self.label}: ignored {plural(len(ignored), 'file')} that are not part "
                "of a Slack export "
                f"(e.g. {ignored[0]})"
            )
        self.sink.set_total(sum(files.sizes[n] for _d, _f, n in days) or None)
        for _day, folder, name in days:
            conv = convs.get(folder)
            if conv is None:
                # a folder that no conversation list names: keep its messages in a space named after it
                sid = self.src.space(folder, folder, "channel")
                conv = convs[folder] = _Conversation(folder, sid, folder)
                self.sink.warn(f"{self.label}: folder {folder!r} is not in channels.json; read as a channel")
            self._read_day(name, conv)
            self.sink.advance(files.sizes[name])
        for m, msg in self.pending_comments:
            self._item(m, msg, "file_comment")
        if "integration_logs.json" in rel:
            self._read_integrations(rel["integration_logs.json"])

    def _load(self, name: str) -> Any:
        """A whole JSON file, or ``_UNREADABLE`` after writing a reject row for it."""
        loc = f"{self.label}:{name}"
        try:
            data = self.files.read(name)
        except Refused as r:
            self.src.reject(loc, r.reason)
            return _UNREADABLE
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
            self.src.reject(loc, f"could not be unpacked ({type(e).__name__}: {e})")
            return _UNREADABLE
        value, problems = parse_json(data, loc)
        for where, reason in problems:
            self.src.reject(where, reason, data[:200].decode("utf-8", "replace"))
        return _UNREADABLE if value is None and problems else value

    def _list(self, name: str, what: str) -> list[Any]:
        value = self._load(name)
        if value is _UNREADABLE:
            return []
        if not isinstance(value, list):
            self.src.reject(
                f"{self.label}:{name}",
                f"{what} should be a JSON list, found {type(value).__name__}",
                str(value)[:200],
            )
            return []
        return value

    def _read_users(self, rel: dict[str, str]) -> None:
        if "users.json" not in rel:
            msg = (
                f"{self.label}: users.json is missing; people are known only by their Slack ids "
                "(no names, no bot flags)"
            )
            self.sink.warn(msg)
            self.src.reject(f"{self.label}:users.json", "users.json is missing from the export")
            return
        for i, u in enumerate(self._list(rel["users.json"], "users.json")):
            loc = f"{self.label}:users.json#{i}"
            if not isinstance(u, dict) or not isinstance(u.get("id"), str) or not u["id"]:
                self.src.reject(loc, "user entry without a string id", str(u)[:200])
                continue
            self.src.person(u["id"], **user_fields(u))

    def _read_conversations(self, rel: dict[str, str]) -> dict[str, _Conversation]:
        """Spaces from the conversation lists, by the folder their day files are in."""
        convs: dict[str, _Conversation] = {}
        if "channels.json" not in rel:
            self.sink.warn(f"{self.label}: channels.json is missing; channels are named after their folders")
            self.src.reject(f"{self.label}:channels.json", "channels.json is missing from the export")
        for fname, kind in CONVERSATION_FILES.items():
            if fname not in rel:
                continue
            for i, c in enumerate(self._list(rel[fname], fname)):
                loc = f"{self.label}:{fname}#{i}"
                cid = c.get("id") if isinstance(c, dict) else None
                if not isinstance(cid, str) or not cid:
                    self.src.reject(loc, "conversation without a string id", str(c)[:200])
                    continue
                name = c.get("name") if isinstance(c.get("name"), str) and c.get("name") else cid
                # day folders are named after the conversation, except direct messages (their id)
                folder = cid if kind == "dm" else name
                sid = self.src.space(cid, name, kind)
                convs[folder] = _Conversation(cid, sid, name)
                self.channel_names[cid] = name
        return convs

    def _read_day(self, name: str, conv: _Conversation) -> None:
        messages = self._list(name, "a day file")
        for i, m in enumerate(messages):
            try:
                self._message(m, conv, f"{self.label}:{name}#{i}")
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:
                # a shape no check foresaw: keep the message as a reject instead of losing the day
                self.src.reject(
                    f"{self.label}:{name}#{i}",
                    f"message could not be read ({type(e).__name__}: {e})",
                    str(m)[:200],
                )

    # -- one message ---------------------------------------------------------------------------------
    def _message(self, m: Any, conv: _Conversation, loc: str) -> None:
        if not isinstance(m, dict):
            self.src.reject(loc, f"message should be a JSON object, found {type(m).__name__}", str(m)[:200])
            return
        for key in ("ts", "user", "text", "subtype", "thread_ts", "bot_id", "username"):
            v = m.get(key)
            if v is not None and not isinstance(v, str) and not (key in ("ts", "thread_ts") and _number(v)):
                self.src.reject(
                    loc, f"field {key!r} should be a string, found {type(v).__name__}", json_excerpt(m)
                )
                return
        ts = _ts(m.get("ts"))
        created = _created(ts) if ts else None
        if ts is None or created is None:
            self.src.reject(loc, f"missing or unusable timestamp ts={m.get('ts')!r}", json_excerpt(m))
            return
        if m.get("thread_ts") is not None and _ts(m["thread_ts"]) is None:
            self.src.reject(loc, f"unusable thread_ts={m['thread_ts']!r}", json_excerpt(m))
            return
        msg = _Message(conv, ts, created, loc)
        subtype = m.get("subtype")
        if subtype in PLAIN_SUBTYPES or subtype in ("file_share", "bot_message"):
            self._item(m, msg, subtype)
        elif subtype == "file_comment":
            fid = _file_id(m.get("file"))
            if fid and fid not in self.file_items:
                self.pending_comments.append((m, msg))  # its file may be shared in a later day file
            else:
                self._item(m, msg, subtype)
        elif subtype in JOIN_SUBTYPES:
            actor = self._person(m.get("user"))
            inviter = self._person(m.get("inviter"))
            self.src.action(
                f"{conv.native_id}:{ts}:{subtype}",
                verb=JOIN_SUBTYPES[subtype],
                ts=created,
                actor_id=actor,
                space_id=conv.space_id,
                target_id=inviter,
                detail=subtype,
            )
            self._reactions(m, msg, None, actor)
        else:
            actor = self._person(m.get("user")) or self._person(m.get("bot_id"), bot=True)
            self.src.action(
                f"{conv.native_id}:{ts}:{subtype}",
                verb="system",
                ts=created,
                actor_id=actor,
                space_id=conv.space_id,
                detail=str(subtype)[:100],
            )
            self._reactions(m, msg, None, actor)

    def _item(self, m: dict[str, Any], msg: _Message, subtype: str | None) -> None:
        conv, ts = msg.conv, msg.ts
        raw_text = m.get("text") or ""
        if subtype == "bot_message" or (not m.get("user") and m.get("bot_id")):
            prof = m.get("bot_profile") if isinstance(m.get("bot_profile"), dict) else {}
            bot_name = m.get("username") or prof.get("name")
            native = m.get("user") or m.get("bot_id") or bot_name
            if not m.get("user") and m.get("bot_id") and isinstance(m.get("username"), str) and m["username"]:
                # a bot that names each message (a bridge posting as each person it relays): one account
                # per name, a bot until covalue.relays finds it speaks for many
                native = identity.webhook_account(m["bot_id"], m["username"])
            author = self._person(native, bot=True, name=bot_name if isinstance(bot_name, str) else None)
        elif subtype == "file_comment":
            c = m.get("comment") if isinstance(m.get("comment"), dict) else {}
            commenter = c.get("user") if isinstance(c.get("user"), str) else None
            author = self._person(commenter or m.get("user"))
            if isinstance(c.get("comment"), str):
                raw_text = c["comment"]
        else:
            author = self._person(m.get("user"))
        kind, parent, thread = "post", None, None
        thread_ts = _ts(m.get("thread_ts")) if m.get("thread_ts") is not None else None
        if subtype == "file_comment":
            kind = "comment"
            shared = self.file_items.get(_file_id(m.get("file")) or "")
            if shared:
                parent, thread = shared
        elif thread_ts and thread_ts != ts:
            kind = "reply"
            parent = thread = self.src.item_ref(f"{conv.native_id}:{thread_ts}")
        files = m.get("files") if isinstance(m.get("files"), list) else []
        if subtype != "file_comment" and isinstance(m.get("file"), dict):
            files = [*files, m["file"]]
        text = plain_text(raw_text, self.channel_names)
        iid = self.src.item(
            f"{conv.native_id}:{ts}",
            kind=kind,
            created_at=msg.created,
            author_id=author,
            space_id=conv.space_id,
            thread_id=thread,
            parent_id=parent,
            text=text,
            n_attachments=len(files),
        )
        for f in files:
            fid = _file_id(f)
            if fid and fid not in self.file_items:
                self.file_items[fid] = (iid, thread or iid)
        self._reactions(m, msg, iid, author)
        self._mentions(raw_text, msg, iid, author)

    def _reactions(self, m: dict[str, Any], msg: _Message, iid: str | None, target: str | None) -> None:
        reactions = m.get("reactions")
        if reactions is None:
            return
        if not isinstance(reactions, list):
            self.src.reject(f"{msg.loc}/reactions", "reactions should be a list", str(reactions)[:200])
            return
        pairs, problems = reaction_pairs(reactions)
        for where, reason, excerpt in problems:
            self.src.reject(f"{msg.loc}/{where}", reason, excerpt)
        for name, u in pairs:
            self.src.react(
                f"{msg.conv.native_id}:{msg.ts}:react:{name}:{u}",
                ts=msg.created,
                actor_id=self._person(u),
                space_id=msg.conv.space_id,
                item_id=iid,
                target_id=target,
                detail=name[:100],
            )

    def _mentions(self, raw_text: str, msg: _Message, iid: str, author: str | None) -> None:
        seen: set[str] = set()
        for uid in _MENTION.findall(raw_text) if "<@" in raw_text else ():
            target = self._person(uid)
            # a self-mention (the "@ann uploaded a file" of a file share) is no interaction
            if uid in seen or target == author:
                continue
            seen.add(uid)
            self.src.mention(
                f"{msg.conv.native_id}:{msg.ts}:mention:{uid}",
                ts=msg.created,
                actor_id=author,
                space_id=msg.conv.space_id,
                item_id=iid,
                target_id=target,
            )

    def _person(self, native: Any, *, bot: bool = False, name: str | None = None) -> str | None:
        """The id of an account referenced in a message, recording it when users.json did not."""
        if not isinstance(native, str) or not native:
            return None
        is_bot = bot or native == "USLACKBOT" or native.startswith("B")
        return self.src.person(native, display_name=name, is_bot=is_bot)

    def _read_integrations(self, name: str) -> None:
        """Integration logs: who added or removed an app, kept as ``system`` actions."""
        for i, e in enumerate(self._list(name, "integration_logs.json")):
            loc = f"{self.label}:integration_logs.json#{i}"
            when = to_utc(e.get("date")) if isinstance(e, dict) else None
            if not isinstance(e, dict) or when is None:
                self.src.reject(loc, "integration log entry without a usable date", str(e)[:200])
                continue
            change = str(e.get("change_type") or "changed")[:40]
            what = e.get("app_id") or e.get("service_id") or e.get("app_type") or e.get("service_type") or ""
            self.src.action(
                f"integration:{e.get('date')}:{e.get('user_id')}:{what}:{change}",
                verb="system",
                ts=when,
                actor_id=self._person(e.get("user_id")),
                detail=f"integration_{change}",
            )


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _ts(v: Any) -> str | None:
    """Slack's message timestamp ("1433562832.000005"), the message's id within its conversation."""
    if isinstance(v, str):
        s = v.strip()
        return s if _TS.match(s) and float(s) > 0 else None
    if _number(v) and 0 < v < 1e12:
        return f"{float(v):.6f}"
    return None


_EPOCH = datetime(1970, 1, 1)


def _created(ts: str) -> datetime | None:
    """The moment a ts stands for, exact to the microsecond (a float would round the sequence digits)."""
    sec, _, frac = ts.partition(".")
    try:
        return _EPOCH + timedelta(seconds=int(sec), microseconds=int((frac + "000000")[:6]))
    except OverflowError:
        return None


def _file_id(f: Any) -> str | None:
    fid = f.get("id") if isinstance(f, dict) else None
    return fid if isinstance(fid, str) and fid else None
