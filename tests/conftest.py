"""Shared fixtures: the real exports in ../shared/data and fresh workspaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import covalue

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


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
