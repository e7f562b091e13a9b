"""Incremental analysis: after an ingest, recompute only what the new rows can change.

Every write to ``items`` or ``actions`` notes the (community, month) of the rows it added in
``changed_months``; a delete or an in-place rewrite (forgetting a person, pruning texts) notes
"everything". ``covalue analyze`` then:

1. runs in full when there is no earlier analysis recorded in ``analysis_basis``, the models or the
   settings that shape results changed (a fingerprint), "everything" was noted, people were merged or
   flagged, a space, identity or experiment changed in a way an old row could see, or a community's
   export now shows ideas or reactions it did not (every month's checks change);
2. otherwise recomputes the item-level tables (``item_roles``, ``interactions``, ``item_facts``) for the
   threads the new rows touch, closed over parents, roots, replies and chat neighbours, and reads which
   rows really changed;
3. recomputes the member-level tables (``member_stages``, ``stage_mix``, ``journeys``,
   ``personas``, ``stage_checks``) for the periods from the first month any of those changes can reach
   (a trailing window holding it, or a later threshold time), plus the empty months a returning member's
   rows now span; the monthly totals (``member_months``, ``responder_months``) are
   computed for the months from there on and read back as kept for every earlier month, so the actions
   of the months a window reaches back over are not read again;
4. replaces exactly those rows (DELETE + INSERT) in one transaction, and clears the notes.

The results equal a full run row for row (tests/test_incremental.py compares them). What is
recomputed and when is described in docs/architecture.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from covalue import compiled, text_memo
from covalue.changes import MONTH_SQL, Plan, in_months, people_ok, spaces_ok
from covalue.periods import key_of_time, month_start
from covalue.touched import items_context, touched_items

if TYPE_CHECKING:
    from covalue.journey import AnalysisResult
    from covalue.workspace import Workspace


def _replace(raw: Any, table: str, where: str, new: str, analysis_id: str) -> int:
    raw.execute(f'DELETE FROM "{table}" WHERE {where}')
    n = raw.execute(
        f'INSERT INTO "{table}" BY NAME SELECT *, ? AS analysis_id FROM "{new}"', [analysis_id]
    ).fetchone()
    return int(n[0]) if n else 0


# -- the whole update --------------------------------------------------------------------------------
def update(
    ws: Workspace,
    run: AnalysisResult,
    maturity: dict[str, Any],
    roles: dict[str, Any],
    experiments: ir.Table | None,
    experiment_items: ir.Table | None,
    pl: Plan,
    progress: Callable[[str, int, int], None] | None = None,
) -> bool:
    """Bring the derived tables up to date for the changes of ``pl``; False (nothing written) when the
    changes turn out to need a full run."""
    from covalue.metrics import maturity as mt
    from covalue.metrics.classify import classify_items
    from covalue.metrics.interactions import build_interactions, people

    raw, con = ws.raw, ws.con
    months = pl.months
    t0 = time.perf_counter()
    clock = [t0]

    def step(name: str) -> None:
        now = time.perf_counter()
        run.seconds[name] = now - clock[0]
        clock[0] = now
        if progress:
            progress(name, len(run.seconds), 10)

    tables = {t: ws.table(t) for t in ("items", "actions", "identities", "members", "spaces")}
    who = people(tables["identities"], tables["members"])
    if not people_ok(ws, who, months):
        run.mode = "full: people were merged, flagged or named by older rows"
        return False
    if not spaces_ok(ws, months):
        run.mode = "full: a space was renamed, moved or named by older rows"
        return False
    step("analysis_people")
    if not months:
        with ws.transaction():
            _replace(raw, "analysis_people", "TRUE", "_inc_people", run.analysis_id)
        run.mode = "incremental: nothing changed"
        _count_rows(raw, run)
        return True
    days = int(maturity["window"]["days"])
    reach = days // 28

    # -- item level: the touched threads ------------------------------------------------------------
    n_t, n_s, chat = touched_items(ws, months, roles)
    t_ids = ws.table("_inc_t")
    actions = tables["actions"]
    s_ids = ws.table("_inc_s")
    # the items whose edges are recomputed: the touched ones, and those the new actions are on (an
    # action on an item not in the workspace is an edge too)
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_e AS SELECT item_id FROM _inc_t UNION SELECT item_id FROM actions a "
        f"WHERE item_id IS NOT NULL AND {in_months('a.ts', months)}"
    )
    e_ids = ws.table("_inc_e")
    # every action the item level reads, found in one pass over the actions: those on the items read
    # or recomputed, and the new ones on no item (found by their row ids first, reading only the columns
    # that choose them: the rest are read for the rows found, not for every action)
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_acts AS SELECT * FROM actions WHERE rowid IN (SELECT rowid "
        "FROM actions a WHERE a.item_id IN (SELECT item_id FROM _inc_s UNION SELECT item_id FROM _inc_e) "
        f"OR (a.item_id IS NULL AND {in_months('a.ts', months)}))"
    )
    acts_i = ws.table("_inc_acts")
    ctx_actions = acts_i.semi_join(s_ids, acts_i.item_id == s_ids.item_id)
    items_ctx = items_context(ws, roles)
    items = tables["items"]
    scores = text_memo.scores_of(
        ws, items.semi_join(s_ids, items.item_id == s_ids.item_id), roles, scratch="_inc_text_keys"
    )
    roles_expr = classify_items(
        items_ctx, who, roles, spaces=tables["spaces"], actions=ctx_actions, scores=scores
    )
    roles_expr = roles_expr.semi_join(t_ids, roles_expr.item_id == t_ids.item_id)
    con.create_table("_inc_item_roles", roles_expr, temp=True, overwrite=True)
    step("item_roles")
    stored_roles = ws.table("item_roles").drop("analysis_id")
    new_roles = stored_roles.anti_join(t_ids, stored_roles.item_id == t_ids.item_id).union(
        ws.table("_inc_item_roles"), distinct=False
    )
    # edges of the touched items: their replies, and every action on them; plus actions on no item
    parents = ws.table("_inc_item_roles").select(_p=ws.table("_inc_item_roles").parent_id)
    in_ctx = new_roles.item_id.isin(t_ids.item_id) | new_roles.item_id.isin(parents._p)
    roles_ctx = new_roles.filter(in_ctx)
    on_t = acts_i.semi_join(t_ids, acts_i.item_id == t_ids.item_id)
    on_e = acts_i.filter(acts_i.item_id.isnull() | acts_i.item_id.isin(e_ids.item_id))
    edges = build_interactions(roles_ctx, on_e, who, maturity)
    edges = edges.filter(edges.item_id.isnull() | edges.item_id.isin(e_ids.item_id))
    with compiled.settings(raw, "interactions"):
        con.create_table("_inc_interactions", edges, temp=True, overwrite=True)
    edge_where = f"item_id IN (SELECT item_id FROM _inc_e) OR (item_id IS NULL AND {in_months('ts', months)})"
    step("interactions")
    stored_edges = ws.table("interactions").drop("analysis_id")
    new_edges = stored_edges.filter(
        ~(
            stored_edges.item_id.isin(e_ids.item_id)
            | (stored_edges.item_id.isnull() & _ts_in(stored_edges.ts, months))
        )
    ).union(ws.table("_inc_interactions"), distinct=False)
    if chat:  # a chat message outside the threads touched may take up one of them: its edge is kept
        edges_ctx = new_edges.filter(new_edges.target_item_id.isin(t_ids.item_id))
    else:
        # without chat every edge to a touched item was just recomputed: a reply to it is in its thread
        # (so touched too) and an action on it is on it; none is read back from the stored edges
        inc_e = ws.table("_inc_interactions")
        edges_ctx = inc_e.filter(inc_e.target_item_id.isin(t_ids.item_id))
    # a touched item's facts read its replies and answers, and the question a touched answer answers;
    # a chat message that only timing made a reply to an older touched message is neither in its
    # thread nor near a new row, so it is not touched: its kept row is read here
    inc_r = ws.table("_inc_item_roles")
    facts_ctx = new_roles.filter(
        in_ctx
        | new_roles.item_id.isin(inc_r.answers_item)
        | new_roles.parent_id.isin(t_ids.item_id)
        | new_roles.answers_item.isin(t_ids.item_id)
    )
    facts = mt.item_facts(facts_ctx, edges_ctx, maturity, on_t)
    facts = facts.filter(facts.item_id.isin(t_ids.item_id))
    con.create_table("_inc_item_facts", facts, temp=True, overwrite=True)
    step("item_facts")
    stored_facts = ws.table("item_facts").drop("analysis_id")
    new_facts = stored_facts.anti_join(t_ids, stored_facts.item_id == t_ids.item_id).union(
        ws.table("_inc_item_facts"), distinct=False
    )
    # a community whose ideas or reactions came or went changes every month's checks: known now, before
    # the member level is computed for nothing
    ideas = new_facts.group_by("community_id").aggregate(_has=new_facts.is_idea.any())
    ideas = ideas.filter(ideas._has)
    con.create_table("_inc_ideas", ideas.select("community_id"), temp=True, overwrite=True)
    ideas = ws.table("_inc_ideas")  # the idea placeholder below reads it again
    _uptake(ws, acts_i, new_roles, maturity)
    if _measurability_moved(raw):
        drop_scratch(ws)
        run.mode = "full: the ideas or reactions of a community's export came or went"
        return False

    # -- from which period the member level changes -----------------------------------------------
    first = _first_reached(ws, months, reach, roles)
    last_row = raw.execute(
        "SELECT max(m) FROM (SELECT max(created_at) AS m FROM items UNION ALL SELECT max(ts) FROM actions)"
    ).fetchone()[0]
    last = key_of_time(last_row)
    frm = first
    lo = frm - reach  # a row of month m is in the windows of periods m .. m + reach only
    lo_ts = month_start(lo)
    recomputed = mt.periods_table(frm, last, days)  # frm <= last: the new rows are dated up to last
    periods = ibis.memtable(recomputed)

    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_old_ms AS SELECT member_id, community_id, max(pidx) AS top, "
        "min(CASE WHEN is_first THEN pidx END) AS first FROM member_stages GROUP BY ALL"
    )
    # only the months from frm are read from the actions; every earlier month's totals are kept
    frm_ts = month_start(frm)
    acts_n = actions.filter(actions.ts >= frm_ts)
    activity = mt.member_activity(new_roles, acts_n, who, maturity)
    activity = activity.filter(activity.ts >= frm_ts)
    facts_r = new_facts.filter(new_facts.created_at >= lo_ts)
    edges_n = new_edges.filter(new_edges.ts >= frm_ts)
    con.create_table(
        "_inc_member_months", mt.member_months(activity, edges_n, days), temp=True, overwrite=True
    )
    con.create_table("_inc_responder_months", mt.responder_months(edges_n), temp=True, overwrite=True)
    kept_mm = ws.table("member_months").drop("analysis_id")
    months_all = kept_mm.filter(kept_mm.month < frm).union(ws.table("_inc_member_months"), distinct=False)
    kept_rm = ws.table("responder_months").drop("analysis_id")
    # a pair's month counts toward a period only when its last day falls in that period's window, and
    # windows start later as periods go on: a row before the window of period frm never counts, and
    # leaving it out keeps the order of the rows left (each pair's latest), which counting reads
    start = recomputed["win_start"][0].as_py()
    kept_rm = kept_rm.filter((kept_rm.month < frm) & (kept_rm.month >= lo) & (kept_rm.last_day >= start))
    pairs = kept_rm.union(ws.table("_inc_responder_months"), distinct=False)
    ms = mt.member_periods(
        new_roles, edges_n, acts_n, who, periods, maturity, experiments,
        experiment_items=experiment_items, facts=facts_r, months=months_all, pairs=pairs,
        few_periods=last - frm < 2,
    )  # fmt: skip
    con.create_table("_inc_ms_main", ms, temp=True, overwrite=True)
    # empty months a member's rows now span: after their old last row, before the first recomputed one
    gap_from = _gap_rows(
        ws, frm, last, days, maturity, who, new_roles, new_edges, new_facts, experiments, experiment_items
    )
    jfrom = min(frm, gap_from)
    step("member_stages")

    # everything keyed by period from jfrom on, read over the member stages as they will be
    stored_ms = ws.table("member_stages").drop("analysis_id")
    ms_new = stored_ms.filter(stored_ms.pidx < frm).union(ws.table("_inc_ms_main"), distinct=False)
    ms_new = ms_new.union(ws.table("_inc_ms_gap"), distinct=False)
    con.create_table("_inc_ms_all", ms_new.filter(ms_new.pidx >= jfrom - 1), temp=True, overwrite=True)
    msw = ws.table("_inc_ms_all")
    jperiods = ibis.memtable(mt.periods_table(jfrom, last, days))
    cur = msw.filter(msw.pidx >= jfrom)
    con.create_table("_inc_stage_mix", mt.stage_mix(cur, maturity), temp=True, overwrite=True)
    con.create_table("_inc_personas", mt.persona_mix(cur), temp=True, overwrite=True)
    step("stage_mix")
    # journeys: the rows from the month before, and each member's first active month when earlier
    before = stored_ms.filter((stored_ms.pidx < jfrom - 1) & stored_ms.active)
    firsts = before.group_by("member_id", "community_id").aggregate(pidx=before.pidx.min())
    firsts = firsts.mutate(
        **{c: ibis.null(t) for c, t in msw.schema().items() if c not in ("member_id", "community_id", "pidx")}
    ).mutate(active=ibis.literal(True))
    firsts = firsts.select(*[firsts[c].cast(t) for c, t in msw.schema().items()])
    jin = msw.union(firsts, distinct=False)
    leaves = actions.filter((actions.verb == "leave") & (actions.ts >= month_start(jfrom)))
    jn = mt.journeys(jin, leaves, who, months_all)
    con.create_table("_inc_journeys", jn.filter(jn.pidx >= jfrom), temp=True, overwrite=True)
    step("journeys")
    fcols = new_facts.schema()
    ph = {c: ibis.null(t) for c, t in fcols.items()}
    ph.update(
        community_id=ideas.community_id,
        created_at=ibis.literal(month_start(jfrom - reach - 2)),
        **{c: ibis.literal(False) for c, t in fcols.items() if t.is_boolean()},
    )
    ph["is_idea"] = ibis.literal(True)
    placeholder = ideas.select(**{c: v.cast(fcols[c]) for c, v in ph.items()})
    facts_j = new_facts.filter(new_facts.created_at >= month_start(jfrom - reach - 1))
    _uptake_unknown(ws, actions, new_roles, maturity)
    sc = mt.stage_checks(
        cur, facts_j.union(placeholder, distinct=False), ws.table("_inc_journeys"), jperiods, maturity,
        with_experiments=experiments is not None, responses=ws.table("_inc_uptake"),
    )  # fmt: skip
    con.create_table("_inc_stage_checks", sc, temp=True, overwrite=True)
    step("stage_checks")

    # -- one transaction: out with the rows recomputed, in with the new ones (the caller's, when the
    # update runs inside one: the web app analyses an upload in one, so pages see all of it or none)
    aid = run.analysis_id
    with ws.transaction():
        run.rows["analysis_people"] = _replace(raw, "analysis_people", "TRUE", "_inc_people", aid)
        run.rows["item_roles"] = _replace(
            raw, "item_roles", "item_id IN (SELECT item_id FROM _inc_t)", "_inc_item_roles", aid
        )
        run.rows["interactions"] = _replace(raw, "interactions", edge_where, "_inc_interactions", aid)
        run.rows["item_facts"] = _replace(
            raw, "item_facts", "item_id IN (SELECT item_id FROM _inc_t)", "_inc_item_facts", aid
        )
        run.rows["member_stages"] = _replace(raw, "member_stages", f"pidx >= {frm}", "_inc_ms_main", aid)
        run.rows["member_stages"] += _replace(raw, "member_stages", "FALSE", "_inc_ms_gap", aid)
        for t in ("member_months", "responder_months"):
            run.rows[t] = _replace(raw, t, f"month >= {frm}", f"_inc_{t}", aid)
        for t in ("stage_mix", "personas", "journeys", "stage_checks"):
            run.rows[t] = _replace(raw, t, f"pidx >= {jfrom}", f"_inc_{t}", aid)
    step("write")
    drop_scratch(ws)
    written = sum(run.rows.values())
    run.mode = (
        f"incremental: {n_t:,} items in touched threads ({n_s:,} read), periods from "
        f"{mt.period_label(jfrom)}, {written:,} rows written"
    )
    _count_rows(raw, run)
    return True


def _uptake(ws: Workspace, acts: ir.Table, roles: ir.Table, model: dict[str, Any]) -> None:
    """``_inc_uptake``: the communities whose export holds a response that is not a reply
    (:func:`~covalue.metrics.stage_checks.responding_communities`) once the new rows are in, without
    reading every action again.

    An update only adds rows (a delete or a rewrite runs in full), and an item's community is its own,
    so a community that held a response still does. The stored checks say which did: the uptake
    measure is measurable exactly there (``_inc_known``). The actions the update reads (``acts``, every
    action on a touched item and every new one) add the communities they show. A community with no
    stored uptake row is settled by :func:`_uptake_unknown`."""
    from covalue.metrics.stage_checks import UPTAKE, responding_communities

    ws.raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_known AS SELECT community_id, bool_or(measurable) AS yes "
        "FROM stage_checks WHERE measure = ? GROUP BY ALL",
        [UPTAKE],
    )
    known = ws.table("_inc_known")
    held = known.filter(known.yes).select(_rc=known.community_id)
    shown = responding_communities(acts, roles, model)
    ws.con.create_table("_inc_uptake", shown.union(held, distinct=True), temp=True, overwrite=True)


def _uptake_unknown(ws: Workspace, actions: ir.Table, roles: ir.Table, model: dict[str, Any]) -> None:
    """Adds to ``_inc_uptake`` the communities among those whose checks are recomputed (``_inc_ms_all``)
    that have no stored uptake row (new ones, those whose rows made no member stage before, or every
    one when the model has no uptake measure), read from all their actions as a full run reads them."""
    from covalue.metrics.stage_checks import responding_communities

    unknown = [
        r[0]
        for r in ws.raw.execute(
            "SELECT community_id FROM _inc_ms_all EXCEPT SELECT community_id FROM _inc_known"
        ).fetchall()
        if r[0] is not None
    ]
    if not unknown:
        return
    theirs = actions.filter(actions.community_id.isin(unknown) | actions.community_id.isnull())
    more = responding_communities(theirs, roles, model)
    ws.con.create_table("_inc_uptake_more", more.filter(more._rc.isin(unknown)), temp=True, overwrite=True)
    ws.raw.execute(
        "INSERT INTO _inc_uptake SELECT _rc FROM _inc_uptake_more EXCEPT SELECT _rc FROM _inc_uptake"
    )


def _measurability_moved(raw: Any) -> bool:
    """Whether a community's ideas or uptake (:data:`~covalue.metrics.stage_checks.UPTAKE`) became
    measurable, or stopped being so, with the new rows (``_inc_ideas``, ``_inc_uptake``): that changes
    the checks of every period, not only of those recomputed."""
    from covalue.metrics.stage_checks import UPTAKE

    return bool(
        raw.execute(
            "SELECT count(*) FROM (SELECT community_id, "
            "bool_or(measurable) FILTER (WHERE stage = 'innovate') AS ideas, "
            "bool_or(measurable) FILTER (WHERE measure = ?) AS uptake FROM stage_checks GROUP BY ALL) o "
            "WHERE o.ideas <> (o.community_id IN (SELECT community_id FROM _inc_ideas)) "
            "OR o.uptake <> (o.community_id IN (SELECT _rc FROM _inc_uptake))",
            [UPTAKE],
        ).fetchone()[0]
    )


def _count_rows(raw: Any, run: AnalysisResult) -> None:
    """Rows per derived table after the run, as a full run reports them."""
    from covalue.journey import DERIVED

    run.rows = {t: int(raw.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in DERIVED}


def _ts_in(ts: ir.TimestampValue, months: list[int]) -> ir.BooleanValue:
    cond = ibis.literal(False)
    for m in months:
        cond = cond | ((ts >= month_start(m)) & (ts < month_start(m + 1)))
    return cond


def _month_start_expr(key: ir.IntegerValue) -> ir.TimestampValue:
    return ibis.timestamp(key // 12, key % 12 + 1, 1, 0, 0, 0)


def _first_reached(ws: Workspace, months: list[int], reach: int, roles: dict[str, Any]) -> int:
    """The first period the changes can reach: the first changed month, or an earlier month whose item
    row changed (its roles or facts, or an edge of it), where a window or a threshold time sees it.

    Only rows dated before the first changed month are compared: a row of that month or later cannot
    move the answer below it, and every value compared is at least the month of the row's own date (so
    the filter, on both sides of each difference alike, leaves the minimum as it was). At 10 M actions
    it spares comparing the half-million rows of the new month itself."""
    raw = ws.raw
    mk = MONTH_SQL.format(c="created_at")
    cols_r = ", ".join(f'"{c}"' for c in ws.table("_inc_item_roles").columns)
    first = min(months)
    before = f"TIMESTAMP '{month_start(first).isoformat(sep=' ')}'"
    old = f"item_id IN (SELECT item_id FROM _inc_t) AND created_at < {before}"
    q = (
        f"SELECT min({mk}) FROM ((SELECT {cols_r} FROM item_roles WHERE {old} "
        f"EXCEPT SELECT {cols_r} FROM _inc_item_roles WHERE created_at < {before}) UNION ALL "
        f"(SELECT {cols_r} FROM _inc_item_roles WHERE created_at < {before} "
        f"EXCEPT SELECT {cols_r} FROM item_roles WHERE {old}))"
    )
    found = [raw.execute(q).fetchone()[0]]
    cols_e = ", ".join(f'"{c}"' for c in ws.table("_inc_interactions").columns)
    where = f"item_id IN (SELECT item_id FROM _inc_t) AND ts < {before}"
    found.append(
        raw.execute(
            f"SELECT min({MONTH_SQL.format(c='ts')}) FROM ((SELECT {cols_e} FROM interactions WHERE {where} "
            f"EXCEPT SELECT {cols_e} FROM _inc_interactions WHERE ts < {before}) UNION ALL "
            f"(SELECT {cols_e} FROM _inc_interactions WHERE ts < {before} "
            f"EXCEPT SELECT {cols_e} FROM interactions WHERE {where}))"
        ).fetchone()[0]
    )
    # a fact row: a changed flag counts from its month; a later threshold time only from that time's
    # month, and only while a window holding the item can still see it
    fcols = ws.table("_inc_item_facts").columns
    times = [t for t in ("first_response_ts", "answered_ts", "support_ts", "first_reply_ts") if t in fcols]
    plain = " OR ".join(
        f'n."{c}" IS DISTINCT FROM o."{c}"' for c in fcols if c not in times and c != "item_id"
    )
    cm = MONTH_SQL.format(c="n.created_at")
    moved = [
        f"CASE WHEN n.{t} IS DISTINCT FROM o.{t} THEN greatest({cm}, {MONTH_SQL.format(c=f'least(n.{t}, o.{t})')}) END"
        for t in times
    ]
    lowest = f"least({', '.join(moved)})" if moved else "NULL"
    found.append(
        raw.execute(
            f"SELECT min(CASE WHEN o.item_id IS NULL OR {plain or 'FALSE'} THEN {cm} "
            f"WHEN {lowest} <= {cm} + {reach} THEN {lowest} END) "
            f"FROM _inc_item_facts n LEFT JOIN item_facts o USING (item_id) WHERE n.created_at < {before}"
        ).fetchone()[0]
    )
    # facts gone (items no longer in T) — none: T only grows; items new to the workspace may give
    # older actions on them a community or a known item (every action on an item of T is in _inc_acts)
    found.append(
        raw.execute(
            f"SELECT min({MONTH_SQL.format(c='a.ts')}) FROM _inc_acts a WHERE a.ts < {before} AND a.item_id IN "
            "(SELECT item_id FROM _inc_item_roles EXCEPT SELECT item_id FROM item_roles)"
        ).fetchone()[0]
    )
    return min([first, *[int(f) for f in found if f is not None]])


def _gap_rows(
    ws: Workspace, frm: int, last: int, days: int, maturity: dict[str, Any], who: ir.Table,
    roles: ir.Table, edges: ir.Table, facts: ir.Table, experiments: ir.Table | None,
    experiment_items: ir.Table | None,
) -> int:  # fmt: skip
    """Rows before ``frm`` that appear because a member's rows now run further (``_inc_ms_gap``): a
    member returning after their rows had ended, or a community's months resuming after a pause. Their
    windows hold no new row, so they are computed over those members' whole history. Returns the first
    such period (``frm`` when none)."""
    from covalue.metrics import maturity as mt

    raw, con = ws.raw, ws.con
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE _inc_gap AS SELECT o.member_id, o.community_id, o.top FROM _inc_old_ms o "
        "JOIN (SELECT community_id, max(top) AS ctop FROM _inc_old_ms GROUP BY 1) c USING (community_id) "
        f"WHERE o.top < {frm} - 1 AND ((o.top = c.ctop AND EXISTS (SELECT 1 FROM _inc_ms_main n "
        "WHERE n.community_id = o.community_id AND n.pidx > c.ctop)) OR EXISTS (SELECT 1 FROM _inc_ms_main n "
        "WHERE n.member_id = o.member_id AND n.community_id = o.community_id))"
    )
    ms_schema = ws.table("_inc_ms_main").schema()
    got = raw.execute("SELECT min(top) FROM _inc_gap").fetchone()[0]
    if got is None:
        con.create_table("_inc_ms_gap", ws.table("_inc_ms_main").limit(0), temp=True, overwrite=True)
        return frm
    first = int(got) + 1
    gap = ws.table("_inc_gap")
    mine = who.semi_join(gap, who.member_id == gap.member_id)
    acts = ws.table("actions")
    acts = acts.semi_join(mine, acts.actor_id == mine.identity_id)
    r = roles.semi_join(gap, roles.author_member == gap.member_id)
    activity = mt.member_activity(roles, acts, who, maturity)
    activity = activity.semi_join(
        gap, (activity.member_id == gap.member_id) & (activity.community_id == gap.community_id)
    )
    # the communities' last months as they are now: a row per community at its last month
    tops = ws.table("_inc_old_ms")
    now = ws.table("_inc_ms_main")
    ends = (
        tops.group_by("community_id")
        .aggregate(top=tops.top.max())
        .union(now.group_by("community_id").aggregate(top=now.pidx.max()), distinct=False)
    )
    ends = ends.group_by("community_id").aggregate(top=ends.top.max())
    marker = ends.select(
        member_id=ibis.literal("~end"), community_id=ends.community_id,
        ts=_month_start_expr(ends.top).cast(activity.ts.type()), item_id=ibis.null("string"),
        verb=ibis.literal("~end"), authored=ibis.literal(False), counted=ibis.literal(False),
    )  # fmt: skip
    periods = ibis.memtable(mt.periods_table(first, frm - 1, days))
    e = edges.semi_join(gap, edges.target == gap.member_id)
    f = facts.semi_join(gap, facts.author_member == gap.member_id)
    ms = mt.member_periods(
        r, e, acts, who, periods, maturity, experiments, experiment_items=experiment_items, facts=f,
        activity=activity.union(marker, distinct=False),
    )  # fmt: skip
    ms = ms.join(gap, (ms.member_id == gap.member_id) & (ms.community_id == gap.community_id))
    ms = ms.filter(ms.pidx > ms.top).select(*ms_schema.names)
    con.create_table("_inc_ms_gap", ms, temp=True, overwrite=True)
    return first


def drop_scratch(ws: Workspace) -> None:
    """Drop the ``_inc_`` tables an update builds (after it, or after one that did not finish)."""
    for t in [t for t in ws.con.list_tables() if t.startswith("_inc_")]:
        ws.raw.execute(f'DROP TABLE IF EXISTS "{t}"')
