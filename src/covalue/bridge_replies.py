"""Replies a bridge writes into the text: ``thanks, that worked (re @bob: try restarting the node)``.

A bridge (matterbridge and the like) cannot make a native reply on the other side, so it appends the
message replied to, after ``(re @nick: ``, to the reply's text. Read as it comes, such a reply is a
new conversation that nobody answered, its writer says what someone else said, and the message it
answers never gets its reply: on a chat bridged from Telegram, thousands of answers went unseen.

After each ingest (and after :mod:`covalue.relays` has given relayed messages to their writers),
:func:`apply` looks for messages ending in such a quote and finds the message quoted: the latest one
before it, in the same channel and within :data:`WITHIN_DAYS`, whose own words (its prefix and its own
quote left out) are exactly the quoted words. When it is found, the message becomes a reply to it, in its
thread, and the quote leaves the text. Nothing is guessed: a quote that matches no message leaves the
message as it was, except that a relayed writer's message (whose quote can only be the bridge's) loses
the words it quotes, so that nobody is shown saying someone else's words.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from covalue import changes, identity
from covalue.metrics import chat_replies
from covalue.relays import NESTING, PREFIX, WRITER
from covalue.sources.base import text_stats

#: ``own words (re @nick: quoted words)`` at the end of a message; the first such marker splits it
QUOTE = r"^(.*?)\s?\(re @([^:()\n]{1,64}): (.*)\)\s*$"
#: white space around the words compared (an SQL literal)
_BLANK = "' \t\n\r'"
#: how far back the quoted message is looked for (99 % of the bridged replies seen answer within a day)
WITHIN_DAYS = 7


def apply(raw: Any, sources: list[str] | None = None, roles: dict[str, Any] | None = None) -> int:
    """Link bridged replies in ``sources`` (None: every source) to the messages they quote; returns how
    many were linked. On the chat platforms whose replies leave the channel for a thread of their own
    (``chat_platforms`` without ``inline_reply_platforms`` in the roles model's ``[conversation]``), a
    reply would say the channel uses threads: there the quote only leaves a relayed writer's text.
    Runs in the ingest's transaction; a source without such replies costs one scan of its messages
    containing ``(re @``."""
    threaded = chat_replies.threaded_platforms((roles or {}).get("conversation", {}))
    where = "TRUE" if sources is None else "source IN (SELECT unnest(?))"
    params = [] if sources is None else [list(sources)]
    # the quoted words, with the prefixes a bridge put before them (nested bridges too) taken off
    quoted = f"regexp_extract(text, '{QUOTE}', 3, 's')"
    for _ in range(NESTING):
        quoted = f"regexp_replace({quoted}, '{PREFIX}', '')"
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _quoting AS SELECT item_id, space_id, community_id, created_at, author_id, "
        f"regexp_extract(text, '{QUOTE}', 1, 's') AS own, trim({quoted}, {_BLANK}) AS quoted, "
        "list_contains(?::VARCHAR[], regexp_extract(source, '^([^:]+)', 1)) AS threaded FROM items "
        f"WHERE {where} AND parent_id IS NULL AND space_id IS NOT NULL AND created_at IS NOT NULL "
        f"AND text LIKE '%(re @%' AND regexp_matches(text, '{QUOTE}', 's')",
        [threaded, *params],
    )
    try:
        if not raw.execute("SELECT count(*) FROM _quoting").fetchone()[0]:
            return 0
        return _link(raw)
    finally:
        raw.execute("DROP TABLE IF EXISTS _quoting; DROP TABLE IF EXISTS _quoted")


def message(linked: int) -> str:
    """What an ingest says of the replies it linked."""
    return (
        f"{linked:,} messages that quote the message they answer, as a bridge writes a reply "
        '("... (re @nick: ...)"), were linked to it as replies'
    )


def _link(raw: Any) -> int:
    # a message's own words: without its own quote, if it has one (a quote never repeats the quote of
    # the message it quotes; the messages still quoting are those being linked); only the channels and
    # days the quotes can point to are read, and only messages whose words someone quoted
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _quoted AS "
        "WITH span AS (SELECT space_id, min(created_at) - INTERVAL (?) DAY AS lo, max(created_at) AS hi "
        "FROM _quoting GROUP BY 1), "
        "plain AS (SELECT i.item_id, i.space_id, i.created_at, i.thread_id, "
        f"trim(i.text, {_BLANK}) AS words FROM items i JOIN span s ON s.space_id = i.space_id "
        "AND i.created_at BETWEEN s.lo AND s.hi WHERE i.text NOT LIKE '%(re @%'), "
        "own AS (SELECT * FROM plain WHERE words IN (SELECT quoted FROM _quoting) UNION ALL "
        f"SELECT q.item_id, q.space_id, q.created_at, i.thread_id, trim(q.own, {_BLANK}) FROM _quoting q "
        "JOIN items i USING (item_id)) "
        "SELECT q.item_id, arg_max(o.item_id, (o.created_at, o.item_id)) AS parent_id, "
        "arg_max(coalesce(o.thread_id, o.item_id), (o.created_at, o.item_id)) AS thread_id, "
        "max(o.created_at) AS parent_at "
        "FROM _quoting q JOIN own o ON o.space_id = q.space_id AND o.words = q.quoted "
        "AND o.item_id <> q.item_id AND o.created_at <= q.created_at "
        "AND o.created_at >= q.created_at - INTERVAL (?) DAY WHERE q.quoted <> '' AND NOT q.threaded "
        "GROUP BY q.item_id",
        [WITHIN_DAYS, WITHIN_DAYS],
    )
    # a relayed writer's quote is the bridge's even when the message quoted is not in the export
    rows = raw.execute(
        "SELECT q.item_id, q.own, m.parent_id, m.thread_id FROM _quoting q LEFT JOIN _quoted m USING (item_id) "
        "LEFT JOIN identities d ON d.identity_id = q.author_id WHERE m.parent_id IS NOT NULL "
        f"OR d.native_id LIKE '{WRITER}%' OR d.native_id LIKE '{identity.WEBHOOK}%'"
    ).fetchall()
    if not rows:
        return 0
    rows = [(i, own.strip(), p, t) for i, own, p, t in rows]
    # a reply's thread is its parent's, and a parent linked in this same run is in its own parent's
    parent = {i: p for i, _, p, _ in rows if p is not None}
    given = {i: t for i, _, p, t in rows if p is not None}

    def thread(item: str) -> str:
        seen = set()
        while parent.get(item) in parent and item not in seen:
            seen.add(item)
            item = parent[item]
        return given[item]

    rows = [(i, own, p, thread(i) if p is not None else t) for i, own, p, t in rows]
    stats = [text_stats(own) for _, own, _, _ in rows]
    raw.register(
        "_quote_fix",
        pa.table(
            {
                "item_id": [r[0] for r in rows],
                "text": [r[1] for r in rows],
                "parent_id": [r[2] for r in rows],
                "thread_id": [r[3] for r in rows],
                "n_words": pa.array([s[0] for s in stats], pa.int32()),
                "n_links": pa.array([s[1] for s in stats], pa.int32()),
            }
        ),
    )
    try:
        # the months of these messages, and of the messages they answer, read otherwise now
        changes.note_added(
            raw,
            "items",
            "SELECT community_id, created_at FROM _quoting WHERE item_id IN (SELECT item_id FROM _quote_fix) "
            "UNION ALL SELECT q.community_id, m.parent_at AS created_at FROM _quoted m JOIN _quoting q USING (item_id)",
        )
        raw.execute(
            "UPDATE items SET text = f.text, n_words = f.n_words, n_links = f.n_links, "
            "parent_id = coalesce(f.parent_id, items.parent_id), "
            "thread_id = coalesce(f.thread_id, items.thread_id), "
            "kind = CASE WHEN f.parent_id IS NOT NULL AND items.kind = 'post' THEN 'reply' ELSE items.kind END "
            "FROM _quote_fix f WHERE items.item_id = f.item_id"
        )
    finally:
        raw.unregister("_quote_fix")
    _carry_replies(raw, {i: t for i, _, p, t in rows if p is not None})
    return len(parent)


def _carry_replies(raw: Any, moved: dict[str, str]) -> None:
    """Replies the export gave a message now linked (a native reply to a relayed message) follow it into
    its thread, and their replies in turn; ``moved`` maps the messages moved to their threads."""
    fixed: dict[str, str] = {}
    while moved:
        rows = raw.execute(
            "SELECT item_id, parent_id, thread_id FROM items WHERE parent_id IN (SELECT unnest(?))",
            [list(moved)],
        ).fetchall()
        moved = {i: moved[p] for i, p, t in rows if t != moved[p] and i not in fixed}
        fixed.update(moved)
    if not fixed:
        return
    raw.register("_thread_fix", pa.table({"item_id": list(fixed), "thread_id": list(fixed.values())}))
    try:
        changes.note_added(raw, "items", "SELECT i.* FROM items i JOIN _thread_fix f USING (item_id)")
        raw.execute(
            "UPDATE items SET thread_id = f.thread_id FROM _thread_fix f WHERE items.item_id = f.item_id"
        )
    finally:
        raw.unregister("_thread_fix")
