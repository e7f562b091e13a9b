"""``covalue import --parquet``: a lake written by ``covalue export --parquet`` read into another
workspace gives the same canonical rows and, analysed there, the same results; importing again adds
nothing, and what is not a lake is refused with its reason."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import covalue
from covalue.cli import app
from covalue.lake import export_parquet

HDV = "slack/houstondatavis-slack-export.zip"
TABLES = ("communities", "spaces", "members", "identities", "items", "actions")
RESULTS = ("item_roles", "member_stages", "stage_mix", "journeys")


def _rows(ws: covalue.Workspace, table: str, drop: tuple[str, ...] = ()) -> list[tuple]:
    cols = [c for c in ws.table(table).columns if c not in drop]
    listed = ", ".join(f'"{c}"' for c in cols)
    return sorted(ws.raw.execute(f'SELECT {listed} FROM "{table}"').fetchall(), key=repr)


def test_a_lake_imported_elsewhere_gives_the_same_rows_and_results(shared_data: Path, tmp_path: Path) -> None:
    a = covalue.init(tmp_path / "a")
    a.ingest([shared_data / HDV])
    a.analyze()
    export_parquet(a, tmp_path / "lake")
    covalue.init(tmp_path / "b").close()
    runner = CliRunner()
    r = runner.invoke(
        app, ["import", "--parquet", str(tmp_path / "lake"), "-w", str(tmp_path / "b"), "--json"]
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    held = {t: int(a.raw.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in TABLES}
    assert got["read"] == got["added"] == held and held["items"] == 1031
    b = covalue.open(tmp_path / "b")
    # the columns that can name a person were never exported, so they stay empty here
    left_out = ("native_id", "display_name", "email_hash")
    assert b.raw.execute("SELECT count(*) FROM identities WHERE display_name IS NOT NULL").fetchone() == (0,)
    for t in TABLES:
        assert _rows(b, t, left_out) == _rows(a, t, left_out), t
    b.analyze()
    for t in RESULTS:
        assert _rows(b, t, ("analysis_id",)) == _rows(a, t, ("analysis_id",)), t
    b.close()
    a.close()

    again = runner.invoke(
        app, ["import", "--parquet", str(tmp_path / "lake"), "-w", str(tmp_path / "b"), "--json"]
    )
    assert again.exit_code == 0 and set(json.loads(again.output)["added"].values()) == {0}
    (tmp_path / "empty").mkdir()
    refused = runner.invoke(app, ["import", "--parquet", str(tmp_path / "empty"), "-w", str(tmp_path / "b")])
    assert refused.exit_code == 2 and "holds no covalue export" in refused.output
