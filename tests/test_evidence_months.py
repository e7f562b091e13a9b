"""Evidence (example items per member, month and flag) is stored for the months that are shown, each
community's last ``analysis.evidence_months``; ``explain`` of an older month computes it on demand, by
the same rules, so it reads exactly as a full run would have stored it."""

from __future__ import annotations

from pathlib import Path

import covalue
from covalue import journey, synth

COLS = ["member_id", "community_id", "period", "flag", "rank", "item_id"]


def _evidence(w: covalue.Workspace) -> set[tuple]:
    rows = w.table("stage_evidence").select(*COLS).to_pyarrow().to_pylist()
    return {tuple(r[c] for c in COLS) for r in rows}


def test_evidence_for_the_shown_months_and_older_ones_on_demand(tmp_path: Path) -> None:
    w = covalue.init(tmp_path / "ws")
    synth.generate(seed=11).write(w)
    journey.analyze(w)  # 13 months by default: the synthetic year is all shown
    full = _evidence(w)
    last = {}
    for r in w.table("member_stages").select("community_id", "pidx").to_pyarrow().to_pylist():
        last[r["community_id"]] = max(last.get(r["community_id"], 0), r["pidx"])
    w.close()

    toml = tmp_path / "ws" / "covalue.toml"
    toml.write_text(toml.read_text().replace("evidence_months = 13", "evidence_months = 3"))
    w = covalue.open(tmp_path / "ws")
    journey.analyze(w)
    kept = _evidence(w)
    from covalue.metrics.windows import period_index

    shown = {e for e in full if period_index(e[2]) > last[e[1]] - 3}
    assert kept == shown
    assert len(shown) < len(full) / 2  # most of the year is left out

    # explain of an older month: the member's evidence is computed, equal to what a full run stored
    older = sorted(e for e in full - shown if e[3] in ("share", "solve"))
    assert older
    member, community, period = older[0][:3]
    out = journey.explain(w, member, community=community, period=period)
    got = {
        (member, community, period, flag, rank, item["item_id"])
        for c in out["communities"]
        for flag, items in c["evidence"].items()
        for rank, item in enumerate(items, start=1)
    }
    want = {e for e in full if e[:3] == (member, community, period)}
    assert got == want and len({e[3] for e in want}) >= 2
    # a shown month reads the stored rows
    recent = sorted(shown)[0]
    out = journey.explain(w, recent[0], community=recent[1], period=recent[2])
    assert out["communities"][0]["evidence"]
    w.close()


def test_connect_examples_ranked_from_one_month_equal_the_plain_ranking(tmp_path: Path) -> None:
    """Connect's examples of a window: the first 3 items (by first touch) among its months' examples, an
    item touched in two of its months counted once. Windows whose earliest month holds 3 examples are
    ranked from that month alone; this recounts every window the plain way, by sorting, and compares."""
    import ibis

    from covalue.metrics import evidence
    from covalue.metrics.maturity import activity_range, periods_table
    from covalue.metrics.windows import in_windows

    w = covalue.init(tmp_path / "ws")
    synth.generate(seed=11).write(w)
    journey.analyze(w)
    maturity, _ = journey.load_models(w)
    days = int(maturity["window"]["days"])
    periods = ibis.memtable(periods_table(*activity_range(w.table("items"), w.table("actions")), days))
    examples = w.table("example_months").drop("analysis_id")

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
    w.close()
