"""The chat messages around the items an update touches (covalue.touched.chat_near) are exactly those a
pairing of every two messages of a channel finds, in either direction and with either side naming
someone, while the work stays linear in the channel's messages; the messages next to them
(chat_adjacent) are those an ordering of each channel finds."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from covalue.touched import chat_adjacent, chat_near, chat_sources

CHAT = "regexp_extract(i.source, '^([^:]+)', 1) IN ('slack')"
#: the same items, picked by the chat sources an update finds once (chat_sources)
BY_SOURCE = "i.source IN (SELECT source FROM _inc_chat_sources)"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """Three busy channels over three days, a forum mixed in, items without a channel or a time, a
    third of the items touched and a fifth naming someone; seconds apart, so that ties and exact
    boundaries occur."""
    rng = np.random.default_rng(5)
    n = 900
    start = datetime(2025, 3, 1)
    seconds = rng.integers(0, 3 * 24 * 3600, n) // 60 * 60
    rows = {
        "item_id": [f"i{k}" for k in range(n)],
        "source": rng.choice(["slack:acme", "slack:acme", "stackexchange:site"], n).tolist(),
        "space_id": [None if k % 97 == 0 else f"c{c}" for k, c in enumerate(rng.integers(0, 3, n))],
        "created_at": [
            None if k % 89 == 0 else start + timedelta(seconds=int(s)) for k, s in enumerate(seconds)
        ],
        # a tenth are replies (chat_adjacent reads which messages have no parent)
        "parent_id": [f"i{k - 1}" if k % 10 == 0 else None for k in range(n)],
    }
    c = duckdb.connect()
    c.register("_items", pa.table(rows))
    c.execute("CREATE TABLE items AS SELECT * FROM _items")
    c.execute("CREATE TABLE touched AS SELECT item_id FROM items USING SAMPLE 33 PERCENT (bernoulli, 7)")
    c.execute("INSERT INTO touched SELECT item_id FROM touched LIMIT 20")  # duplicates, as inserts leave
    # as an update's touched items mostly are: the last hours, and two older items of one channel
    c.execute(
        "CREATE TABLE touched_late AS SELECT item_id FROM items WHERE created_at >= TIMESTAMP '2025-03-03 18:00' "
        "UNION ALL (SELECT item_id FROM items WHERE space_id = 'c1' AND created_at < TIMESTAMP '2025-03-02' "
        "ORDER BY created_at LIMIT 2)"
    )
    c.execute("CREATE TABLE _inc_named AS SELECT item_id FROM items USING SAMPLE 20 PERCENT (bernoulli, 11)")
    assert chat_sources(c, CHAT) == BY_SOURCE
    return c


def _pairs(of: str, secs: int, before: bool, after: bool, naming: str | None) -> str:
    lo = f"o.created_at - INTERVAL {secs} SECOND" if before else "o.created_at"
    hi = f"o.created_at + INTERVAL {secs} SECOND" if after else "o.created_at"
    keep = f"AND {naming}.item_id IN (SELECT item_id FROM _inc_named)" if naming else ""
    return (
        "SELECT n.item_id FROM items o JOIN items n ON n.space_id = o.space_id "
        f"AND n.created_at BETWEEN {lo} AND {hi} WHERE o.item_id IN (SELECT item_id FROM {of}) "
        f"AND {CHAT.replace('i.', 'o.')} AND {CHAT.replace('i.', 'n.')} {keep}"
    )


@pytest.mark.parametrize("chat", [CHAT, BY_SOURCE])
@pytest.mark.parametrize("of", ["touched", "touched_late"])
@pytest.mark.parametrize("secs", [60, 3600, 12 * 3600])
@pytest.mark.parametrize(
    ("before", "after", "naming"),
    [(True, True, None), (False, True, "n"), (True, False, "o"), (False, True, None), (True, False, None)],
)
def test_chat_near_finds_what_pairing_every_two_messages_finds(
    con: duckdb.DuckDBPyConnection,
    chat: str,
    of: str,
    secs: int,
    before: bool,
    after: bool,
    naming: str | None,
) -> None:
    found = con.execute(chat_near(chat, of, secs, before=before, after=after, naming=naming)).fetchall()
    got = {r[0] for r in found}
    want = {r[0] for r in con.execute(_pairs(of, secs, before, after, naming)).fetchall()}
    assert want  # the case finds something
    assert got == want


def test_nothing_within_zero_seconds(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute(chat_near(CHAT, "touched", 0)).fetchall() == []


def _neighbours(
    con: duckdb.DuckDBPyConnection, of: str, secs: int
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per touched chat item: the chat items of its channel at the latest time before it (when it has no
    parent), and the items without a parent at the earliest time after it, within ``secs``; all of
    them where several share that time."""
    c = CHAT.replace("i.", "{t}.")
    base = (
        "SELECT o.item_id AS o, n.item_id AS n, n.created_at AS t, o.created_at AS ot FROM items o JOIN items n "
        f"ON n.space_id = o.space_id WHERE o.item_id IN (SELECT item_id FROM {of}) AND {c.format(t='o')} "
        f"AND {c.format(t='n')}"
    )
    before = (
        f"SELECT o, n FROM ({base}) WHERE t < ot AND t >= ot - INTERVAL {secs} SECOND AND o IN "
        "(SELECT item_id FROM items WHERE parent_id IS NULL) QUALIFY t = max(t) OVER (PARTITION BY o)"
    )
    after = (
        f"SELECT o, n FROM ({base}) WHERE t > ot AND t <= ot + INTERVAL {secs} SECOND AND n IN "
        "(SELECT item_id FROM items WHERE parent_id IS NULL) QUALIFY t = min(t) OVER (PARTITION BY o)"
    )
    out: tuple[dict[str, set[str]], dict[str, set[str]]] = ({}, {})
    for side, q in zip(out, (before, after), strict=True):
        for o, n in con.execute(q).fetchall():
            side.setdefault(o, set()).add(n)
    return out


@pytest.mark.parametrize("of", ["touched", "touched_late"])
@pytest.mark.parametrize("secs", [3600, 72 * 3600])
def test_chat_adjacent_finds_the_message_just_before_and_just_after(
    con: duckdb.DuckDBPyConnection, of: str, secs: int
) -> None:
    before, after = _neighbours(con, of, secs)
    assert before and after
    for with_after in (True, False):
        got = {r[0] for r in con.execute(chat_adjacent(CHAT, of, secs, after=with_after)).fetchall()}
        sides = (before, after) if with_after else (before,)
        # one of each touched item's neighbours, and nothing else (of several at one time, any one)
        assert all(ns & got for side in sides for ns in side.values())
        assert got <= {n for side in sides for ns in side.values() for n in ns}
    assert con.execute(chat_adjacent(CHAT, of, 0)).fetchall() == []
