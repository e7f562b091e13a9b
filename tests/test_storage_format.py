"""The workspace file's storage format: a new workspace is written in covalue's (STORAGE_VERSION), one in
DuckDB's older default keeps working, `covalue analyze` says so, and `covalue compact` rewrites it in the
new format with every row kept and the analysis unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from typer.testing import CliRunner

import covalue
from covalue import journey
from covalue.cli import app
from covalue.dbfile import STORAGE_VERSION, outdated, version
from covalue.workspace import DB_FILE

HDV = "slack/houstondatavis-slack-export.zip"


def _counts(ws: covalue.Workspace) -> dict[str, int]:
    tables = [t for t in ws.con.list_tables() if not t.startswith("_")]
    return {t: ws.raw.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _in_old_format(path: Path) -> None:
    """Rewrite the workspace file in DuckDB's default format for 0.10 readers, as covalue made them."""
    db = path / DB_FILE
    old = path / "old.duckdb"
    con = duckdb.connect()
    con.execute(f"ATTACH '{db}' AS cur")
    con.execute(f"ATTACH '{old}' AS old (STORAGE_VERSION 'v0.10.2')")
    con.execute("COPY FROM DATABASE cur TO old")
    con.close()
    old.replace(db)


def test_a_new_workspace_is_in_covalues_format(tmp_path: Path) -> None:
    ws = covalue.init(tmp_path / "ws")
    assert version(ws.raw) == STORAGE_VERSION
    assert not outdated(ws.raw)
    ws.close()
    # reopened without asking for a format, it keeps its own
    assert version(covalue.open(tmp_path / "ws").raw) == STORAGE_VERSION


def test_compact_upgrades_an_old_workspace_and_keeps_every_row(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "ws"
    ws = covalue.init(path)
    assert ws.ingest([shared_data / HDV])[0].status == "ok"
    journey.analyze(ws)
    stages = ws.raw.execute(
        "SELECT member_id, community_id, pidx, stage, persona FROM member_stages ORDER BY ALL"
    ).fetchall()
    ws.close()
    _in_old_format(path)

    ws = covalue.open(path)
    assert version(ws.raw) == "v1.0.0" and outdated(ws.raw)
    ws.close()
    runner = CliRunner()
    out = runner.invoke(app, ["analyze", "-w", str(path), "--full"])
    assert out.exit_code == 0, out.output
    assert "covalue compact" in out.output  # the one line that says what to do
    ws = covalue.open(path)
    before = _counts(ws)
    ws.close()

    out = runner.invoke(app, ["compact", "-w", str(path), "--json"])
    assert out.exit_code == 0, out.output
    done = json.loads(out.output)
    assert done["format_before"] == "v1.0.0" and done["format_after"] == STORAGE_VERSION
    assert 0 < done["bytes_after"] < done["bytes_before"]  # the space of replaced rows is given back

    ws = covalue.open(path)
    assert version(ws.raw) == STORAGE_VERSION and not outdated(ws.raw)
    assert _counts(ws) == before
    ws.close()
    out = runner.invoke(app, ["analyze", "-w", str(path), "--full"])
    assert out.exit_code == 0, out.output
    assert "covalue compact" not in out.output
    ws = covalue.open(path)
    again = ws.raw.execute(
        "SELECT member_id, community_id, pidx, stage, persona FROM member_stages ORDER BY ALL"
    ).fetchall()
    assert again == stages and len(stages) > 100
