"""Shared fixtures: the real exports in ../shared/data and fresh workspaces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import covalue

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


# -- the order of work on the test workers ------------------------------------------------------------
# `make test` runs the suite on two xdist workers. xdist's own `load` scheduling hands out tests in
# collection order, splits files (so a file's module fixture may be built on both workers) and can leave
# a long test for the end while the other worker idles. Here the work is cut into units instead: a file,
# or tests that belong together; the units go out longest first, so the two workers finish together.

#: tests (files or single tests) that run one after the other on one worker, in the order given: those
#: that keep both cores busy for minutes (an ingest under load, Spark) so that they do not slow each
#: other down and the latency asserted under load is measured against the ingest alone, and files that
#: share a session fixture that is slow to build (the three exports analysed)
TOGETHER = {
    "many cores": (
        "tests/test_serving_concurrency.py",
        "tests/test_spark_cluster.py",
        "tests/test_spark.py",  # the local Spark session from here on
        "tests/test_ideas.py::test_idea_rules_agree_on_duckdb_and_spark",
        "tests/test_mail_quotes.py::test_spark_strips_what_duckdb_strips",
    ),
    "three exports": ("tests/test_coaching.py", "tests/test_theme_champions.py"),
}
#: seconds a unit took under `make test` on the 2-core machine (while other work ran on it), from the
#: tests' finishing times in `pytest -n 2 -v`; a unit not listed (all took under 10 s) counts 0.1 s a test
COST: dict[str, float] = {
    "many cores": 760,
    "tests/test_web_access.py": 267,
    "tests/test_collaboration.py": 173,
    "tests/test_incremental.py": 140,
    "tests/test_maturity.py": 88,
    "tests/test_store.py": 72,
    "tests/test_report_browser.py": 62,
    "tests/test_headline.py": 58,
    "tests/test_ideas.py": 53,
    "tests/test_report.py": 42,
    "tests/test_roles_browser.py": 42,
    "tests/test_health_real.py": 42,
    "tests/test_collaboration_browser.py": 34,
    "tests/test_classify.py": 34,
    "tests/test_discord.py": 30,
    "tests/test_shared_value.py": 29,
    "tests/test_waits.py": 29,
    "tests/test_shared_value_browser.py": 29,
    "tests/test_report_api.py": 28,
    "tests/test_accounts.py": 24,
    "tests/test_web_reads.py": 24,
    "tests/test_serving.py": 23,
    "tests/test_rights_forget.py": 23,
    "tests/test_synth.py": 20,
    "tests/test_web_browser.py": 20,
    "tests/test_members_loop_browser.py": 20,
    "three exports": 18,
    "tests/test_stackexchange.py": 17,
    "tests/test_web_reading.py": 17,
    "tests/test_slack.py": 16,
    "tests/test_health.py": 16,
    "tests/test_members_loop.py": 16,
    "tests/test_large_uploads.py": 16,
    "tests/test_conversation.py": 15,
    "tests/test_community_names.py": 15,
    "tests/test_rights_web.py": 15,
    "tests/test_unanswered.py": 14,
    "tests/test_resonance.py": 14,
    "tests/test_analysis_speed.py": 14,
    "tests/test_mail_quotes.py": 12,
    "tests/test_innovate_meta.py": 12,
    "tests/test_rights_prune.py": 11,
    "tests/test_collaboration_forms.py": 11,
}
_GROUP_OF = {member: (group, i) for group, members in TOGETHER.items() for i, member in enumerate(members)}


def _placed(nodeid: str) -> tuple[str, int]:
    """The unit of work a test belongs to (see above), and its place among the unit's members."""
    file = nodeid.split("::", 1)[0]
    return _GROUP_OF.get(nodeid.split("[", 1)[0]) or _GROUP_OF.get(file) or (file, 0)


def work_unit(nodeid: str) -> str:
    return _placed(nodeid)[0]


def longest_first(nodeids: list[str], cost: Callable[[str, int], float]) -> list[int]:
    """The positions of ``nodeids`` reordered unit by unit, the costliest unit first; within a unit the
    members in their order in :data:`TOGETHER`, else (and between units of equal cost) as collected."""
    units: dict[str, list[tuple[int, int]]] = {}
    for i, nodeid in enumerate(nodeids):
        unit, place = _placed(nodeid)
        units.setdefault(unit, []).append((place, i))
    ranked = sorted(units.items(), key=lambda u: -cost(u[0], len(u[1])))
    return [i for _, members in ranked for _, i in sorted(members)]


def _unit_cost(unit: str, tests: int) -> float:
    return COST.get(unit, 0.1 * tests)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the tests in the order their units are handed out (a run without workers
    keeps the collected order)."""
    if hasattr(config, "workerinput"):
        items[:] = [items[i] for i in longest_first([it.nodeid for it in items], _unit_cost)]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N`` (xdist's default ``--dist load``): units, longest first, instead of single tests."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LongestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def schedule(self) -> None:
            # the workers collected the tests longest unit first already: keep that order rather
            # than ranking units by their number of tests
            self.config.option.loadscopereorder = False
            super().schedule()

    return LongestFirst(config, log)


#: why a test that reads the real exports does not run in a clone on its own
SHARED_DATA_MISSING = "needs ../shared/data (real exports); run make test beside it"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real community exports (never copied into the project): tests that ask for them are skipped,
    with the reason, where the project is cloned alone; tests/data/mini covers every reader there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(SHARED_DATA_MISSING)
    return SHARED_DATA


#: a Q&A site, a chat without threads and a threaded chat: the three public exports the coaching tests read
THREE_EXPORTS = (
    "stackexchange/beer.stackexchange.com.7z",
    "slack/houstondatavis-slack-export.zip",
    "zulip/ncar-zulip-archive.tar.gz",
)


@pytest.fixture(scope="session")
def three_reports(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Any]:
    """The report's facts of each of the three exports, by community name (ingested and analysed once
    per test process)."""
    from covalue.report import facts as report_facts

    ws = covalue.init(tmp_path_factory.mktemp("three") / "ws")
    ws.ingest([shared_data / e for e in THREE_EXPORTS])
    ws.analyze()
    try:
        f = report_facts.gather(ws)
    finally:
        ws.close()
    return {c["name"]: c for c in f["communities"]}


@pytest.fixture
def ws(tmp_path: Path) -> covalue.Workspace:
    """A new, empty workspace."""
    w = covalue.init(tmp_path / "ws")
    yield w
    w.close()


@pytest.fixture
def count_calls(monkeypatch) -> Callable[[Any, str], list[int]]:
    """``count_calls(owner, name)``: ``owner.name`` replaced for the test by itself plus a count of its
    calls (one entry per call in the list returned)."""

    def count(owner: Any, name: str) -> list[int]:
        calls: list[int] = []
        real = getattr(owner, name)

        def counted(*a: Any, **k: Any) -> Any:
            calls.append(1)
            return real(*a, **k)

        monkeypatch.setattr(owner, name, counted)
        return calls

    return count


@pytest.fixture
def crafts_and_makers(tmp_path: Path) -> covalue.Workspace:
    """A workspace holding two mini exports: a Stack Exchange site and a Slack workspace."""
    mini = Path(__file__).parent / "data" / "mini"
    w = covalue.init(tmp_path / "crafts-and-makers")
    w.ingest([mini / "stackexchange" / "crafts.stackexchange.com"])
    w.ingest([mini / "slack" / "makers-guild"])
    yield w
    w.close()


# -- browser tests ------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
#: Debian's chromium, headless, with nothing reaching out to the network on its own
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (UTC, no UI) for every test that checks the engines agree; skipped where
    PySpark or Java is missing."""
    import shutil
    import tempfile

    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs Java")
    from pyspark.sql import SparkSession

    warehouse = tempfile.mkdtemp(prefix="covalue-spark-")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("covalue-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", warehouse)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    shutil.rmtree(warehouse, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Debian's, driven by Playwright; never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's folder, or ``COVALUE_SCREENSHOTS`` to look at them."""
    import os

    d = Path(os.environ["COVALUE_SCREENSHOTS"]) if os.environ.get("COVALUE_SCREENSHOTS") else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    return d


# -- the store on both backends ---------------------------------------------------------------------
PG_URL = __import__("os").environ.get("COVALUE_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """A freshly migrated store on SQLite, and on PostgreSQL when ``COVALUE_TEST_POSTGRES_URL`` names a
    server (make test starts one); each PostgreSQL test gets a database of its own."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from covalue.store import Store

    if request.param == "sqlite":
        s = Store.open(url=f"sqlite:///{tmp_path / 'store.sqlite'}")
        yield s
        s.dispose()
        return
    if not PG_URL:
        pytest.skip(
            "COVALUE_TEST_POSTGRES_URL is not set: run under scripts/with-postgres.sh (make test) for PostgreSQL"
        )
    name = f"covalue_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(text(f'CREATE DATABASE "{name}"'))
    s = Store.open(url=make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    try:
        yield s
    finally:
        s.dispose()
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
