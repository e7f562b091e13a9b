"""Whether shared contributions were taken up: an answer is taken up by a reaction, a vote or an
acceptance far more often than by a reply, so an export that holds none of those (a public Zulip
archive, a mailing list) shows the share of contributions with a response as "not measurable from this
export", never as a failing 0-10 %, and no coaching card blames the community for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

import covalue
from covalue import journey, models, synth
from covalue.cli import app
from covalue.commands import options
from covalue.metrics.stage_checks import UPTAKE
from covalue.report import coaching
from covalue.report.build import build
from covalue.update_check import differences as _differences
from covalue.update_check import updating_workspace as _updating

RESPONSE_VERBS = models.load("maturity")["interactions"]["response_verbs"]


def _uptake(c: dict[str, Any]) -> dict[str, Any]:
    return next(ch for ch in c["checks"] if ch["measure"] == UPTAKE)


def test_an_export_without_reactions_cannot_show_uptake(three_reports: dict[str, Any]) -> None:
    zulip = three_reports["ncar-zulip-archive"]
    ch = _uptake(zulip)
    assert ch["measurable"] is False and ch["value"] is None and ch["passed"] is None
    # the other Share measures still judge whether it is sharing
    share = [c for c in zulip["checks"] if c["stage"] == "share" and c["measure"] != UPTAKE]
    assert share and all(c["measurable"] is not False and c["value"] is not None for c in share)
    # no card asks the team to get information flowing because of what the export cannot show
    for card in coaching.next_steps(zulip):
        assert UPTAKE not in card["saw"], card["saw"]
    # Stack Exchange votes and Slack reactions show it
    for name in ("beer.stackexchange.com", "houstondatavis"):
        ch = _uptake(three_reports[name])
        assert ch["measurable"] is not False and ch["value"] is not None, name


def test_exports_with_and_without_response_verbs(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted in the workspace's actions: the Zulip archive holds mentions only; the measure is
    left out of every one of its months, and kept in every month of the Slack export."""
    ws = covalue.init(tmp_path / "ws")
    ws.ingest(
        [
            shared_data / "zulip" / "ncar-zulip-archive.tar.gz",
            shared_data / "slack" / "houstondatavis-slack-export.zip",
        ]
    )
    ws.analyze()
    verbs = dict(
        ws.raw.execute(
            "SELECT community_id, count(*) FILTER (WHERE verb IN (SELECT unnest(?))) FROM actions GROUP BY 1",
            [list(RESPONSE_VERBS)],
        ).fetchall()
    )
    assert verbs.get("ncar-zulip-archive", 0) == 0 and verbs["houstondatavis"] > 0
    rows = ws.raw.execute(
        "SELECT community_id, count(*), count(*) FILTER (WHERE measurable), count(value) "
        "FROM stage_checks WHERE measure = ? GROUP BY 1",
        [UPTAKE],
    ).fetchall()
    got = {r[0]: r[1:] for r in rows}
    n, measurable, valued = got["ncar-zulip-archive"]
    assert n > 60 and measurable == 0 and valued == 0
    n, measurable, valued = got["houstondatavis"]
    assert n > 10 and measurable == n
    # every output says why, in the same words
    why = "not measurable from this export: it holds no reaction, vote or acceptance"
    html = build(ws, tmp_path / "report.html").path.read_text()
    assert why in html
    ws.close()
    monkeypatch.setattr(options.console, "width", 250)  # one line per check, whatever the terminal
    out = CliRunner().invoke(
        app, ["stages", "-w", str(tmp_path / "ws"), "-c", "ncar-zulip-archive"], env={"COLUMNS": "250"}
    )
    assert out.exit_code == 0, out.output
    assert why in out.output


def test_the_first_reactions_reach_every_month(tmp_path: Path) -> None:
    """A synthetic organisation whose reactions, votes and acceptances all come in its last month:
    uploaded first without that month, no month can show uptake; with it, every month of the
    community can (the export now holds them), the older ones too, so the update runs in full and
    equals a full run."""
    org = synth.generate(seed=3)
    actions = org.tables["actions"]
    responds = pc.fill_null(pc.is_in(actions["verb"], pa.array(list(RESPONSE_VERBS))), False)
    last = pa.scalar(synth.month_starts("2025-01")[-2], pa.timestamp("us"))
    in_last = pc.fill_null(pc.greater_equal(actions["ts"], last), False)
    tables = dict(org.tables, actions=actions.filter(pc.or_(pc.invert(responds), in_last)))
    early, late = {}, {}
    for name, col in (("items", "created_at"), ("actions", "ts")):
        later = pc.fill_null(pc.greater_equal(tables[name][col], last), False)
        early[name], late[name] = tables[name].filter(pc.invert(later)), tables[name].filter(later)
    early = dict(tables, **early)

    inc = _updating(tmp_path / "inc")
    for name, tbl in early.items():
        if tbl.num_rows:
            inc.append(name, tbl)
    journey.analyze(inc)
    before = inc.raw.execute(
        "SELECT count(*) FILTER (WHERE measurable) FROM stage_checks WHERE measure = ?", [UPTAKE]
    )
    assert before.fetchone()[0] == 0
    for name, tbl in late.items():
        inc.append(name, tbl)
    run = journey.analyze(inc)
    assert run.mode.startswith("full: the ideas or reactions"), run.mode
    _equals_a_full_run(inc, tables, tmp_path / "full")
    after = inc.raw.execute("SELECT bool_and(measurable) FROM stage_checks WHERE measure = ?", [UPTAKE])
    assert after.fetchone()[0] is True
    inc.close()


def test_an_update_reads_the_uptake_of_a_community_new_to_the_checks(tmp_path: Path) -> None:
    """An update reads which communities show responses from the checks it keeps, plus its own rows.
    A community with no checks kept (until now only a bot acted there, and its reaction made no member
    stage) must still be read from all its rows: its people's first month shows uptake as measurable,
    as a full run does, although no response came with it."""
    org = synth.generate(seed=3)
    last = pa.scalar(synth.month_starts("2025-01")[-2], pa.timestamp("us"))
    bot = "m_00000000000000000b07"
    members = org.tables["members"]
    identities = org.tables["identities"]
    bot_member = {c: None for c in members.schema.names} | {
        "member_id": bot, "source": "synth:broadcast", "is_bot": True,
    }  # fmt: skip
    bot_identity = {c: None for c in identities.schema.names} | {
        "identity_id": bot, "member_id": bot, "source": "synth:broadcast", "native_id": "news-bot",
        "display_name": "News bot", "is_bot": True,
    }  # fmt: skip
    reaction = {c: None for c in org.tables["actions"].schema.names} | {
        "action_id": "synth:broadcast:bot-reaction", "source": "synth:broadcast",
        "community_id": "broadcast", "ts": synth.month_starts("2025-01")[2], "actor_id": bot, "verb": "react",
    }  # fmt: skip
    tables = dict(org.tables)
    tables["members"] = pa.concat_tables([members, pa.Table.from_pylist([bot_member], members.schema)])
    tables["identities"] = pa.concat_tables(
        [identities, pa.Table.from_pylist([bot_identity], identities.schema)]
    )
    early, late = {}, {}
    for name, col in (("items", "created_at"), ("actions", "ts")):
        tbl = tables[name]
        ours = pc.equal(tbl["community_id"], "broadcast")
        later = pc.fill_null(pc.greater_equal(tbl[col], last), False)
        keep = pc.or_(pc.invert(ours), later)  # the community's people arrive with the last month
        if name == "actions":  # ... without a reaction, a vote or an acceptance
            responds = pc.fill_null(pc.is_in(tbl["verb"], pa.array(list(RESPONSE_VERBS))), False)
            keep = pc.and_(keep, pc.invert(pc.and_(ours, responds)))
            tbl = tbl.filter(keep)
            tbl = pa.concat_tables([tbl, pa.Table.from_pylist([reaction], tbl.schema)])
        else:
            tbl = tbl.filter(keep)
        tables[name] = tbl
        later = pc.fill_null(pc.greater_equal(tbl[col], last), False)
        early[name], late[name] = tbl.filter(pc.invert(later)), tbl.filter(later)

    inc = _updating(tmp_path / "inc")
    for name, tbl in dict(tables, **early).items():
        if tbl.num_rows:
            inc.append(name, tbl)
    journey.analyze(inc)
    kept = inc.raw.execute("SELECT count(*) FROM stage_checks WHERE community_id = 'broadcast'")
    assert kept.fetchone()[0] == 0
    for name, tbl in late.items():
        inc.append(name, tbl)
    run = journey.analyze(inc)
    assert run.mode.startswith("incremental"), run.mode
    shown = inc.raw.execute(
        "SELECT count(*), bool_and(measurable) FROM stage_checks WHERE community_id = 'broadcast' AND measure = ?",
        [UPTAKE],
    ).fetchone()
    assert shown[0] > 0 and shown[1] is True
    _equals_a_full_run(inc, tables, tmp_path / "full")
    inc.close()


def _equals_a_full_run(inc: covalue.Workspace, tables: dict[str, pa.Table], path: Path) -> None:
    """``inc``'s derived tables are those of a full run over ``tables`` in a new workspace at ``path``."""
    full = covalue.init(path)
    for name, tbl in tables.items():
        if tbl.num_rows:
            full.append(name, tbl)
    journey.analyze(full)
    assert _differences(inc, full) == {}
    full.close()
