"""The chat messages around the items an update touches (covalue.touched.chat_near) are exactly those a
pairing of every two messages of a channel finds, in either direction and with either side naming
someone, while the work stays linear in the channel's messages."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from covalue.touched import chat_near, chat_sources

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
