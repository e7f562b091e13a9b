"""Discourse: topic JSON as the forum's API returns it, usually a folder crawled from a forum.

What is read (any mix, at any depth under the folder given):

* ``/t/{id}.json`` topics: ``post_stream.posts`` with their post numbers, authors, cooked HTML, reads,
  reply targets, accepted answers (the solved plugin) and likes;
* ``/posts/{id}.json`` single posts (a post's ``topic_id`` and ``post_number`` place it in its topic);
* ``/latest.json``, ``/top.json``, ``/c/{slug}.json`` topic lists (``topic_list.topics``): topics known
  only by title, views, posters and like counts;
* ``/categories.json`` and ``/site.json``: category names (a support-like category makes first posts
  questions).

Ids. The first post of a topic is item ``t{topic_id}`` (so a topic seen only in a list and the same topic
read from its own file are one item); later posts are ``p{post_id}``. People are keyed by Discourse
``user_id``, the one id that topic lists and topics share.

Likes. The public API gives only how many people liked a post (``actions_summary`` entry with id 2), not
who. Each liked post therefore gets one aggregated ``react`` action whose ``value`` is the like count,
with no actor (``actor_id`` null), the post's author as target and the post's time as ``ts``. Metrics
that need who reacted cannot use these rows; those that need how much a post resonated can. A topic read
only from a list gets one such action for the topic's total likes, on its first post.

Accepted answers become ``accepted = true`` on the answer and an ``accept`` action by the topic's author
(the person who normally accepts), at the answer's time since the API does not say when it was accepted.
Tags become spaces of kind ``tag``; a topic is tied to each of its tags by a ``system`` action with
``detail = "tag"`` (an item has one space, its category). A first post is a ``question`` when its category
looks like a support one (name with support, help, question, Q&A, how-to...) or the topic has an accepted
answer, else a ``post``; later posts are ``reply`` items whose parent is the post they reply to (else the
first post). A first post's ``views`` are the topic's views; a later post's are its ``reads``.
Topic events (``post_type`` 3: closed, pinned, split...) are ``system`` actions, not items.
``@username`` mentions become ``mention`` actions once the read has seen that username's user id; the
others are counted in the ingest's messages. JSON files that are none of the documents above are rejects.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from covalue.identity import looks_like_bot
from covalue.sources.base import (
    Reader,
    Sink,
    SourceSink,
    file_head,
    iter_files,
    json_excerpt,
    to_utc,
)
from covalue.sources.htmltext import parse_html
from covalue.sources.jsonstream import loads
from covalue.sources.naming import discourse_site, folder_name

_SUPPORT = re.compile(r"support|help|question|q\s*&\s*a|troubleshoot|how[\s-]?to|\bask\b|problem", re.I)
_SNIFF_BYTES = 256 * 1024
_SMALL_ACTION = 3  # Discourse post_type of topic events such as "closed" or "pinned"


def _looks_discourse(head: bytes) -> bool:
    if b'"backend_name"' in head:  # a Perceval dump of Discourse items: the perceval reader's format
        return False
    return (
        b'"post_stream"' in head
        or b'"topic_list"' in head
        or (b'"post_number"' in head and b'"topic_id"' in head)
        or (b'"category_list"' in head and b'"categories"' in head)
    )


def _kind(doc: Any) -> str | None:
    """Which Discourse API document this is, or None."""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("post_stream"), dict):
        return "topic"
    if isinstance(doc.get("topic_list"), dict):
        return "list"
    if "post_number" in doc and "topic_id" in doc:
        return "post"
    if isinstance(doc.get("category_list"), dict) or (
        isinstance(doc.get("categories"), list) and "post_action_types" in doc
    ):
        return "categories"
    return None


def _tag_names(tags: Any) -> list[str]:
    out = []
    for t in tags or []:
        name = t.get("name") or t.get("slug") if isinstance(t, dict) else t
        if isinstance(name, str) and name.strip():
            out.append(name.strip())
    return out


def post_likes(post: dict[str, Any]) -> int:
    """How many people liked a post (Discourse gives the count, not who)."""
    for a in post.get("actions_summary") or []:
        if isinstance(a, dict) and a.get("id") == 2:
            try:
                return int(a.get("count") or 0)
            except (TypeError, ValueError):
                return 0
    return 0


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


class DiscourseReader(Reader):
    name = "discourse"
    description = "Discourse topics, posts and topic lists as the forum API returns them (a crawled folder)"

    @classmethod
    def detect_file(cls, path: Path) -> float:
        if not path.name.lower().endswith(".json"):
            return 0.0
        return 0.9 if _looks_discourse(file_head(path, _SNIFF_BYTES)) else 0.0

    @classmethod
    def detect_folder(cls, path: Path) -> float:
        seen = 0
        for p in path.rglob("*.json"):
            if not p.is_file():
                continue
            if _looks_discourse(file_head(p, _SNIFF_BYTES)):
                return 0.8
            seen += 1
            if seen >= 40:
                break
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        files = iter_files(path, [".json"])
        sink.set_total(len(files))
        # Pass 1 sorts the files by kind, keeps category lists and the first documents (which name the
        # forum), so that in pass 2 every topic knows whether its category is a support one, and topics
        # read in full come before lists. What cannot be read waits for the source to be named.
        by_kind: dict[str, list[Path]] = {"categories": [], "topic": [], "post": [], "list": []}
        first_docs: list[Any] = []
        categories: list[dict[str, Any]] = []
        problems: list[tuple[Path, str, str | None]] = []
        for f in files:
            doc, problem = read_json(f)
            if problem is not None:
                problems.append((f, *problem))
                sink.advance(1)
                continue
            if len(first_docs) < _NAME_SCAN_FILES:
                first_docs.append(doc)
            kind = _kind(doc)
            if kind is None:
                reason = "JSON that is not a Discourse topic, post, topic list or category list"
                problems.append((f, reason, json_excerpt(doc)))
                sink.advance(1)
                continue
            by_kind[kind].append(f)
            if kind == "categories":
                categories.append(doc)
        site, community = _forum_name(path, first_docs)
        src = sink.source("discourse", site, community=community)
        state = _State(src, sink, path)
        for f, reason, excerpt in problems:
            src.reject(state.loc(f), reason, excerpt)
        for doc in categories:
            state.learn_categories(doc)
        handlers = {"topic": state.topic, "post": state.post, "list": state.topic_list}
        for kind in ("categories", "topic", "post", "list"):
            for f in by_kind[kind]:
                if kind != "categories":
                    doc = state.load(f)
                    if doc is not None:
                        handlers[kind](f, doc)
                sink.advance(1)
        state.finish()


def _category_names(doc: dict[str, Any]) -> dict[int, str]:
    """Category id -> name, subcategories included, from a category list document."""
    cats = (
        (doc.get("category_list") or {}).get("categories")
        if "category_list" in doc
        else doc.get("categories")
    )
    names: dict[int, str] = {}
    stack = list(cats or [])
    while stack:
        c = stack.pop()
        if not isinstance(c, dict):
            continue
        cid = _int(c.get("id"))
        if cid is not None and c.get("name"):
            names[cid] = str(c["name"])
        stack.extend(c.get("subcategory_list") or [])
    return names


#: files read up front to learn the forum's name (the rest of a large crawl names the same forum)
_NAME_SCAN_FILES = 50


def _forum_name(path: Path, docs: list[Any]) -> tuple[str, str]:
    """(source instance, community name) of a crawl from its first documents: the forum's host, from its
    own internal links and avatars (:func:`covalue.sources.naming.discourse_site`); else the one category
    all its topics are in; else the folder's name, or its parent's when that name is generic (``json``)."""
    host = discourse_site(docs)
    if host:
        return host, host
    folder = path if path.is_dir() else path.parent
    instance = folder_name(folder) or path.stem
    names: dict[int, str] = {}
    used: set[int | None] = set()
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if _kind(doc) == "categories":
            names.update(_category_names(doc))
        elif isinstance(doc.get("post_stream"), dict):
            used.add(_int(doc.get("category_id")))
    only = next(iter(used)) if len(used) == 1 else None
    return instance, names.get(only, instance) if only is not None else instance


def read_json(f: Path) -> tuple[Any, tuple[str, str | None] | None]:
    """(document, None), or (None, (why, excerpt)) when the file cannot be read or is not JSON."""
    try:
        data = f.read_bytes()
    except OSError as e:
        return None, (f"file cannot be read: {e}", None)
    try:
        return loads(data), None
    except orjson.JSONDecodeError as e:
        return None, (f"malformed JSON: {e}", data[:300].decode("utf-8", "replace"))


class _State:
    """What one read has learned so far: categories, topics and posts already emitted."""

    def __init__(self, src: SourceSink, sink: Sink, root: Path) -> None:
        self.src = src
        self.sink = sink
        self.root = root
        self.categories: dict[int, str] = {}
        self.items: set[str] = set()  # native item ids emitted in this run
        self.post_ids: dict[tuple[int, int], str] = {}  # (topic, post_number) -> native item id
        self.list_only = 0
        self.partial_topics = 0
        self.usernames: dict[str, str] = {}  # lower-cased username -> person key (user id)
        # mentions wait for the end of the read: the person mentioned may only post later
        self.mentions: list[tuple[str, str, str | None, Any, str | None, str]] = []

    def loc(self, f: Path, where: str = "") -> str:
        try:
            rel = f.relative_to(self.root) if self.root.is_dir() else f.name
        except ValueError:
            rel = f
        return f"{rel}{':' + where if where else ''}"

    def load(self, f: Path) -> Any:
        doc, problem = read_json(f)
        if problem is not None:
            self.src.reject(self.loc(f), *problem)
        return doc

    # -- categories ------------------------------------------------------------------------------
    def learn_categories(self, doc: dict[str, Any]) -> None:
        self.categories.update(_category_names(doc))

    def space(self, category_id: Any) -> str | None:
        cid = _int(category_id)
        if cid is None:
            return None
        return self.src.space(f"c{cid}", self.categories.get(cid, f"category {cid}"), "category")

    def support_like(self, category_id: Any, tags: list[str]) -> bool:
        cid = _int(category_id)
        name = self.categories.get(cid, "") if cid is not None else ""
        return bool(_SUPPORT.search(name)) or any(_SUPPORT.search(t) for t in tags)

    def person(
        self, user_id: Any, username: Any = None, name: Any = None, post: dict[str, Any] | None = None
    ) -> str | None:
        key = user_id if _int(user_id) is not None else (f"u:{username}" if username else None)
        if key is None:
            return None
        if isinstance(username, str) and username:
            self.usernames.setdefault(username.lower(), str(key))
        display = name or username
        role = None
        if post is not None:  # staff flags on a post say who leads the forum
            role = (
                "admin"
                if post.get("admin")
                else "moderator"
                if post.get("moderator") or post.get("staff")
                else None
            )
        return self.src.person(
            key,
            display_name=str(display) if display else None,
            # Discourse's own accounts (system, discobot) have negative ids
            is_bot=(_int(user_id) is not None and int(user_id) < 0) or looks_like_bot(str(username or "")),
            role=role,
        )

    # -- topics ----------------------------------------------------------------------------------
    def topic(self, f: Path, doc: dict[str, Any]) -> None:
        tid = _int(doc.get("id"))
        posts = (doc.get("post_stream") or {}).get("posts")
        if not isinstance(posts, list):
            self.src.reject(self.loc(f), "topic has no post_stream.posts list", json_excerpt(doc))
            return
        if tid is None:
            tid = next((_int(p.get("topic_id")) for p in posts if isinstance(p, dict)), None)
        if tid is None:
            self.src.reject(self.loc(f), "topic has no id", json_excerpt(doc))
            return
        stream = (doc.get("post_stream") or {}).get("stream")
        if isinstance(stream, list) and len(stream) > len(posts):
            self.partial_topics += 1
        for u in (doc.get("details") or {}).get("participants") or []:
            if isinstance(u, dict) and _int(u.get("id")) is not None and u.get("username"):
                self.usernames.setdefault(str(u["username"]).lower(), str(u["id"]))
        tags = _tag_names(doc.get("tags"))
        accepted = doc.get("accepted_answer")
        accepted_no = _int(accepted.get("post_number")) if isinstance(accepted, dict) else None
        has_accepted = (
            accepted_no is not None
            or bool(doc.get("has_accepted_answer"))
            or any(isinstance(p, dict) and p.get("accepted_answer") is True for p in posts)
        )
        ctx = {
            "tid": tid,
            "title": doc.get("title") or doc.get("fancy_title"),
            "category": doc.get("category_id"),
            "tags": tags,
            "question": self.support_like(doc.get("category_id"), tags) or has_accepted,
            "views": _int(doc.get("views")),
            "accepted_no": accepted_no,
            "op": None,
        }
        ordered = sorted(
            (p for p in posts if isinstance(p, dict)), key=lambda p: _int(p.get("post_number")) or 0
        )
        for i, p in enumerate(posts):
            if not isinstance(p, dict):
                self.src.reject(
                    self.loc(f, f"post_stream.posts[{i}]"), "post is not a JSON object", repr(p)[:300]
                )
        for p in ordered:
            self.post(f, p, ctx)

    def post(self, f: Path, p: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        pid = _int(p.get("id"))
        pn = _int(p.get("post_number"))
        tid = _int(p.get("topic_id")) if ctx is None else ctx["tid"]
        where = f"topic {tid} post {pn}" if ctx else ""
        if pid is None or pn is None or tid is None:
            self.src.reject(self.loc(f, where), "post lacks id, post_number or topic_id", json_excerpt(p))
            return
        created = to_utc(p.get("created_at"))
        if created is None:
            self.src.reject(self.loc(f, where), f"post {pid} has no usable created_at", json_excerpt(p))
            return
        native = f"t{tid}" if pn == 1 else f"p{pid}"
        if native in self.items:
            return
        ctx = ctx or {
            "tid": tid,
            "title": p.get("topic_title"),
            "category": p.get("category_id"),
            "tags": [],
            "question": False,
            "views": None,
            "accepted_no": None,
            "op": None,
        }
        self.items.add(native)
        self.post_ids[(tid, pn)] = native
        author = self.person(
            p.get("user_id"), p.get("username"), p.get("name") or p.get("display_username"), post=p
        )
        space = self.space(ctx["category"] if ctx["category"] is not None else p.get("_category_id"))
        if space is None and ctx["tags"]:
            space = self.tag_space(ctx["tags"][0])
        if p.get("post_type") == _SMALL_ACTION or p.get("action_code"):
            # "closed the topic", "pinned", "split this topic": an event in the topic, not a contribution
            self.src.action(
                f"action:{native}",
                verb="system",
                ts=created,
                actor_id=author,
                space_id=space,
                item_id=self.src.item_ref(f"t{tid}"),
                detail=str(p.get("action_code") or "small_action"),
            )
            return
        cooked = parse_html(p.get("cooked"))
        text, n_media = cooked.text, cooked.media
        if not text and isinstance(p.get("raw"), str):
            text = p["raw"]
        thread = self.src.item_ref(f"t{tid}")
        accepted = p.get("accepted_answer") is True or (
            ctx["accepted_no"] is not None and ctx["accepted_no"] == pn
        )
        if pn == 1:
            ctx["op"] = author
            kind = "question" if ctx["question"] or p.get("accepted_answer") is True else "post"
            parent = None
            views = ctx["views"] if ctx["views"] is not None else _int(p.get("reads"))
            title = ctx["title"]
        else:
            kind = "reply"
            target = self.post_ids.get((tid, _int(p.get("reply_to_post_number")) or 1))
            parent = self.src.item_ref(target or f"t{tid}")
            views = _int(p.get("reads"))
            title = None
        iid = self.src.item(
            native,
            kind=kind,
            created_at=created,
            author_id=author,
            space_id=space,
            thread_id=thread,
            parent_id=parent,
            title=title,
            text=text,
            n_attachments=n_media,
            accepted=accepted and pn != 1,
            views=views,
        )
        for username, _uid, _silent in dict.fromkeys(cooked.mentions):
            self.mentions.append((native, iid, author, created, space, username))
        likes = post_likes(p)
        if likes:
            self.likes(f"like:{native}", likes, "aggregated count", created, space, iid, author)
        if accepted and pn != 1:
            self.src.action(
                f"accept:{native}",
                verb="accept",
                ts=created,
                actor_id=ctx["op"],
                space_id=space,
                item_id=iid,
                target_id=author,
                value=1.0,
            )
        if pn == 1:
            self.tagged(native, iid, ctx["tags"], created, author)

    def tag_space(self, tag: str) -> str:
        return self.src.space(f"tag:{tag}", tag, "tag")

    def tagged(self, native: str, iid: str, tags: list[str], ts: datetime | None, author: str | None) -> None:
        """A topic's tags: its opening post filed in one tag space per tag."""
        for tag in tags:
            self.src.action(
                f"tag:{native}:{tag}",
                verb="system",
                ts=ts,
                actor_id=author,
                space_id=self.tag_space(tag),
                item_id=iid,
                detail="tag",
            )

    def likes(
        self,
        key: str,
        n: int,
        what: str,
        ts: datetime | None,
        space: str | None,
        iid: str,
        author: str | None,
    ) -> None:
        """Likes the export gives only as a count: one reaction row holding the count, from nobody."""
        self.src.react(
            key,
            ts=ts,
            actor_id=None,
            space_id=space,
            item_id=iid,
            target_id=author,
            value=float(n),
            detail=f"like ({what})",
        )

    # -- topic lists -----------------------------------------------------------------------------
    def topic_list(self, f: Path, doc: dict[str, Any]) -> None:
        names = {}
        for u in doc.get("users") or []:
            if isinstance(u, dict) and _int(u.get("id")) is not None:
                names[int(u["id"])] = (u.get("username"), u.get("name"))
        topics = (doc.get("topic_list") or {}).get("topics")
        if topics is None:
            return
        if not isinstance(topics, list):
            self.src.reject(self.loc(f), "topic_list.topics is not a list", json_excerpt(doc))
            return
        for i, t in enumerate(topics):
            self.list_topic(f, i, t, names)

    def list_topic(self, f: Path, i: int, t: Any, names: dict[int, tuple[Any, Any]]) -> None:
        where = f"topic_list.topics[{i}]"
        tid = _int(t.get("id")) if isinstance(t, dict) else None
        if tid is None:
            self.src.reject(self.loc(f, where), "topic in list has no id", repr(t)[:300])
            return
        created = to_utc(t.get("created_at"))
        if created is None:
            self.src.reject(self.loc(f, where), f"topic {tid} has no usable created_at", json_excerpt(t))
            return
        op = None
        for poster in t.get("posters") or []:
            if not isinstance(poster, dict):
                continue
            uid = _int(poster.get("user_id"))
            if uid is None:
                continue
            username, name = names.get(uid, (None, None))
            pref = self.person(uid, username, name)
            if op is None and "original poster" in str(poster.get("description") or "").lower():
                op = pref
        native = f"t{tid}"
        if native in self.items:
            return
        self.items.add(native)
        self.post_ids[(tid, 1)] = native
        self.list_only += 1
        tags = _tag_names(t.get("tags"))
        question = self.support_like(t.get("category_id"), tags) or bool(t.get("has_accepted_answer"))
        space = self.space(t.get("category_id"))
        iid = self.src.item(
            native,
            kind="question" if question else "post",
            created_at=created,
            author_id=op,
            space_id=space,
            title=t.get("title") or t.get("fancy_title"),
            views=_int(t.get("views")),
        )
        likes = _int(t.get("like_count")) or 0
        if likes > 0:
            self.likes(f"like:{native}:topic", likes, "topic total, aggregated", created, space, iid, op)
        self.tagged(native, iid, tags, created, op)

    def finish(self) -> None:
        unknown = 0
        for native, iid, author, ts, space, username in self.mentions:
            key = self.usernames.get(username.lower())
            if key is None:
                unknown += 1
                continue
            self.src.mention(
                f"mention:{native}:{key}",
                ts=ts,
                actor_id=author,
                space_id=space,
                item_id=iid,
                target_id=self.src.person_ref(key),
            )
        self.sink.warn_counts(
            "discourse",
            (
                unknown,
                "mentions name people who wrote nothing in this export; they were not recorded (their "
                "user id is unknown)",
            ),
            (
                self.list_only,
                "topics were known only from topic lists: their first post has no text and their replies "
                "are not in the export",
            ),
            (
                self.partial_topics,
                "topic files hold only the first chunk of their posts (post_stream.stream lists more); "
                "crawl /t/{id}/posts.json for the rest",
            ),
        )
