"""Perceval records of forums, Q&A sites, meetups and mail mapped onto canonical rows: Stack Exchange
questions with their answers and comments, Discourse topics, Meetup events with comments and RSVPs, and
mail messages (Perceval's mail items and raw news articles)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from email.message import Message
from typing import Any

from covalue.quoting import own_text
from covalue.sources.base import epoch_ms, to_utc
from covalue.sources.discourse import post_likes
from covalue.sources.htmltext import html_to_text, parse_html
from covalue.sources.mailmessage import original_sender
from covalue.sources.perceval_chat import PercevalSource, excerpt, first_name

_MEETUP_EVENT = re.compile(r"/([^/]+)/events/(\w+)")


def meetup_member(ctx: PercevalSource, m: dict[str, Any] | None) -> str | None:
    if not isinstance(m, dict):
        return None
    return ctx.person(m.get("id"), display_name=m.get("name"))


def meetup_event(ctx: PercevalSource, ev: dict[str, Any], loc: str) -> None:
    eid = ev.get("id")
    if not eid:
        ctx.ss.reject(loc, "Meetup event without id", excerpt(ev))
        return
    g = ev.get("group") or {}
    space = ctx.space(g.get("urlname") or g.get("id") or "unknown", g.get("name"), "group")
    hosts = ev.get("event_hosts") or []
    author = meetup_member(ctx, hosts[0]) if hosts else None
    iid = ctx.item(
        f"event/{eid}",
        kind="event",
        created_at=epoch_ms(ev.get("created")),
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


def meetup_comment(
    ctx: PercevalSource, c: dict[str, Any], loc: str, event_id: str | None, space: str | None
) -> None:
    cid = c.get("id")
    if not cid:
        ctx.ss.reject(loc, "Meetup comment without id", excerpt(c))
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
        created_at=epoch_ms(c.get("created")),
        author_id=meetup_member(ctx, c.get("member")),
        space_id=space,
        parent_id=ctx.ss.item_ref(parent) if parent else None,
        thread_id=ctx.ss.item_ref(f"event/{event_id}") if event_id else None,
        text=c.get("comment"),
        score=c.get("like_count"),
    )


def meetup_rsvp(
    ctx: PercevalSource, r: dict[str, Any], loc: str, item_id: str | None, space: str | None
) -> None:
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
        ctx.ss.reject(loc, "Meetup RSVP without member or event", excerpt(r))
        return
    resp = str(r.get("response") or "yes")
    # declining is not attending: kept as a system action so the answer is not lost
    verb = "attend" if resp in ("yes", "waitlist") else "system"
    ctx.action(
        f"rsvp/{item_id}/{(r.get('member') or {}).get('id')}",
        verb=verb,
        ts=epoch_ms(r.get("created")) or epoch_ms(r.get("mtime")),
        actor_id=who,
        space_id=space,
        item_id=item_id,
        detail=f"rsvp:{resp}",
        value=float(r.get("guests") or 0) + 1 if verb == "attend" else None,
    )


def se_owner(ctx: PercevalSource, o: dict[str, Any] | None) -> str | None:
    if not isinstance(o, dict):
        return None
    native = (
        o.get("user_id")
        if o.get("user_id") is not None
        else (f"name:{o['display_name']}" if o.get("display_name") else None)
    )
    return ctx.person(native, display_name=o.get("display_name"))


def se_question(ctx: PercevalSource, q: dict[str, Any], space: str, loc: str) -> None:
    qid = q.get("question_id")
    if qid is None:
        ctx.ss.reject(loc, "Stack Exchange question without question_id", excerpt(q))
        return
    qref = ctx.ss.item_ref(f"q/{qid}")
    se_post(ctx, f"q/{qid}", q, "question", space, title=q.get("title"), views=q.get("view_count"))
    for a in q.get("answers") or []:
        aid = a.get("answer_id")
        if aid is None:
            ctx.ss.reject(loc, "Stack Exchange answer without answer_id", excerpt(a))
            continue
        se_post(
            ctx,
            f"a/{aid}",
            a,
            "answer",
            space,
            thread_id=qref,
            parent_id=qref,
            accepted=bool(a.get("is_accepted")),
        )
        for c in a.get("comments") or []:
            se_comment(ctx, c, space, qref, loc)
    for c in q.get("comments") or []:
        se_comment(ctx, c, space, qref, loc)


def se_post(ctx: PercevalSource, native: str, post: dict[str, Any], kind: str, space: str, **kw: Any) -> None:
    """A question, answer or comment: when, by whom, its body and score, as every Stack Exchange post
    gives them; ``kw`` adds what only some kinds have (a title, the thread, acceptance)."""
    ctx.item(
        native,
        kind=kind,
        created_at=to_utc(post.get("creation_date")),
        author_id=se_owner(ctx, post.get("owner")),
        space_id=space,
        **se_body(post),
        score=post.get("score"),
        **kw,
    )


def se_body(post: dict[str, Any]) -> dict[str, Any]:
    """Text and links of a question, answer or comment: its HTML body read as the Stack Exchange reader
    reads a dump's bodies, else the Markdown source as it is."""
    if isinstance(post.get("body"), str) and post["body"]:
        text, links = html_to_text(post["body"])
        return {"text": text, "n_links": links}
    return {"text": post.get("body_markdown")}


def se_comment(ctx: PercevalSource, c: dict[str, Any], space: str, qref: str, loc: str) -> None:
    cid = c.get("comment_id")
    if cid is None:
        ctx.ss.reject(loc, "Stack Exchange comment without comment_id", excerpt(c))
        return
    on = "a" if c.get("post_type") == "answer" else "q"
    parent = ctx.ss.item_ref(f"{on}/{c.get('post_id')}") if c.get("post_id") is not None else qref
    se_post(ctx, f"c/{cid}", c, "comment", space, thread_id=qref, parent_id=parent)


class MailHeaders:
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
    ctx: PercevalSource, h: MailHeaders, body: str | None, loc: str, space_hint: str | None, n_att: int = 0
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
        display_name=first_name(name, addr.split("@")[0] if addr else None),
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
    ctx.message(
        mid[0],
        reply_to=parent,
        thread=root,
        created_at=when,
        author_id=author,
        space_id=space,
        title=str(h.get("Subject") or "") or None,
        text=body,
        own_text=own_text(body),
        n_attachments=n_att,
    )


def discourse_topic(ctx: PercevalSource, t: dict[str, Any], loc: str) -> None:
    tid = t.get("id")
    posts = ((t.get("post_stream") or {}).get("posts")) or []
    if tid is None or not posts:
        ctx.ss.reject(loc, "Discourse topic without id or posts", excerpt(t))
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
            ctx.ss.reject(loc, "Discourse post without id", excerpt(p))
            continue
        author = ctx.person(
            p.get("user_id") if p.get("user_id") is not None else p.get("username"),
            display_name=first_name(p.get("name"), p.get("username")),
        )
        is_first = p.get("post_number") == 1 or ctx.ss.item_ref(f"post/{pid}") == first
        target = by_number.get(p.get("reply_to_post_number"))
        likes = post_likes(p)
        # the cooked HTML read as the Discourse reader reads it; the raw Markdown when there is none
        cooked = parse_html(p["cooked"]) if isinstance(p.get("cooked"), str) and p["cooked"] else None
        ctx.item(
            f"post/{pid}",
            kind="post" if is_first else "reply",
            created_at=to_utc(p.get("created_at")),
            author_id=author,
            space_id=space,
            thread_id=first,
            parent_id=None if is_first else ctx.ss.item_ref(f"post/{target}") if target else first,
            title=t.get("title") if is_first else None,
            text=cooked.text if cooked else p.get("raw"),
            n_attachments=cooked.media if cooked else 0,
            accepted=bool(p.get("accepted_answer")),
            views=t.get("views") if is_first else None,
            score=likes or p.get("like_count"),
        )


def mail_text(msg: Message) -> tuple[str | None, int]:
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


_MSGID = re.compile(r"<([^<>]+)>")
