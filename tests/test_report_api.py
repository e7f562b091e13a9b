"""``covalue.report.build(ws)`` from Python writes the same report as ``covalue report``: every section,
built-in or from a canvas, comes through one mechanism that does not depend on which modules the
caller happened to import, and writing a report never loads the web server."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import covalue
from covalue import synth
from covalue.report import sections
from covalue.store import Store
from covalue.store import shared_value as svs

COVALUE = Path(sys.executable).parent / "covalue"


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic organisation, analysed, with one goal on the Shared Value canvas of "dying"."""
    path = tmp_path_factory.mktemp("api") / "ws"
    ws = covalue.init(path)
    synth.generate(seed=7).write(ws)
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        svs.add_goal(db, "dying", "Keep experts in the company", "isolation", "protection")
    store.dispose()
    return path


def _python_api(ws_path: Path, out: Path) -> list[str]:
    """Write the report with the Python API in a fresh interpreter; the web modules it loaded."""
    code = (
        "import sys, covalue\n"
        "from covalue.report import build\n"
        f"ws = covalue.open({str(ws_path)!r})\n"
        f"build(ws, {str(out)!r})\n"
        "ws.close()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('fastapi', 'uvicorn', 'starlette', 'covalue.web'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])  # a list literal printed above


def _stable(html: str) -> str:
    """The page without the minute it was made at (the one thing two runs may differ in)."""
    return re.sub(r"made \d{4}-\d\d-\d\d \d\d:\d\d UTC", "made <time>", html)


@pytest.fixture(scope="module")
def cli_report(ws_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report ``covalue report`` writes of the fixture's workspace."""
    out = tmp_path_factory.mktemp("cli") / "cli.html"
    done = subprocess.run(
        [str(COVALUE), "report", "-w", str(ws_path), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out.read_text(encoding="utf-8")


def test_the_python_api_and_the_cli_write_the_same_report(
    ws_path: Path, tmp_path: Path, cli_report: str
) -> None:
    api = tmp_path / "api.html"
    web_modules = _python_api(ws_path, api)
    a, b = api.read_text(encoding="utf-8"), cli_report
    assert _stable(a) == _stable(b)
    # the canvas section is there from Python too, where only the community that has a goal gets it
    assert 'id="c-dying-shared-value"' in a and "Keep experts in the company" in a
    assert 'id="c-campaign-shared-value"' not in a
    assert "could not be loaded" not in a.split('id="appendix"')[1]  # no section failed to load
    # the canvases' templates sit in the covalue.web package; none of the server is imported
    assert [m for m in web_modules if m != "covalue.web"] == []


def test_the_web_download_is_the_cli_report_and_shows_canvas_edits_at_once(
    ws_path: Path, tmp_path: Path, cli_report: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served report starts from the facts the pages were built from (not gathered again per
    download), yet a canvas entry made after them is in the next download."""
    from fastapi.testclient import TestClient

    from covalue.report import facts as report_facts
    from covalue.web.app import create_app

    served = tmp_path / "ws"
    shutil.copytree(ws_path, served)
    with TestClient(create_app(served)) as client:
        site = client.app.state.site  # type: ignore[attr-defined]
        site.snapshot()
        calls: list[str] = []
        gather = report_facts.gather
        monkeypatch.setattr(
            "covalue.web.site.gather", lambda *a, **k: calls.append("gather") or gather(*a, **k)
        )
        first = site.report_html(sorted(site.snapshot().names))
        assert _stable(first) == _stable(cli_report)
        store = Store.open(served)
        with store.session() as db:
            svs.add_goal(db, "campaign", "Shorten the time to a first answer", "isolation", "protection")
        store.dispose()
        second = site.report_html(sorted(site.snapshot().names))
        only_dying = site.report_html(["dying"])
    assert calls == []  # every download started from the snapshot's facts
    assert 'id="c-campaign-shared-value"' in second and "Shorten the time to a first answer" in second
    assert 'id="c-campaign-shared-value"' not in first
    # a download of fewer communities is a report of those alone, its portfolio included
    assert 'id="c-dying-' in only_dying and 'id="c-healthy-' not in only_dying


def test_built_in_sections_come_in_page_order_and_coaching_closes(ws_path: Path) -> None:
    found = sections.providers()
    names = [f"{p.__module__}:{p.__name__}" for p in found]
    assert names[: len(sections.DEFAULT_SECTIONS)] == list(sections.DEFAULT_SECTIONS)
    assert names[-1] == sections.CLOSING_SECTIONS[0]
    ws = covalue.open(ws_path)
    try:
        from covalue.report import gather, prepare

        facts = prepare(gather(ws, community="healthy"))
        sections.add_sections(ws, facts)
    finally:
        ws.close()
    keys = [s["key"] for s in facts["communities"][0]["sections"]]
    # the value headline opens each community's page, the coaching closes it
    assert keys[:2] == ["headline", "verdict"] and keys[-1] == "next"
    assert keys.index("stages") < keys.index("shape") < keys.index("champions")
    assert "shared-value" not in keys  # nothing was entered for this community
