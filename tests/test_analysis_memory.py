"""DuckDB's memory follows the machine: a share of its memory unless covalue.toml sets a limit, spilling
into the workspace, and a run that still does not fit says so in one line naming the setting."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import covalue
from covalue import compiled, journey, synth
from covalue.memory import DEFAULT_MEMORY_CEILING, machine_memory, size_bytes


def _settings(ws_path: Path, lines: str) -> None:
    toml = ws_path / "covalue.toml"
    toml.write_text(toml.read_text().replace("window_days = 90", "window_days = 90\n" + lines))


def _duckdb_bytes(w: covalue.Workspace) -> int:
    return size_bytes(w.raw.execute("SELECT current_setting('memory_limit')").fetchone()[0])


def test_default_limit_is_a_share_of_the_machine_up_to_a_ceiling(tmp_path: Path) -> None:
    w = covalue.init(tmp_path / "ws")
    half = min(machine_memory() * 0.5, DEFAULT_MEMORY_CEILING)
    assert abs(w.memory_limit_bytes() - half) < 2**20
    assert abs(_duckdb_bytes(w) - half) < 2**30 / 10  # DuckDB shows one decimal of its unit, cut
    w.close()
    # memory_share sets the share (the toml already names the key with its default), within the ceiling
    toml = tmp_path / "ws" / "covalue.toml"
    toml.write_text(toml.read_text().replace("memory_share = 0.5", "memory_share = 0.05"))
    w = covalue.open(tmp_path / "ws")
    share = min(machine_memory() * 0.05, DEFAULT_MEMORY_CEILING)
    assert abs(_duckdb_bytes(w) - share) < 2**30 / 10
    w.close()


def test_the_default_cap_grows_with_the_rows_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the ceiling the cap follows the items and actions held, and an analysis on a workspace
    opened while it was empty sets it again for what an ingest added. (The bytes per row are raised
    so that a small organisation crosses the ceiling; at 50 bytes it takes 60 M rows.)"""
    import covalue.memory as cw

    w = covalue.init(tmp_path / "ws")
    assert abs(_duckdb_bytes(w) - min(machine_memory() * 0.5, DEFAULT_MEMORY_CEILING)) < 2**30 / 10
    synth.generate(seed=3).write(w)
    rows = sum(w.raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("items", "actions"))
    per_row = (DEFAULT_MEMORY_CEILING + 2 * 10**9) // rows  # the rows ask for 5 GB
    monkeypatch.setattr(cw, "MEMORY_PER_ROW", per_row)
    want = min(machine_memory() * 0.5, per_row * rows)
    assert want > DEFAULT_MEMORY_CEILING or machine_memory() * 0.5 <= DEFAULT_MEMORY_CEILING
    assert abs(w.memory_limit_bytes() - want) < 2**20
    journey.analyze(w)
    assert abs(_duckdb_bytes(w) - want) < 2**30 / 10  # the analysis set it for the rows held now
    w.close()


def test_a_cap_the_server_chose_outlasts_its_analyses(tmp_path: Path) -> None:
    """``covalue serve`` holds DuckDB to ``[web] memory_limit`` (web/site.py sets ``memory_cap``): an
    analysis on the workspace, or on a cursor of it (the server's writer), keeps to that cap."""
    w = covalue.init(tmp_path / "ws")
    synth.generate(seed=3).write(w)
    w.memory_cap = "700MB"
    w.raw.execute("SET memory_limit = '700MB'")
    journey.analyze(w.cursor())
    assert _duckdb_bytes(w) == size_bytes("667.5 MiB") and w.memory_limit_bytes() == 700 * 10**6
    w.close()


def test_a_set_limit_wins_and_spills_inside_the_workspace(tmp_path: Path) -> None:
    w = covalue.init(tmp_path / "ws")
    assert w.raw.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(
        tmp_path / "ws" / "spill"
    )
    w.close()
    _settings(tmp_path / "ws", 'memory_limit = "700MB"\nspill_dir = "scratch"')
    w = covalue.open(tmp_path / "ws")
    assert w.memory_limit_bytes() == 700 * 10**6
    assert abs(_duckdb_bytes(w) - 700 * 10**6) / (700 * 10**6) < 0.03
    assert w.raw.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(
        tmp_path / "ws" / "scratch"
    )
    w.close()


@pytest.mark.parametrize(("text", "n"), [("12GB", 12 * 10**9), ("1.5 GiB", 3 * 2**29), ("700MB", 7 * 10**8)])
def test_sizes_read_as_duckdb_reads_them(text: str, n: int) -> None:
    assert size_bytes(text) == n


def test_running_out_of_memory_says_so_in_one_line(tmp_path: Path) -> None:
    w = covalue.init(tmp_path / "ws")
    synth.generate(seed=11).write(w)
    w.close()
    _settings(tmp_path / "ws", 'memory_limit = "30MB"')
    w = covalue.open(tmp_path / "ws")
    with pytest.raises(journey.AnalysisOutOfMemory) as info:
        journey.analyze(w)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("covalue analyze ran out of memory while computing ")
    assert "DuckDB may use 30MB" in msg and 'memory_limit = "60MB"' in msg
    assert str(tmp_path / "ws" / "covalue.toml") in msg
    # the same inside a transaction (the web app analyses an upload in one): the failed transaction
    # does not hide what it failed on
    with pytest.raises(journey.AnalysisOutOfMemory), w.transaction():
        journey.analyze(w)
    w.close()
    # the command line prints that line alone, without a traceback, and exits 3
    from typer.testing import CliRunner

    from covalue.cli import app

    out = CliRunner().invoke(app, ["analyze", "-w", str(tmp_path / "ws")])
    assert out.exit_code == 3, out.output
    assert "ran out of memory while computing" in out.output and "Traceback" not in out.output
    # with the limit raised as the line says, the same analysis finishes
    toml = tmp_path / "ws" / "covalue.toml"
    toml.write_text(toml.read_text().replace('memory_limit = "30MB"', 'memory_limit = "1GB"'))
    w = covalue.open(tmp_path / "ws")
    assert journey.analyze(w).rows["member_stages"] > 0
    w.close()


def test_a_run_that_does_not_fit_on_every_thread_runs_again_on_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each thread holds its own hash tables and sort runs at once, so a run out of memory on two
    threads runs again on one (the Komodo archive's 704,597 messages under the web app's 1 GB cap: out
    of memory on two, 24 s on one), and DuckDB has as many threads as before after it. Inside a
    caller's transaction the failure has aborted it: the caller runs it again
    (``journey.in_one_transaction``, as the web app's uploads and canvas analyses do)."""
    w = covalue.init(tmp_path / "ws")
    synth.generate(seed=11).write(w)
    w.raw.execute("SET threads = 2")
    seen: list[int] = []
    real = journey._analyze

    def tight(ws: covalue.Workspace, *args: object, **kwargs: object) -> journey.AnalysisResult:
        seen.append(compiled.threads(ws.raw))
        if seen[-1] > 1:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256 KiB")
        return real(ws, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(journey, "_analyze", tight)
    assert journey.analyze(w).rows["member_stages"] > 0
    assert seen == [2, 1] and compiled.threads(w.raw) == 2

    seen.clear()
    with pytest.raises(journey.AnalysisOutOfMemory), w.transaction():
        journey.analyze(w, full=True)
    assert seen == [2] and compiled.threads(w.raw) == 2

    seen.clear()
    told: list[str] = []
    run = journey.in_one_transaction(
        w, lambda: journey.analyze(w, full=True), again=lambda: told.append("again")
    )
    assert run.rows["member_stages"] > 0
    assert seen == [2, 1] and told == ["again"] and compiled.threads(w.raw) == 2
    w.close()
