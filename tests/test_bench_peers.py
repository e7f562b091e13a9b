"""The bench's peers (hand-written DuckDB SQL and pandas versions of the stage rules) do the same work as
``covalue analyze``: on the planted synthetic organisation they reproduce its stage mix cell for cell
and its member stages row for row, so the ratios ``make bench`` prints compare like with like."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import covalue
from covalue import journey, synth

# the benchmarks are a folder beside src/, not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
peer_sql = importlib.import_module("benchmarks.peer_sql")
peer_pandas = importlib.import_module("benchmarks.peer_pandas")
stage_mix_agreement = importlib.import_module("benchmarks.bench_analyze").stage_mix_agreement


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("peers") / "ws"
    ws = covalue.init(path)
    synth.generate(seed=7).write(ws)
    journey.analyze(ws)
    ws.close()
    return path / "covalue.duckdb"


@pytest.mark.parametrize("peer", [peer_sql, peer_pandas], ids=["sql", "pandas"])
def test_peer_reproduces_covalue(peer, analysed: Path, tmp_path: Path) -> None:
    rows = peer.run(analysed, tmp_path)
    assert rows["member_stages"] > 1000
    equal, total, worst = stage_mix_agreement(analysed, tmp_path / "stage_mix.parquet")
    assert total > 100
    assert (equal, worst) == (total, 0)

    con = duckdb.connect(str(analysed), read_only=True)
    ours = {
        (m, c, p): (s, pe)
        for m, c, p, s, pe in con.execute(
            "SELECT member_id, community_id, pidx, stage, persona FROM member_stages"
        ).fetchall()
    }
    con.close()
    theirs = {
        (r["member_id"], r["community_id"], r["pidx"]): (r["stage"], r["persona"])
        for r in pq.read_table(tmp_path / "member_stages.parquet").to_pylist()
    }
    assert theirs == ours
    # the planted organisation reaches every stage, so agreement is not agreement on nothing
    assert {s for s, _ in ours.values()} >= {"connect", "share", "solve", "innovate"}
    # and the journeys, leaves included, move by the same rules
    con = duckdb.connect(str(analysed), read_only=True)
    our_moves = set(con.execute("SELECT member_id, community_id, pidx, transition FROM journeys").fetchall())
    con.close()
    their_moves = {
        (r["member_id"], r["community_id"], r["pidx"], r["transition"])
        for r in pq.read_table(tmp_path / "journeys.parquet").to_pylist()
    }
    assert their_moves == our_moves
    assert {t for *_, t in our_moves} == {"new", "returned", "moved up", "stayed", "dropped", "left"}
