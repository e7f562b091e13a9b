"""Runs the Value Maturity pipeline on a workspace and keeps its results as derived tables.

    result = analyze(ws)                 # item_roles, interactions, member_stages, ... in the workspace
    stages(ws, community=..., period=...)  # Ibis tables, read back from them
    explain(ws, member_id)               # why a member is where they are, in words and numbers

Each run gets an id; every derived row carries it and the ``analyses`` table logs the runs (when, the
model versions, the rows written), so a report can say which analysis it shows.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from covalue import compiled, member_evidence, models
from covalue.metrics import maturity as mt
from covalue.metrics.member_stages import CONTRIBUTION_COUNTS

if TYPE_CHECKING:
    from covalue.workspace import Workspace

#: derived tables written by :func:`analyze`, in the order they are computed
DERIVED = (
    "analysis_people",
    "item_roles",
    "interactions",
    "item_facts",
    "member_months",
    "responder_months",
    "member_stages",
    "stage_mix",
    "journeys",
    "personas",
    "stage_checks",
)
#: derived tables earlier versions wrote and no run writes any more (evidence is computed when asked)
RETIRED = ("example_months", "stage_evidence")
#: a table of experiment participants (Collaboration canvas) picked up when the workspace has one
EXPERIMENTS_TABLE = "experiment_participants"
#: items people linked to an experiment as their contribution (``experiment_id, community_id, item_id``)
EXPERIMENT_ITEMS_TABLE = "experiment_items"
ANALYSES = pa.schema(
    [
        ("analysis_id", pa.string()),
        ("started_at", pa.timestamp("us")),
        ("finished_at", pa.timestamp("us")),
        ("maturity_model", pa.string()),
        ("roles_model", pa.string()),
        ("rows", pa.string()),  # JSON: rows written per derived table
        ("seconds", pa.float64()),
    ]
)
STEP_NAMES = {"analysis_people": "people"}


class AnalysisMissing(LookupError):
    """The workspace has no analysis results yet."""


T = TypeVar("T")


class AnalysisOutOfMemory(MemoryError):
    """The analysis needed more memory than DuckDB may use, even spilling to disk; the message is one
    plain line that names the setting to change."""


@dataclass
class AnalysisResult:
    analysis_id: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    #: "full" or "incremental: ..." (covalue.incremental), with the reason a full run was needed
    mode: str = "full"

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis_id": self.analysis_id,
            "rows": self.rows,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "total_seconds": round(self.total_seconds, 3),
            "mode": self.mode,
        }


def load_models(ws: Workspace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The maturity and roles models with the workspace's overrides (``[model.*]`` in covalue.toml)."""
    overrides = ws.settings.model
    return windowed(ws, "maturity"), models.load("roles", overrides)


def windowed(ws: Workspace, name: str) -> dict[str, Any]:
    """The model ``name`` (maturity, health) with the workspace's overrides and its trailing window:
    ``[analysis] window_days``, unless the model's own ``[model.<name>.window] days`` sets it apart."""
    m = models.load(name, ws.settings.model)
    own = ws.settings.model.get(name, {}).get("window", {}).get("days")
    m["window"]["days"] = int(own if own is not None else ws.settings.analysis.window_days)
    return m


def _given_or_stored(ws: Workspace, given: Any, name: str) -> ir.Table | None:
    """``given`` as an Ibis table (Arrow tables and DataFrames are wrapped), else the workspace's table
    ``name`` when it has one."""
    if given is None:
        return ws.table(name) if name in ws.con.list_tables() else None
    return given if isinstance(given, ir.Table) else ibis.memtable(given)


def experiment_table(ws: Workspace, experiments: Any) -> ir.Table | None:
    """The experiment participants an analysis reads: ``experiments`` as given (any table-like), else
    the workspace's stored table; None when there are none."""
    experiments = _given_or_stored(ws, experiments, EXPERIMENTS_TABLE)
    if experiments is None:
        return None
    missing = {"member_id", "community_id", "completed_at"} - set(experiments.columns)
    if missing:
        raise ValueError(
            f"experiment participants need columns member_id, community_id, completed_at; "
            f"missing: {', '.join(sorted(missing))}"
        )
    cols = experiments.columns
    return experiments.select(
        member_id=experiments.member_id.cast("string"),
        community_id=experiments.community_id.cast("string"),
        completed_at=experiments.completed_at.cast("timestamp"),
        experiment_id=(
            experiments.experiment_id.cast("int64") if "experiment_id" in cols else ibis.null("int64")
        ),
        started_at=experiments.started_at.cast("timestamp")
        if "started_at" in cols
        else ibis.null("timestamp"),
        space_id=experiments.space_id.cast("string") if "space_id" in cols else ibis.null("string"),
    )


def experiment_item_table(ws: Workspace, items: Any) -> ir.Table | None:
    """The items linked to experiments: ``items`` as given, else the workspace's stored table."""
    items = _given_or_stored(ws, items, EXPERIMENT_ITEMS_TABLE)
    if items is None:
        return None
    return items.select(experiment_id=items.experiment_id.cast("int64"), item_id=items.item_id.cast("string"))


def analyze(
    ws: Workspace,
    *,
    experiments: Any = None,
    experiment_items: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
    engine: str | None = None,
    spark_master: str | None = None,
    lake: str | Path | None = None,
    full: bool = False,
) -> AnalysisResult:
    """Compute every derived table of the Value Maturity model and write it into the workspace.

    ``experiments`` (an Ibis table, Arrow table or DataFrame with ``member_id, community_id,
    completed_at`` and optionally ``experiment_id, started_at, space_id``) lists experiment
    participants and ``experiment_items`` (``experiment_id, item_id``) the items linked to them; by
    default the workspace's ``experiment_participants`` and ``experiment_items`` tables are used. Being
    listed is shown next to the stage; only contributing (a linked item, or writing in the
    experiment's space during it) can count toward Innovate. ``progress(step, done, total)`` is called after each step.

    A run that does not fit in DuckDB's memory limit, even spilling to disk, is run again on one
    thread (slower, but each thread holds its own share at once); when that does not fit either, or
    the run is part of a caller's transaction, it raises :class:`AnalysisOutOfMemory` with one plain
    line naming the setting to change.

    After an earlier analysis only what the rows added since can change is recomputed
    (:mod:`covalue.incremental`), with the same results; ``full=True`` recomputes everything.

    ``engine``, ``spark_master`` and ``lake`` (default: ``[analysis]`` in covalue.toml) may send the run
    to a Spark cluster over a Parquet lake instead (:mod:`covalue.lake`, docs/scale.md).
    """
    from covalue import lake as parquet_lake

    run_on = parquet_lake.engine_for(ws, engine, spark_master, lake)
    if run_on.name == "spark":
        return parquet_lake.analyze_on_spark(
            ws, run_on.lake, master=run_on.spark_master, conf=run_on.spark_conf, experiments=experiments,
            experiment_items=experiment_items, progress=progress,
        )  # fmt: skip
    parquet_lake.detach(ws)  # derived tables a Spark run left as views over Parquet give way
    for t, kind in parquet_lake.object_kinds(ws).items():
        if t in RETIRED:  # a DuckDB run's table, or a Spark run's view over its Parquet
            ws.raw.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} "{t}"')
    done = [0]
    try:
        return _analyze(ws, experiments, experiment_items, progress, done, full)
    except duckdb.OutOfMemoryException as e:
        # inside a caller's transaction the failure has aborted it: the caller may try again (the web
        # app does, on one thread: in_one_transaction); a run already on one thread has nothing left
        if ws._in_transaction or compiled.threads(ws.raw) == 1:
            raise _out_of_memory(ws, done[0]) from e
    done = [0]
    with compiled.one_thread(ws.raw):
        try:
            return _analyze(ws, experiments, experiment_items, progress, done, full)
        except duckdb.OutOfMemoryException as e:
            raise _out_of_memory(ws, done[0]) from e


def _out_of_memory(ws: Workspace, steps_done: int) -> AnalysisOutOfMemory:
    return AnalysisOutOfMemory(out_of_memory_message(ws, DERIVED[min(steps_done, len(DERIVED) - 1)]))


def _analyze(
    ws: Workspace,
    experiments: Any,
    experiment_items: Any,
    progress: Callable[[str, int, int], None] | None,
    done: list[int],
    full: bool = False,
) -> AnalysisResult:
    from covalue import changes, incremental

    ws.ensure_tables()
    ws.fit_memory()
    maturity, roles = load_models(ws)
    run = AnalysisResult(analysis_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6])
    started = datetime.now(UTC).replace(tzinfo=None)
    t_all = time.perf_counter()
    t_step = [time.perf_counter()]

    def written(table: str) -> None:
        now = time.perf_counter()
        run.seconds[table] = now - t_step[0]
        t_step[0] = now
        run.rows[table] = int(ws.raw.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        done[0] += 1
        if progress:
            progress(table, done[0], len(DERIVED))

    # every derived table ends in a join, aggregate or window, so its row order is arbitrary anyway;
    # not preserving it lets DuckDB write the tables in parallel with less memory (10 M actions: the
    # writes alone took ~50 s). Derived tables are written whole by every run and read back soon: in a
    # file of the older storage format, FSST's analysis of every string column was a third of the cost
    # of writing them (1 M actions: interactions 0.44 -> 0.29 s) for tables a quarter smaller;
    # covalue's format (dbfile.STORAGE_VERSION) compresses strings with dict_fsst, which this leaves on
    writing = {"preserve_insertion_order": "false", "disabled_compression_methods": "fsst"}
    with compiled.database_settings(ws.raw, writing):
        ex = experiment_table(ws, experiments)
        exi = experiment_item_table(ws, experiment_items) if ex is not None else None
        basis = changes.fingerprint(ws, maturity, roles)
        plan = changes.plan(ws, basis, roles, DERIVED)
        since = plan.since or ws.raw.execute("SELECT current_localtimestamp()").fetchone()[0]
        run.mode = f"full: {'asked for' if full else plan.full_reason}"
        redo = full or plan.full_reason
        if not redo:
            try:
                redo = not incremental.update(ws, run, maturity, roles, ex, exi, plan, progress)
            except duckdb.OutOfMemoryException:
                if ws._in_transaction:  # aborted with it: the caller may try again (in_one_transaction)
                    raise
                # the update reads whole threads at once; a full run goes step by step and spills
                run.mode, redo = "full: the update did not fit in memory", True
                incremental.drop_scratch(ws)
        if redo:
            run.rows, run.seconds = {}, {}
            stored = [t for t in (EXPERIMENTS_TABLE, EXPERIMENT_ITEMS_TABLE) if t in ws.con.list_tables()]
            given = experiments is not None or experiment_items is not None
            compiled.full_run(
                ws, run.analysis_id, maturity, roles, ex, exi, basis, None if given else stored, written
            )
        changes.settle(ws, run.analysis_id, basis, since)
    run.total_seconds = time.perf_counter() - t_all
    log_analysis(ws, run, started, maturity, roles)
    return run


def in_one_transaction(ws: Workspace, work: Callable[[], T], again: Callable[[], None] | None = None) -> T:
    """``work()``, which analyses ``ws``, in one transaction: readers see all of its tables or none.
    When it runs out of memory the failure has aborted the transaction, so it is rolled back and run
    once more on one thread (:func:`covalue.compiled.one_thread`), after ``again()``."""
    try:
        with ws.transaction():
            return work()
    except AnalysisOutOfMemory:
        if again is not None:
            again()
        with compiled.one_thread(ws.raw), ws.transaction():
            return work()


def out_of_memory_message(ws: Workspace, step: str) -> str:
    """One line for a run that did not fit: where it stopped, the limit, and the setting to change."""
    limit = ws.memory_limit()
    more = ws.memory_limit_bytes() * 2
    suggest = f"{-(-more // 10**9)}GB" if more >= 10**9 else f"{-(-more // 10**6)}MB"
    return (
        f"covalue analyze ran out of memory while computing {step}: DuckDB may use {limit}, spilling to "
        f"{ws.spill_dir()}; set a higher memory_limit under [analysis] in {ws.path / 'covalue.toml'} "
        f'(e.g. memory_limit = "{suggest}") or a larger memory_share'
    )


def log_analysis(ws: Workspace, run: AnalysisResult, started: datetime, maturity: dict, roles: dict) -> None:
    """Append the run to the workspace's ``analyses`` log (models' versions, rows, seconds)."""
    if "analyses" not in ws.con.list_tables():
        ws.con.create_table("analyses", schema=ibis.Schema.from_pyarrow(ANALYSES))
    row = {
        "analysis_id": run.analysis_id,
        "started_at": started,
        "finished_at": datetime.now(UTC).replace(tzinfo=None),
        "maturity_model": str(maturity.get("version")),
        "roles_model": str(roles.get("version")),
        "rows": json.dumps(run.rows),
        "seconds": run.total_seconds,
    }
    batch = pa.Table.from_pylist([row], schema=ANALYSES)
    ws.raw.register("_covalue_batch", batch)
    ws.raw.execute("INSERT INTO analyses SELECT * FROM _covalue_batch")
    ws.raw.unregister("_covalue_batch")


def has_results(ws: Workspace) -> bool:
    existing = set(ws.con.list_tables())
    return all(t in existing for t in DERIVED)


def derived(ws: Workspace, name: str, *, run_if_missing: bool = True) -> ir.Table:
    """A derived table; the analysis is run first when the workspace has none (or raise with
    ``run_if_missing=False``)."""
    if not has_results(ws):
        if not run_if_missing:
            raise AnalysisMissing(f"{ws.path}: no analysis yet; run `covalue analyze`")
        analyze(ws)
    return ws.table(name)


def default_periods(ws: Workspace, community: str | None = None) -> dict[str, str]:
    """Each community's default month (``YYYY-MM``): its latest month with active members, or the one
    before when the export ended part-way through it (a half month reads as a decline and fails every
    check). The rule lives in :func:`covalue.diagnosis.default_periods`."""
    from covalue import diagnosis  # diagnosis builds on this module

    return {cid: mt.period_label(p) for cid, p in diagnosis.default_periods(ws, community).items()}


def latest_period(ws: Workspace, community: str | None = None) -> str | None:
    """The default month (see :func:`default_periods`); the latest of them across communities."""
    found = default_periods(ws, community)
    return max(found.values()) if found else None


def _narrowed(ws: Workspace, table: str, community: str | None, period: str | None) -> ir.Table:
    """A derived table, optionally for one community and one period (``YYYY-MM``)."""
    t = derived(ws, table)
    if community:
        t = t.filter(t.community_id == community)
    if period:
        t = t.filter(t.period == period)
    return t


def stages(ws: Workspace, *, community: str | None = None, period: str | None = None) -> ir.Table:
    """Member stages (one row per member, community and period)."""
    return _narrowed(ws, "member_stages", community, period)


def stage_mix(ws: Workspace, *, community: str | None = None, period: str | None = None) -> ir.Table:
    """Members per stage, community and period."""
    return _narrowed(ws, "stage_mix", community, period)


def journeys(ws: Workspace, *, community: str | None = None, period: str | None = None) -> ir.Table:
    """Each member's move between consecutive periods (new, moved up, stayed, dropped, left)."""
    return _narrowed(ws, "journeys", community, period)


def journey_summary(ws: Workspace, *, community: str | None = None) -> ir.Table:
    """Members per community, period and transition."""
    j = journeys(ws, community=community)
    return (
        j.group_by("community_id", "period", "transition")
        .aggregate(members=j.count())
        .order_by(["community_id", "period", "transition"])
    )


def checks(ws: Workspace, *, community: str | None = None, period: str | None = None) -> ir.Table:
    """The stage checks per community and period."""
    return _narrowed(ws, "stage_checks", community, period)


# -- explain -----------------------------------------------------------------------------------------
_NEXT = {
    "observer": "take part where others can see it: post, reply, react or vote",
    "connect": "share something useful (a post, an answer, a resource) that another member responds to",
    "share": "answer another member's question, or ask one that another member answers",
    "solve": "propose an idea that at least {k} other members support, or contribute to an experiment",
    "innovate": "keep it up: help others bring their ideas to life",
}


def resolve_member(ws: Workspace, member: str) -> str:
    """A member id from a member id, an identity id or an unambiguous prefix of either."""
    ids = ws.table("identities")
    exact = ids.filter((ids.member_id == member) | (ids.identity_id == member)).select("member_id").distinct()
    found = exact.to_pyarrow()["member_id"].to_pylist()
    if not found:
        ms = derived(ws, "member_stages")
        pre = ms.filter(ms.member_id.startswith(member)).select("member_id").distinct().limit(3)
        found = pre.to_pyarrow()["member_id"].to_pylist()
        if not found:
            ex = ids.filter(ids.member_id.startswith(member)).select("member_id").distinct().limit(3)
            found = ex.to_pyarrow()["member_id"].to_pylist()
    if not found:
        raise LookupError(f"no member {member!r} in {ws.path}")
    if len(found) > 1:
        raise LookupError(f"{member!r} matches several members ({', '.join(found)}...); give more of the id")
    return found[0]


def explain(
    ws: Workspace,
    member: str,
    *,
    community: str | None = None,
    period: str | None = None,
    defaults: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Why a member is at their stage: per community, the numbers, each flag with its reason in plain
    words, example items, the persona and what the next stage looks like. ``defaults`` gives each
    community's default month when the caller knows them already (the web's snapshot), sparing the
    scan of the activity that finds them."""
    maturity, _ = load_models(ws)
    st = maturity["stages"]
    mid = resolve_member(ws, member)
    ms = derived(ws, "member_stages")
    rows = ms.filter(ms.member_id == mid)
    if community:
        rows = rows.filter(rows.community_id == community)
    if period:
        rows = rows.filter(rows.period == period)
    recs = rows.order_by(["community_id", "pidx"]).to_pyarrow().to_pylist()
    if not period:  # each community's default month, or the member's last month there before it
        if defaults is None:
            defaults = default_periods(ws, community)
        last: dict[str, dict[str, Any]] = {}
        for r in recs:
            if r["period"] <= defaults.get(r["community_id"], r["period"]):
                last[r["community_id"]] = r
        recs = [last[c] for c in sorted(last)]
    ev = member_evidence.rows(ws, mid, [(r["community_id"], r["pidx"]) for r in recs], maturity)
    evidence: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    seen = member_evidence.shown(ws, ev)
    for e in ev:
        evidence.setdefault((e["community_id"], e["period"]), {}).setdefault(e["flag"], []).append(
            {
                "item_id": e["item_id"],
                "role": e["role"],
                "kind": e["kind"],
                "created_at": e["created_at"].isoformat() if e["created_at"] else None,
                **seen.get(e["item_id"], {"excerpt": None, "space": None}),
            }
        )
    jn = ws.table("journeys")
    jn = jn.filter(jn.member_id == mid).select("community_id", "period", "prev_stage", "transition")
    moves = {(j["community_id"], j["period"]): j for j in jn.to_pyarrow().to_pylist()}
    days = int(maturity["window"]["days"])
    out = {"member_id": mid, "window_days": days, "communities": []}
    for r in recs:
        key = (r["community_id"], r["period"])
        reasons = _reasons(r, st, days)
        move = moves.get(key)
        out["communities"].append(
            {
                "community_id": r["community_id"],
                "period": r["period"],
                "stage": r["stage"],
                "persona": r["persona"],
                "flags": {f: bool(r[f]) for f in ("connect", "share", "solve", "innovate")},
                "active": bool(r.get("active")),
                "counts": {
                    k: int(r[k])
                    for k in (
                        "n_interactions",
                        "n_items",
                        "n_given",
                        "n_received",
                        "responders",
                        *CONTRIBUTION_COUNTS,
                    )
                },
                "reasons": reasons,
                "summary": _summary(r, reasons, days),
                "next_step": _NEXT[r["stage"]].format(
                    min=st["min_interactions"], k=st["innovate_min_supporters"]
                ),
                "journey": {"from": move["prev_stage"], "transition": move["transition"]} if move else None,
                "evidence": evidence.get(key, {}),
            }
        )
    return out


def evidence(ws: Workspace) -> ir.Table:
    """Every member's evidence: up to ``stages.evidence_examples`` example items per member,
    community, period and flag (``member_id, community_id, pidx, period, flag, rank, item_id``),
    computed when asked from the stored results, by the rules :func:`explain` uses for one member.
    Evidence is not stored: only ``explain`` needs it, a member at a time."""
    maturity, _ = load_models(ws)
    roles = derived(ws, "item_roles").drop("analysis_id")
    who = ws.table("analysis_people").drop("analysis_id")
    facts = ws.table("item_facts").drop("analysis_id")
    ms = ws.table("member_stages")
    lo, hi = ms.aggregate(lo=ms.pidx.min(), hi=ms.pidx.max()).to_pyarrow().to_pylist()[0].values()
    periods = ibis.memtable(
        mt.periods_table(lo or 0, -1 if hi is None else hi, int(maturity["window"]["days"]))
    )
    activity = mt.member_activity(roles, ws.table("actions"), who, maturity)
    return mt.stage_evidence(mt.example_months(activity, roles, maturity), facts, periods, maturity)


def _reasons(r: dict[str, Any], st: dict[str, Any], days: int) -> dict[str, str]:
    from covalue.presentation import plural

    n, need = r["n_interactions"], st["min_interactions"]
    rhythm = (
        f"at least {need} in {days} days: a regular participant (persona {r['persona']})"
        if n >= need
        else f"fewer than {need} in {days} days: an occasional participant (persona {r['persona']}); "
        "frequency sets the persona, never the stage"
    )
    out = {
        "activity": (
            f"{plural(n, 'interaction')} others could see in the {days} days to the end of {r['period']} "
            f"({plural(r['n_items'], 'contribution')}, {r['n_given']:,} reactions or votes given); {rhythm}."
        ),
        "observer": (
            f"nothing others could see in the window ({r.get('n_passive', 0)} joins, views or follows only)."
        ),
        "connect": "took part at least once in the window."
        if r["connect"]
        else "no interaction in the window.",
        "share": (
            f"{r['shared_items']} of their contributions (posts, answers or resources, not questions) "
            "got a response from another member."
            if r["share"]
            else "none of their contributions in the window got a response from another member yet."
        ),
    }
    if r["solve"]:
        parts = []
        if r["helped_items"]:
            parts.append(
                f"wrote {plural(r['helped_items'], 'answer')} to questions of other members "
                f"({plural(r['helped_people'], 'known person', 'known people')} helped)"
            )
        if r["answered_questions"]:
            parts.append(f"asked {plural(r['answered_questions'], 'question')} that another member answered")
        out["solve"] = "; ".join(parts) + "."
    else:
        out["solve"] = (
            "did not answer another member's question, nor get an answer to their own, in the window."
        )
    listed = int(r.get("experiments") or 0)
    contributed = int(r.get("experiment_contributions") or 0)
    if r["innovate"]:
        parts = []
        if r["supported_ideas"]:
            parts.append(
                f"proposed {plural(r['supported_ideas'], 'idea')} that at least "
                f"{st['innovate_min_supporters']} other members supported"
            )
        if contributed:
            parts.append(f"contributed to {plural(contributed, 'experiment')}")
        out["innovate"] = "; ".join(parts) + "."
    else:
        out["innovate"] = f"no idea of theirs has {st['innovate_min_supporters']} supporters yet."
    if listed:
        out["experiments"] = (
            f"listed in {plural(listed, 'completed experiment')}, contributed to {contributed} "
            "(an item linked to it, or written in its space during it); being listed alone does not count."
        )
    return out


def _summary(r: dict[str, Any], reasons: dict[str, str], days: int) -> str:
    stage = r["stage"]
    if stage == "observer":
        return f"Observer in {r['period']}: " + reasons["observer"]
    return f"{stage.title()} in {r['period']}: {reasons[stage]} ({r['n_interactions']} interactions in {days} days)"
