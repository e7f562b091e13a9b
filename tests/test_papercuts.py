"""Small things a person trips over: counts with their nouns in the right number, and ``covalue
explain`` taking the label the report prints for a member."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
import maturity_fixtures as mf
from covalue.presentation import environment, plural


def test_plural_says_one_person_and_many_people() -> None:
    assert [plural(1, "person"), plural(2, "person"), plural(0, "newcomer"), plural(1, "newcomer")] == [
        "1 person",
        "2 people",
        "0 newcomers",
        "1 newcomer",
    ]
    assert plural(1204, "member") == "1,204 members"
    assert plural(1, "story") == "1 story" and plural(3, "story") == "3 stories"
    assert plural(None, "person") == "– people"
    env = environment("covalue.report")
    assert env.from_string("{{ n|plural('person') }}").render(n=1) == "1 person"


@pytest.fixture
def club(ws):
    mf.load(ws)
    ws.analyze()
    return ws


def test_explain_takes_the_label_the_report_prints(club) -> None:
    from covalue.cli import app

    w = str(club.path)
    club.close()
    r = CliRunner()
    # the report labels m_erin "Member erin"; the person copies either the label or its tail
    for given in ("Member erin", "member erin", "erin", mf.mid("erin")):
        res = r.invoke(app, ["explain", given, "-w", w, "--period", "2025-03"])
        assert res.exit_code == 0, (given, res.output)
        assert "Innovate" in res.output
    res = r.invoke(app, ["explain", "Member nobody", "-w", w])
    assert res.exit_code == 1 and "no member 'Member nobody'" in res.output


def test_stage_bars_put_innovate_on_top_as_the_sankey_does() -> None:
    from covalue.report import charts
    from covalue.report.charts.journey import _sankey_positions

    c = {"id": "x", "name": "X", "period": "2025-06", "window_days": 90, "checks": []}
    c["mix"] = {"active": 10, "connect": 4, "share": 3, "solve": 2, "innovate": 1}
    lay = charts.mix_now(c)["figure"]["layout"]
    # Plotly draws a category axis from the bottom up: the last category is the top bar
    assert lay["yaxis"].get("autorange") != "reversed"
    assert lay["yaxis"]["categoryarray"][-1] == "Innovate"
    assert lay["yaxis"]["categoryarray"][0] == "Connect"
    # the Sankey's node positions (0 is the top): Innovate above Observer, on both sides
    n_st = 5
    src, tgt, val = [1, 5, 3], [6, 10, 8], [4, 2, 3]  # left 1..5 and right 6..10: Observer..Innovate
    _, ys = _sankey_positions(src, tgt, val, n_st + 1, 2 * (n_st + 1))
    assert ys[5] < ys[1] and ys[10] < ys[6]


@pytest.mark.parametrize(
    ("largest", "ticks"),
    [(111, [0, 20, 40, 60, 80, 100, 120]), (48, [0, 10, 20, 30, 40, 50]), (7.3, [0, 2, 4, 6, 8])],
)
def test_the_hour_axis_ticks_at_round_numbers(largest: float, ticks: list[int]) -> None:
    from covalue.report import charts

    c = {"id": "x", "name": "X"}
    c["response_monthly"] = [
        {"month": "2025-0" + str(i), "threads": 10, "responded": 8, "rate": 0.8, "median_h": h}
        for i, h in enumerate([largest / 3, largest, largest / 2], start=1)
    ]
    y2 = charts.responsiveness(c)["figure"]["layout"]["yaxis2"]
    lo, hi = y2["range"]
    got = [round(lo + k * y2["dtick"], 6) for k in range(round((hi - lo) / y2["dtick"]) + 1)]
    assert got == ticks and "nticks" not in y2
    assert 37 not in got and 74 not in got


def test_a_workspace_named_as_an_export_is_pointed_out_and_nothing_is_read(tmp_path, monkeypatch) -> None:
    """``covalue ingest WORKSPACE EXPORT`` (forgetting ``-w``) would read the export into the default
    workspace: it stops before reading anything and says how to name the workspace."""
    import covalue
    from covalue.cli import app

    target = tmp_path / "ours"
    covalue.init(target).close()
    monkeypatch.chdir(tmp_path)  # where the default workspace would be made
    monkeypatch.delenv("COVALUE_WORKSPACE", raising=False)
    export = Path(__file__).parent / "data" / "mini" / "slack"
    res = CliRunner().invoke(app, ["ingest", str(target), str(export)])
    assert res.exit_code == 2
    assert "is a covalue workspace, not an export" in res.output
    assert f"covalue ingest -w {target}" in " ".join(res.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours"]  # no default workspace made
    ws = covalue.open(target)
    # through the API the folder is a reject with the same reason, and the export is read
    got = ws.ingest([target, export])
    assert got[0].status == "failed" and "is a covalue workspace, not an export" in got[0].messages[0]
    assert got[1].status != "failed" and got[1].added["items"] > 0
    ws.close()
    # the command names the workspace it read into
    res = CliRunner().invoke(app, ["ingest", "-w", str(target), str(export)])
    assert res.exit_code == 0 and f"Workspace {target}" in " ".join(res.output.split())
