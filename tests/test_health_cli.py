"""``covalue health``, ``dynamics``, ``champions`` and ``resonance`` on the houstondatavis Slack export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import covalue
from covalue import journey
from covalue.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def slack_ws(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("slack") / "ws"
    w = covalue.init(path)
    [res] = w.ingest([shared_data / "slack" / "houstondatavis-slack-export.zip"])
    assert res.status == "ok"
    journey.analyze(w)
    w.close()
    return str(path)


def _json(args: list[str]) -> dict:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_health_json_has_shape_network_and_unanswered(slack_ws: str) -> None:
    out = _json(["health", "-w", slack_ws, "--json"])
    [(_cid, h)] = out.items()
    assert h["period"] == "2016-07" and h["window_days"] == 90
    assert h["shape"]["shape"] in {"community", "single voice", "broadcast", "workgroup", "dormant"}
    assert h["shape"]["explanation"].startswith(h["shape"]["shape"].capitalize())
    net = h["network"]
    assert net["n_members"] >= net["core_size"] >= 5 and net["n_edges"] > 0
    assert net["method"].startswith("Exact betweenness") and net["reach"] is None  # no HR units in Slack
    # this export has no threads: answers are replies inferred from who spoke next in the channel,
    # so some questions of the window are answered and others are still open
    r = h["responsiveness"]
    assert 0 < r["answered"] < r["questions"] and h["unanswered"]


def test_health_text_and_bad_period(slack_ws: str) -> None:
    res = runner.invoke(app, ["health", "-w", slack_ws])
    assert res.exit_code == 0 and "houstondatavis" in res.output and "Network:" in res.output
    res = runner.invoke(app, ["health", "-w", slack_ws, "--period", "2016-13"])
    assert res.exit_code == 2 and "--period" in res.output
    res = runner.invoke(app, ["champions", "-w", slack_ws, "-c", "no-such-community"])
    assert res.exit_code == 1


def test_champions_json_and_text(slack_ws: str) -> None:
    out = _json(["champions", "-w", slack_ws, "--json", "--limit", "3"])
    [(_cid, rows)] = out.items()
    assert len(rows) == 3 and [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    assert all(r["label"].startswith("Member ") for r in rows)  # pseudonyms by default
    assert all("2016-07" in r["evidence"] and r["evidence"].endswith(".") for r in rows)
    res = runner.invoke(app, ["champions", "-w", slack_ws, "--limit", "2"])
    assert res.exit_code == 0 and rows[0]["label"] in res.output


def test_champions_show_names_when_the_workspace_allows(slack_ws: str) -> None:
    w = covalue.open(slack_ws)
    from covalue import diagnosis

    named = diagnosis.champions(w, limit=3)
    w.settings.privacy.show_names = True
    try:
        shown = diagnosis.champions(w, limit=3)
    finally:
        w.settings.privacy.show_names = False
        w.close()
    [cid] = named
    assert [r["member_id"] for r in named[cid]] == [r["member_id"] for r in shown[cid]]
    assert all(not r["label"].startswith("Member ") for r in shown[cid])


def test_dynamics_json_and_text(slack_ws: str) -> None:
    out = _json(["dynamics", "-w", slack_ws, "--json"])
    [(_cid, d)] = out.items()
    assert [m["month"] for m in d["monthly"]][:2] == ["2015-06", "2015-07"]
    assert d["monthly"][-1]["month"] == "2016-07"
    assert d["growth"]["verdict"] in {"growing", "holding", "shrinking", "too little data"}
    res = runner.invoke(app, ["dynamics", "-w", slack_ws, "--months", "3"])
    rows = re.findall(r"^\s*(\d{4}-\d{2})\s+\d", res.output, re.M)  # the table's month rows
    assert res.exit_code == 0 and rows == ["2016-05", "2016-06", "2016-07"]
    # 2016-05 (104 acts, no newcomer) was once called a spike: the workspace's real growth is no campaign
    assert not re.search(r"^\s*spike ", res.output, re.M)
    assert "houstondatavis: growing" in res.output


def test_resonance_json_and_text(slack_ws: str) -> None:
    out = _json(["resonance", "-w", slack_ws, "--json", "--top", "3"])
    [(_cid, r)] = out.items()
    assert r["top_viewed"] == [] and r["events"] == []  # Slack exports carry neither views nor events
    assert len(r["top_reacted"]) == 3 and r["top_reacted"][0]["n"] >= r["top_reacted"][2]["n"]
    assert r["question_themes"] and r["unanswered_themes"]
    assert all("@U" not in t for th in r["question_themes"] for t in th["terms"])
    res = runner.invoke(app, ["resonance", "-w", slack_ws])
    assert res.exit_code == 0 and "Most reacted" in res.output and "Question themes" in res.output
