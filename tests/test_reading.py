"""One reading of a workspace (covalue.reading): inside a block, where each community's data ends is
read once for a whole report; outside one, every call reads the workspace as it is now."""

from __future__ import annotations

from datetime import datetime

import pytest

from covalue import diagnosis, journey, reading
from covalue.metrics import dynamics
from covalue.report import facts


@pytest.fixture
def ws(crafts_and_makers):
    journey.analyze(crafts_and_makers)
    return crafts_and_makers


@pytest.fixture
def scans(count_calls) -> list[int]:
    """Counts the scans of every event that find each community's last month."""
    return count_calls(dynamics, "last_month")


def test_a_report_reads_where_the_data_ends_once(ws, scans):
    alone = diagnosis.health(ws), diagnosis.dynamics_of(ws), diagnosis.network(ws)
    assert len(scans) >= 3  # each section asked on its own
    scans.clear()
    with reading.block():
        shared = diagnosis.health(ws), diagnosis.dynamics_of(ws), diagnosis.network(ws)
    assert len(scans) == 1
    assert shared == alone  # the same answers, read once
    scans.clear()
    gathered = facts.gather(ws)
    assert len(scans) == 1
    assert sorted(c["id"] for c in gathered["communities"]) == sorted(alone[0])


def test_a_block_keeps_answers_per_question_and_outside_one_nothing_is_kept(ws, scans):
    with reading.block():
        everyone = diagnosis.last_months(ws)
        one = diagnosis.last_months(ws, "crafts")
        assert diagnosis.last_months(ws) is everyone
        assert diagnosis.last_months(ws, "crafts") is one
        with reading.block():  # a block inside another shares its answers
            assert diagnosis.last_months(ws) is everyone
    assert len(scans) == 2
    diagnosis.last_months(ws)
    diagnosis.last_months(ws)
    assert len(scans) == 4


def test_rows_added_after_a_block_are_read_by_the_next(ws):
    with reading.block():
        before = diagnosis.last_months(ws)
    cid = sorted(before)[0]
    # a member of the community reacts again, years after the export's last month
    actor = ws.raw.execute(
        "SELECT author_id FROM items WHERE community_id = ? AND author_id IS NOT NULL LIMIT 1", [cid]
    ).fetchone()[0]
    later = datetime(2031, 3, 14, 12, 0)
    row = {"action_id": "later-1", "community_id": cid, "actor_id": actor, "verb": "react", "ts": later}
    assert ws.append("actions", [{**row, "source": "test:later"}]) == 1
    with reading.block():
        after = diagnosis.last_months(ws)
    assert after[cid].month == "2031-03" != before[cid].month
