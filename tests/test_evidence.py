"""Evidence (example items per member, month and flag) is never stored: ``explain`` computes one
member's when asked, and :func:`covalue.journey.evidence` everyone's, by the same rules, so a member's
evidence reads the same whichever way it was computed."""

from __future__ import annotations

import pytest

import covalue
from covalue import journey, member_evidence, synth

COLS = ["member_id", "community_id", "period", "flag", "rank", "item_id"]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> covalue.Workspace:
    w = covalue.init(tmp_path_factory.mktemp("evidence") / "ws")
    synth.generate(seed=11).write(w)
    journey.analyze(w)
    yield w
    w.close()


def _evidence(w: covalue.Workspace) -> set[tuple]:
    rows = journey.evidence(w).select(*COLS).to_pyarrow().to_pylist()
    return {tuple(r[c] for c in COLS) for r in rows}


def test_evidence_is_not_stored_and_explain_computes_what_the_whole_table_holds(analysed) -> None:
    w = analysed
    assert not {"stage_evidence", "example_months"} & set(w.con.list_tables())
    full = _evidence(w)
    assert len(full) > 1000
    items = {r[0] for r in w.raw.execute("SELECT item_id FROM items").fetchall()}
    assert {e[5] for e in full} <= items  # every example is an item of the workspace
    # every flag's evidence is an item of the period's window, at most 3 per flag, ranked from 1
    per: dict[tuple, list[int]] = {}
    for e in full:
        per.setdefault(e[:4], []).append(e[4])
    assert all(sorted(r) == list(range(1, len(r) + 1)) and len(r) <= 3 for r in per.values())
    assert {e[3] for e in full} >= {"connect", "share", "solve"}

    # explain of several members, in a month of each flag: exactly their rows of the whole table
    picked = {}
    for e in sorted(full):
        picked.setdefault(e[3], e[:3])
    assert len(picked) >= 3
    member_evidence._KEPT.clear()
    for member, community, period in picked.values():
        out = journey.explain(w, member, community=community, period=period)
        got = {
            (member, community, period, flag, rank, item["item_id"])
            for c in out["communities"]
            for flag, found in c["evidence"].items()
            for rank, item in enumerate(found, start=1)
        }
        want = {e for e in full if e[:3] == (member, community, period)}
        assert got == want and want
    # compiled once, run for each member with their own rows
    assert len(member_evidence._KEPT) == 1
    # a member asked about in a community they have no month in has no evidence to show (the web's
    # people page of another community answers 404 from this)
    assert journey.explain(w, member, community="no-such-community")["communities"] == []
    # without a period, explain shows each community's default month, with its evidence
    member = picked["solve"][0]
    out = journey.explain(w, member)
    assert out["communities"] and any(c["evidence"] for c in out["communities"])


def test_connect_examples_ranked_from_one_month_equal_the_plain_ranking(analysed) -> None:
    """Connect's examples of a window: the first 3 items (by first touch) among its months' examples, an
    item touched in two of its months counted once. Windows whose earliest month holds 3 examples are
    ranked from that month alone; this recounts every window the plain way, by sorting, and compares."""
    import ibis

    from covalue.metrics import evidence
    from covalue.metrics.maturity import activity_range, member_activity, periods_table
    from covalue.metrics.windows import in_windows

    w = analysed
    maturity, _ = journey.load_models(w)
    days = int(maturity["window"]["days"])
    periods = ibis.memtable(periods_table(*activity_range(w.table("items"), w.table("actions")), days))
    roles = w.table("item_roles").drop("analysis_id")
    who = w.table("analysis_people").drop("analysis_id")
    activity = member_activity(roles, w.table("actions"), who, maturity)
    examples = evidence.example_months(activity, roles, maturity)

    ranked, rest = evidence._connect_evidence(examples, periods, days, 3)
    assert ranked.count().to_pyarrow().as_py() > 0 and rest.count().to_pyarrow().as_py() > 0  # both ways used

    cw = in_windows(examples.drop("month", "rank"), "ts", periods, days)
    cw = cw.group_by("member_id", "community_id", "period", "item_id").aggregate(ts=cw.ts.min())
    order = ibis.window(group_by=[cw.member_id, cw.community_id, cw.period], order_by=[cw.ts, cw.item_id])
    cw = cw.mutate(rank=ibis.row_number().over(order) + 1)
    plain = {
        (r["member_id"], r["community_id"], r["period"], "connect", r["rank"], r["item_id"])
        for r in cw.filter(cw.rank <= 3).drop("ts").to_pyarrow().to_pylist()
    }
    stored = {e for e in _evidence(w) if e[3] == "connect"}
    assert stored == plain and len(plain) > 1000


def test_a_workspace_analysed_before_loses_its_stored_evidence(tmp_path) -> None:
    """A workspace of an earlier version: its covalue.toml still sets ``evidence_months`` and it holds
    the evidence tables (a table, a view); it opens, and the next analysis drops what no run keeps up
    to date."""
    w = covalue.init(tmp_path / "ws")
    synth.generate(seed=3).write(w)
    w.raw.execute("CREATE TABLE stage_evidence (member_id VARCHAR, item_id VARCHAR)")
    # a Spark run of an earlier version left its tables as views over its Parquet
    w.raw.execute("CREATE VIEW example_months AS SELECT 'm' AS member_id, 'i' AS item_id")
    w.close()
    toml = tmp_path / "ws" / "covalue.toml"
    toml.write_text(toml.read_text().replace("[analysis]\n", "[analysis]\nevidence_months = 13\n"))
    w = covalue.open(tmp_path / "ws")
    journey.analyze(w)
    assert not {"stage_evidence", "example_months"} & set(w.con.list_tables())
    assert journey.has_results(w)
    w.close()
