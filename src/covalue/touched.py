"""The items an update recomputes: the threads its new rows touch, closed over parents, roots and
replies, with the chat messages around them that may take them up or be taken up, and the items their
classification reads besides (:func:`touched_items`). :mod:`covalue.incremental` recomputes the item
level for these and reads every other item's rows as they were kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from covalue.changes import MONTH_SQL, in_months
from covalue.metrics.chat_replies import quiet_hours

if TYPE_CHECKING:
    from covalue.workspace import Workspace


def touched_items(ws: Workspace, months: list[int], roles: dict[str, Any]) -> tuple[int, int, bool]:
    """Temp tables ``_inc_t`` (the items whose rows are recomputed: everything in the threads the new
    rows touch, with parents, roots, replies and chat neighbours, closed) and ``_inc_s`` (those and the
    items their classification reads: chat neighbours and the threaded replies of their channel-months).
    Returns the sizes, and whether ``_inc_t`` holds a chat message.

    Every chat step starts from a chat message of the set it widens, so where the touched items hold
    none (a forum, a Q&A site, a mailing list) they are skipped: they could add nothing."""
    raw = ws.raw
    conv = roles.get("conversation", {})
    minutes = float(conv.get("chat_reply_minutes", 0) or 0)
    platforms = list(conv.get("chat_platforms", [])) or ["\x00"]
    plats = ",".join(f"'{p}'" for p in platforms)
    chat = f"regexp_extract(i.source, '^([^:]+)', 1) IN ({plats})"
    new_items = in_months("i.created_at", months)
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_t AS "
        f"SELECT item_id FROM items i WHERE {new_items} "
        f"UNION SELECT item_id FROM actions a WHERE item_id IS NOT NULL AND {in_months('a.ts', months)}"
    )

    def any_chat() -> bool:
        return bool(
            raw.execute(
                "SELECT count(*) FROM (SELECT DISTINCT i.source FROM items i JOIN (SELECT DISTINCT item_id "
                f"FROM _inc_t) t USING (item_id)) i WHERE {chat}"
            ).fetchone()[0]
        )

    secs = int(2 * minutes * 60)
    # after a quiet spell a message takes up the line before it, hours back (and that line's turn, of its
    # day, found below)
    quiet = int(quiet_hours(conv) * 3600)
    hours = float(conv.get("chat_mention_reply_hours", 0) or 0)
    named = int(hours * 3600)
    # a turn's line takes its stretch from the lines before it that day; the whole months of the new
    # rows are recomputed, so only the days of lines outside them are added below
    turns = bool(conv.get("chat_turns", False)) and minutes > 0
    chat_seen = any_chat()
    picked = _chat_read(raw, chat, named) if chat_seen else None  # chat items, by their sources
    if picked:
        # the new items' chat neighbours: a message after a new one may now follow it
        raw.execute(f"INSERT INTO _inc_t {chat_near(picked, '_inc_t', secs)}")
        raw.execute(f"INSERT INTO _inc_t {chat_adjacent(picked, '_inc_t', quiet)}")
        # a message naming someone answers their latest message within hours: later messages naming
        # people may now answer a new one, and what a message naming people answered (or did) changes
        raw.execute(f"INSERT INTO _inc_t {chat_near(picked, '_inc_t', named, before=False, naming='n')}")
        raw.execute(f"INSERT INTO _inc_t {chat_near(picked, '_inc_t', named, after=False, naming='o')}")
        if turns:  # a line taken up gives its reply to its stretch's first line, earlier that day
            raw.execute(f"INSERT INTO _inc_t {same_days(picked, '_inc_t')}")
    size = -1
    while True:
        raw.execute(
            "CREATE OR REPLACE TEMP TABLE _inc_k AS SELECT DISTINCT k FROM (SELECT unnest([i.item_id, "
            "i.parent_id, i.thread_id]) AS k FROM items i JOIN (SELECT DISTINCT item_id FROM _inc_t) t "
            "USING (item_id)) WHERE k IS NOT NULL"
        )
        raw.execute(
            "CREATE OR REPLACE TEMP TABLE _inc_t AS SELECT item_id FROM items WHERE item_id IN "
            "(SELECT k FROM _inc_k) OR thread_id IN (SELECT k FROM _inc_k) OR parent_id IN (SELECT k FROM _inc_k)"
        )
        n = raw.execute("SELECT count(*) FROM _inc_t").fetchone()[0]
        if n == size:
            break
        size = n
    # context: chat neighbours (with their replies) and the threaded replies of the channel-months read,
    # and the messages those recomputed may name or be named by (with everything said between)
    raw.execute("CREATE OR REPLACE TEMP TABLE _inc_nb AS SELECT NULL::VARCHAR AS item_id WHERE FALSE")
    chat_in = chat_seen or any_chat()  # a thread of the touched ones may hold chat messages
    if chat_in:
        picked = picked or _chat_read(raw, chat, named)
        raw.execute(f"INSERT INTO _inc_nb {chat_near(picked, '_inc_t', secs)}")
        raw.execute(f"INSERT INTO _inc_nb {chat_adjacent(picked, '_inc_t', quiet, after=False)}")
        raw.execute(f"INSERT INTO _inc_nb {chat_near(picked, '_inc_t', named, before=False)}")
        raw.execute(f"INSERT INTO _inc_nb {chat_near(picked, '_inc_t', named, after=False, naming='o')}")
        raw.execute(f"INSERT INTO _inc_nb {chat_near(picked, '_inc_nb', named, after=False, naming='o')}")
        if turns:  # the stretch of a line read, or taken up, is found among the lines of its day
            raw.execute(
                f"INSERT INTO _inc_nb {same_days(picked, '(SELECT item_id FROM _inc_t UNION SELECT item_id FROM _inc_nb)')}"
            )
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_s AS SELECT item_id FROM _inc_t UNION SELECT item_id FROM _inc_nb "
        "UNION SELECT item_id FROM items WHERE parent_id IN (SELECT item_id FROM _inc_nb) "
        "OR thread_id IN (SELECT item_id FROM _inc_nb) UNION "
        f"SELECT i.item_id FROM items i JOIN (SELECT DISTINCT i.space_id, {MONTH_SQL.format(c='i.created_at')} AS m "
        f"FROM items i WHERE {chat} AND i.item_id IN (SELECT item_id FROM _inc_t UNION SELECT item_id FROM _inc_nb)) b "
        f"ON i.space_id = b.space_id AND {MONTH_SQL.format(c='i.created_at')} = b.m "
        "WHERE i.parent_id IS NOT NULL OR (i.thread_id IS NOT NULL AND i.thread_id <> i.item_id)"
    )
    return size, raw.execute("SELECT count(*) FROM _inc_s").fetchone()[0], chat_in


def _chat_read(raw: Any, chat: str, named: int) -> str:
    """What the chat steps read, made once per update: the chat sources (:func:`chat_sources`, whose
    condition is returned) and the items that name someone (:func:`_named_items`)."""
    _named_items(raw, named)
    return chat_sources(raw, chat)


def _named_items(raw: Any, named: int) -> None:
    """``_inc_named``: the items that name someone (a mention), when a message naming a person can
    answer them (``named`` seconds, 0 for never)."""
    if named:
        raw.execute(
            "CREATE OR REPLACE TEMP TABLE _inc_named AS SELECT DISTINCT item_id FROM actions "
            "WHERE verb = 'mention' AND item_id IS NOT NULL"
        )


def chat_sources(raw: Any, chat: str) -> str:
    """``_inc_chat_sources``: the sources of the workspace's chat items (``chat`` picks them from
    ``items i``), read once per update; returns the condition that picks chat items by them, a lookup
    in place of reading every item's platform from its source again in each step."""
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_chat_sources AS SELECT i.source FROM "
        f"(SELECT DISTINCT source FROM items) i WHERE {chat}"
    )
    return "i.source IN (SELECT source FROM _inc_chat_sources)"


def chat_near(
    chat: str, of: str, secs: int, *, before: bool = True, after: bool = True, naming: str | None = None
) -> str:
    """A SELECT of the chat items (``chat`` picks them from ``items i``) within ``secs`` before and/or
    after a chat item of ``of`` in the same channel, kept only when the item found (``naming='n'``) or
    the item of ``of`` (``'o'``) names someone (``_inc_named``); nothing when ``secs`` is 0. An item may
    come out more than once.

    Each chat item is matched with the nearest item of ``of`` on the side asked (an as-of join) and kept
    when that one is close enough: the work grows with the channel's items, not with the pairs of items
    within ``secs`` of each other. Pairing them was quadratic in a busy channel, whose 12 hours (the time
    a message naming someone may answer them) hold thousands of messages: one update of a Discord
    archive spilled 40 GB before the disk was full (:func:`_around` says which items are matched)."""
    if secs <= 0 or not (before or after):
        return "SELECT NULL::VARCHAR AS item_id WHERE FALSE"
    named = "AND i.item_id IN (SELECT item_id FROM _inc_named)"
    ctes = _around(chat, of, secs, named if naming == "o" else "", named if naming == "n" else "")
    parts = []
    if after:  # found at most secs after one of `of`: the latest of those at or before it
        parts.append(
            "SELECT n.item_id FROM n ASOF JOIN o ON n.space_id = o._os AND n.created_at >= o._ot "
            f"WHERE n.created_at <= o._ot + INTERVAL {secs} SECOND"
        )
    if before:  # found at most secs before one: the earliest at or after it
        parts.append(
            "SELECT n.item_id FROM n ASOF JOIN o ON n.space_id = o._os AND n.created_at <= o._ot "
            f"WHERE n.created_at >= o._ot - INTERVAL {secs} SECOND"
        )
    return ctes + " UNION ALL ".join(parts)


def chat_adjacent(chat: str, of: str, secs: int, *, after: bool = True) -> str:
    """A SELECT of the chat items (``chat`` picks them from ``items i``) next to a chat item of ``of`` in
    its channel, at most ``secs`` away: the one just before a message without a parent (which a quiet
    spell's rule may make it take up) and, with ``after``, the message without a parent just after one
    (which may take it up); nothing when ``secs`` is 0. Items of the same time are
    :func:`chat_near`'s."""
    if secs <= 0:
        return "SELECT NULL::VARCHAR AS item_id WHERE FALSE"
    ctes = _around(chat, of, secs, free=True)
    parts = [
        "SELECT n.item_id FROM (SELECT * FROM o WHERE _free) o ASOF JOIN n ON n.space_id = o._os "
        f"AND o._ot > n.created_at WHERE n.created_at >= o._ot - INTERVAL {secs} SECOND"
    ]
    if after:
        parts.append(
            "SELECT n.item_id FROM o ASOF JOIN (SELECT * FROM n WHERE _nfree) n ON n.space_id = o._os "
            f"AND o._ot < n.created_at WHERE n.created_at <= o._ot + INTERVAL {secs} SECOND"
        )
    return ctes + " UNION ALL ".join(parts)


def _around(chat: str, of: str, secs: int, o_where: str = "", n_where: str = "", free: bool = False) -> str:
    """The ``WITH`` clause :func:`chat_near` and :func:`chat_adjacent` read: the chat items of ``of``
    (``o``: channel ``_os``, time ``_ot``, with ``free`` ``_free`` when without a parent), their span in
    each channel widened by ``secs``, and the chat items in it (``n``, ``_nfree`` likewise), each read
    once. Only the items of the channels of ``of``, from ``secs`` before its first item there to
    ``secs`` after its last, can be near one, and an update's items are mostly of its own months."""
    timed = f"{chat} AND i.space_id IS NOT NULL AND i.created_at IS NOT NULL"
    o_free, n_free = (
        (", i.parent_id IS NULL AS _free", ", i.parent_id IS NULL AS _nfree") if free else ("", "")
    )
    o = (
        f"SELECT i.space_id AS _os, i.created_at AS _ot{o_free} FROM items i "
        f"JOIN {of} USING (item_id) WHERE {timed} {o_where}"
    )
    span = (
        f"SELECT _os AS _bs, min(_ot) - INTERVAL {secs} SECOND AS _lo, max(_ot) + INTERVAL {secs} SECOND "
        "AS _hi FROM o GROUP BY _os"
    )
    n = (
        f"SELECT i.item_id, i.space_id, i.created_at{n_free} FROM items i JOIN span b "
        f"ON i.space_id = b._bs AND i.created_at BETWEEN b._lo AND b._hi WHERE {chat} {n_where}"
    )
    return f"WITH o AS ({o}), span AS ({span}), n AS ({n}) "


def same_days(chat: str, of: str) -> str:
    """A SELECT of the chat items (``chat`` picks them from ``items i``) written in the channel and on
    the calendar day of a chat item of ``of``."""
    return (
        f"SELECT i.item_id FROM items i JOIN (SELECT DISTINCT i.space_id, i.created_at::DATE AS d FROM items i "
        f"JOIN {of} o USING (item_id) WHERE {chat} AND i.space_id IS NOT NULL) b "
        f"ON i.space_id = b.space_id AND i.created_at::DATE = b.d WHERE {chat}"
    )


def items_context(ws: Workspace, roles: dict[str, Any]) -> ir.Table:
    """The items of ``_inc_s``, plus one placeholder answer per community that marks answers (which
    item the classification reads only as "this community's platform marks answers")."""
    items = ws.table("items")
    s = ws.table("_inc_s")
    ctx = items.semi_join(s, items.item_id == s.item_id)
    kinds = list(roles["structure"]["answer_kinds"])
    if not kinds:
        return ctx
    marked = items.filter(items.kind.isin(kinds)).select("community_id").distinct()
    cols = {c: ibis.null(t) for c, t in items.schema().items()}
    cols.update(
        item_id=ibis.literal("~marks-answers:").concat(marked.community_id),
        community_id=marked.community_id,
        kind=ibis.literal(kinds[0]),
        source=ibis.literal("~"),
    )
    fake = marked.select(**{c: v.cast(items.schema()[c]) for c, v in cols.items()})
    return ctx.union(fake, distinct=False)
