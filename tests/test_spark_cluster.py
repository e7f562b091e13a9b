"""The analysis on a real standalone Spark cluster gives what DuckDB gives, and the workspace reads it.

A master and a worker are started from the pyspark package (``spark-class ...Master`` / ``...Worker``)
on free loopback ports. A workspace holding the Beer Stack Exchange dump and the synthetic organisation
is exported as a Parquet lake, analysed by ``covalue analyze --engine spark`` (a process of its own, as
a user runs it), then by DuckDB; every derived table is compared row for row and ``covalue health
--json`` must say the same. Both datasets share one workspace, so the cluster runs the pipeline once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyspark
import pytest
from typer.testing import CliRunner

import covalue
from conftest import SHARED_DATA
from covalue import journey, lake, synth
from covalue.cli import app
from covalue.testing import free_port
from test_spark import _normal

pytestmark = pytest.mark.spark
if shutil.which("java") is None:  # pragma: no cover - make test installs Java; CI must run this
    if os.environ.get("CI"):
        pytest.fail("the standalone Spark test needs Java, and CI must run it", pytrace=False)
    pytest.skip("a standalone Spark cluster needs Java", allow_module_level=True)


BEER = SHARED_DATA / "stackexchange" / "beer.stackexchange.com.7z"
SPARK_HOME = Path(pyspark.__file__).parent
#: what the driver and executors may take: the machine has 2 cores and others are working on it
SPARK_CONF = {
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.cores.max": "2",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
runner = CliRunner()


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",  # every port, the web UIs' too, on the loopback
        "SPARK_DAEMON_MEMORY": "512m",
        "PYSPARK_PYTHON": sys.executable,
    }


def _alive_workers(ui: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=3) as r:
            return int(json.load(r).get("aliveworkers", 0))
    except OSError:
        return 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone master and one worker (2 cores, 1 GB) on loopback ports; its URL."""
    d = tmp_path_factory.mktemp("spark-cluster")
    port, ui, worker_port, worker_ui = (free_port() for _ in range(4))
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(main: str, *args: str) -> None:
        log = d / (main.rsplit(".", 1)[-1].lower() + ".log")
        logs.append(log)
        with log.open("wb") as out:  # each in a session of its own, so its executors stop with it
            procs.append(
                subprocess.Popen(
                    [spark_class, main, *args],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_env(),
                    start_new_session=True,
                )
            )

    try:
        start("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(ui))  # fmt: skip
        start("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", str(worker_port),
              "--webui-port", str(worker_ui), "--cores", "2", "--memory", "1g",
              "--work-dir", str(d / "work"), url)  # fmt: skip
        deadline = time.monotonic() + 180
        while _alive_workers(ui) < 1:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                tails = "\n".join(f"{p.name}: {p.read_text()[-1500:]}" for p in logs)
                pytest.fail(f"the standalone cluster did not come up:\n{tails}")
            time.sleep(1)
        yield url
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Beer dump and the synthetic organisation in one workspace, not analysed yet."""
    assert BEER.exists(), f"{BEER} is missing"
    path = tmp_path_factory.mktemp("lake-ws") / "ws"
    ws = covalue.init(path)
    [res] = ws.ingest([BEER])
    assert res.status == "ok"
    synth.generate().write(ws)
    ws.close()
    return path


def _derived(path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every derived table as the workspace's readers see it (analysis id left out), and whether each
    is a table or a view."""
    with covalue.open(path) as ws:
        kinds = lake.object_kinds(ws)
        return {t: ws.table(t).drop("analysis_id").to_pandas() for t in journey.DERIVED}, {
            t: kinds[t] for t in journey.DERIVED
        }


def _known_regex_difference(
    workspace: Path, duck_tables: dict[str, pd.DataFrame], spark_tables: dict[str, pd.DataFrame]
) -> None:
    """The one way the engines are known to differ, checked narrowly and then set aside: Java 17's
    ``\\b`` counts accented letters as word characters, RE2's (DuckDB) does not, so a rule such as
    ``\\b(my|me)\\b`` of models/roles.toml finds "me" in "crème" on DuckDB only. It can move an item's
    ``question_score`` (metrics/classify.py, ``role_score``; carried into item_facts); every other
    column, and every role, must agree. Spark's score is then taken as DuckDB's so that the tables
    compare whole."""
    duck, spark = duck_tables["item_roles"], spark_tables["item_roles"]
    both = duck[["item_id", "question_score"]].merge(
        spark[["item_id", "question_score"]], on="item_id", suffixes=("_duck", "_spark")
    )
    apart = both[(both.question_score_duck - both.question_score_spark).abs() > 1e-9]
    if len(apart):
        with covalue.open(workspace) as ws:
            ids = ws.raw.execute(
                "SELECT item_id, coalesce(title, '') || ' ' || coalesce(text, '') FROM items "
                "WHERE item_id IN (SELECT unnest(?))",
                [list(apart.item_id)],
            ).fetchall()
        assert len(ids) == len(apart)
        for item_id, text in ids:
            assert any(ch.isalpha() and not ch.isascii() for ch in text), item_id
        assert len(apart) <= len(both) // 1000, apart
        print(f"question_score differs on {len(apart)} item(s) with accented letters: {list(apart.item_id)}")
    score = dict(zip(duck.item_id, duck.question_score, strict=True))
    for t in spark_tables.values():
        if {"item_id", "question_score"} <= set(t.columns):
            t["question_score"] = t.item_id.map(score).where(t.item_id.isin(apart.item_id), t.question_score)


def _cli(*args: str) -> dict:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_spark_cluster_gives_duckdb_results(cluster: str, workspace: Path) -> None:
    ws_arg = str(workspace)
    parquet = workspace.parent / "lake"
    exported = _cli("export", "-w", ws_arg, "--parquet", str(parquet), "--json")
    with covalue.open(workspace) as ws:
        held = {t: ws.raw.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in lake.TABLES}
        communities = {c for (c,) in ws.raw.execute("SELECT community_id FROM communities").fetchall()}
    assert exported["rows"] == held and held["items"] > 10_000
    # partitioned by community and month, hive style; no column that could name a person
    beer_may = parquet / "items" / "community=beer-stackexchange-com" / "month=2020-05"
    assert list(beer_may.glob("*.parquet"))
    assert {p.name.split("=", 1)[1] for p in (parquet / "actions").iterdir()} <= {
        *communities,
        "__HIVE_DEFAULT_PARTITION__",
    }
    names = pq.read_schema(parquet / "identities" / "part-0.parquet").names
    assert "member_id" in names and not {"display_name", "native_id", "email_hash"} & set(names)

    # the cluster's run, as a user starts it; settings for the session come from covalue.toml
    with (workspace / "covalue.toml").open("a") as fh:
        fh.write("\n[analysis.spark_conf]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in SPARK_CONF.items()))
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "covalue"), "analyze", "-w", ws_arg, "--engine", "spark",
         "--spark-master", cluster, "--lake", str(parquet), "--json"],
        capture_output=True, env=_env(), timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    spark_run = json.loads(done.stdout)
    spark_seconds = time.perf_counter() - t0
    spark_tables, kinds = _derived(workspace)
    assert set(kinds.values()) == {"VIEW"}, kinds  # the workspace reads the lake's Parquet
    run_dir = parquet / "derived" / spark_run["analysis_id"]
    for t in journey.DERIVED:
        assert list((run_dir / t).glob("*.parquet")) or spark_run["rows"][t] == 0, t
        assert len(spark_tables[t]) == spark_run["rows"][t], t
    spark_health = _cli("health", "-w", ws_arg, "--json")
    # a member's evidence is computed when asked, over the lake's tables as over DuckDB's
    ms = spark_tables["member_stages"]
    member, community, period = sorted(
        zip(*(ms[ms.solve & ms.share][c] for c in ("member_id", "community_id", "period")), strict=True)
    )[0]
    asked = ("explain", member, "-w", ws_arg, "-c", community, "-p", period, "--json")
    spark_explain = _cli(*asked)
    assert any(c["evidence"].get("solve") for c in spark_explain["communities"])

    # then DuckDB's run over the same workspace: its own tables replace the views
    duck_run = _cli("analyze", "-w", ws_arg, "--json")
    duck_tables, kinds = _derived(workspace)
    assert set(kinds.values()) == {"BASE TABLE"}, kinds
    assert duck_run["rows"] == spark_run["rows"]
    _known_regex_difference(workspace, duck_tables, spark_tables)
    for t in journey.DERIVED:
        a = _normal(duck_tables[t])
        b = _normal(spark_tables[t][duck_tables[t].columns])
        assert len(a) > 0, t
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=t)
    # both datasets took part: the Beer site and the six planted communities each have stages
    assert set(duck_tables["member_stages"].community_id) == communities
    assert _cli("health", "-w", ws_arg, "--json") == spark_health
    assert _cli(*asked) == spark_explain
    with covalue.open(workspace) as ws:
        logged = [
            r[0] for r in ws.raw.execute("SELECT analysis_id FROM analyses ORDER BY started_at").fetchall()
        ]
    assert logged == [spark_run["analysis_id"], duck_run["analysis_id"]]
    print(f"spark analyze: {spark_seconds:.0f}s wall, steps {spark_run['seconds']}")


def test_lake_refuses_foreign_folders_and_is_refreshed_when_stale(tmp_path: Path) -> None:
    ws = covalue.init(tmp_path / "ws")
    ws.close()
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    res = runner.invoke(app, ["export", "-w", str(ws.path), "--parquet", str(foreign)])
    assert res.exit_code == 2 and "holds other files" in res.output
    assert [p.name for p in foreign.iterdir()] == ["cat.jpg"]
    res = runner.invoke(app, ["analyze", "-w", str(ws.path), "--engine", "spark"])
    assert res.exit_code == 2 and "needs a master" in res.output
    other = covalue.init(tmp_path / "other")
    other.close()
    with covalue.open(ws.path) as w:
        lake.export_parquet(w, tmp_path / "lake")  # an empty workspace exports empty tables
        assert pq.read_schema(tmp_path / "lake" / "items" / "part-0.parquet").names[0] == "item_id"
        assert not lake.refresh(w, tmp_path / "lake")  # up to date: nothing to do
        w.append("members", [{"member_id": "late-joiner", "source": "synth", "is_bot": False}])
        assert lake.refresh(w, tmp_path / "lake")  # a member more: exported again before a run
        assert pq.read_metadata(tmp_path / "lake" / "members" / "part-0.parquet").num_rows == 1
    with covalue.open(other.path) as o, pytest.raises(lake.LakeError, match="holds an export of"):
        lake.analyze_on_spark(o, tmp_path / "lake", master="spark://127.0.0.1:1")
