"""A peer of ``covalue analyze``: the Value Maturity stage rules as an analyst would write them by hand in
DuckDB SQL, a few CTE queries over the workspace's canonical tables.

It applies the same rules as covalue's metrics (item roles from structure and the weighted regular
expressions of ``models/roles.toml``; who responded to whom; shared items responded to, answers to
someone else, questions answered and ideas with enough supporters by each 90-day window's end; stage,
persona, stage mix and journeys) so that ``make bench`` can set covalue's time beside a hand-written
query doing the same work. What it leaves out, an analyst would too: chat replies inferred from timing
(no chat export in the synthetic organisation), quoted mail text, experiments and the evidence lists.

    python -m benchmarks.peer_sql WORKSPACE/covalue.duckdb [--out DIR]

prints one JSON line (seconds, peak memory, rows) and writes ``stage_mix.parquet`` (and the member
stages and journeys) to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

MODELS = Path(__file__).resolve().parents[1] / "src" / "covalue" / "models"


def models() -> tuple[dict[str, Any], dict[str, Any]]:
    """The maturity and roles models, read from the shipped TOML files (no covalue import)."""
    with open(MODELS / "maturity.toml", "rb") as f:
        maturity = tomllib.load(f)
    with open(MODELS / "roles.toml", "rb") as f:
        roles = tomllib.load(f)
    return maturity, roles


def _q(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def _list(xs: list[str]) -> str:
    return "(" + ", ".join(_q(x) for x in xs) + ")"


#: the longest alternation of a role's rules searched in one go (past it RE2 falls back to a slower matcher)
ANY_RULE_MAX = 4000


def _score(col: str, rules: list[dict[str, Any]]) -> str:
    """The sum of the weights of the rules whose pattern occurs in ``col``."""
    terms = [
        f"CASE WHEN regexp_matches({col}, {_q(r['pattern'])}) THEN {float(r['weight'])} ELSE 0 END"
        for r in rules
    ]
    total = "(" + " + ".join(terms) + ")"
    # most texts match none of a role's rules: one search for any of them first spares them the rest
    # (not for the long idea rules, which RE2 searches faster one by one)
    any_rule = "|".join(f"(?:{r['pattern']})" for r in rules)
    if len(rules) > 1 and len(any_rule) <= ANY_RULE_MAX:
        return f"(CASE WHEN regexp_matches({col}, {_q(any_rule)}) THEN {total} ELSE 0 END)"
    return total


#: the idea rules read text folded to ASCII letters (accents to their base letter, typographic spaces and
#: apostrophes to plain ones, combining accents dropped), as covalue's classifier folds it
FOLD_FROM = (
    "àâäáãåçéèêëíìîïñóòôöõúùûüýÿ\u00a0\u202f\u2009\u2019\u2018\u02bc\u0300\u0301\u0302\u0303\u0308\u0327"
)
FOLD_TO = "aaaaaaceeeeiiiinooooouuuuyy   '''"


def _clean(col: str) -> str:
    """Lower-cased, HTML tags out, white space collapsed and trimmed."""
    return (
        f"trim(regexp_replace(regexp_replace(lower(substr(coalesce({col}, ''), 1, 20000)), "
        f"'<[^>]*>', ' ', 'g'), '\\s+', ' ', 'g'))"
    )


def queries(maturity: dict[str, Any], roles: dict[str, Any]) -> list[tuple[str, str]]:
    """(table, SQL) in order: each statement creates one temporary table from the ones before."""
    st = roles["structure"]
    r = roles["roles"]
    days = int(maturity["window"]["days"])
    k = int(maturity["stages"]["innovate_min_supporters"])
    iv = maturity["interactions"]
    given, response, support = iv["given_verbs"], iv["response_verbs"], iv["support_verbs"]
    edge_verbs = list(dict.fromkeys([*response, "mention"]))
    anon_verbs = list(dict.fromkeys([*response, *support]))
    root_kinds = st["root_kinds"]
    idea = r["idea"]
    pers = maturity["personas"]
    min_n = int(maturity["stages"]["min_interactions"])
    thr = {role: float(r[role]["threshold"]) for role in r}

    people = """
    SELECT i.identity_id, coalesce(i.member_id, i.identity_id) AS member_id,
           bool_or(coalesce(i.is_bot, false) OR coalesce(m.is_bot, false))
               OVER (PARTITION BY coalesce(i.member_id, i.identity_id)) AS is_bot
    FROM identities i LEFT JOIN members m ON i.member_id = m.member_id
    """

    periods = f"""
    WITH span AS (
        SELECT min(m) AS lo, max(m) AS hi FROM (
            SELECT year(created_at) * 12 + month(created_at) - 1 AS m FROM items
            UNION ALL SELECT year(ts) * 12 + month(ts) - 1 FROM actions)
    ), p AS (SELECT unnest(range(lo, hi + 1)) AS pidx FROM span)
    SELECT pidx, printf('%04d-%02d', pidx // 12, pidx % 12 + 1) AS period,
           make_timestamp(((pidx + 1) // 12)::BIGINT, ((pidx + 1) % 12 + 1)::BIGINT, 1, 0, 0, 0)
               - INTERVAL {days} DAY AS win_start,
           make_timestamp(((pidx + 1) // 12)::BIGINT, ((pidx + 1) % 12 + 1)::BIGINT, 1, 0, 0, 0) AS win_end
    FROM p
    """

    # item roles: structure first (kinds, idea spaces and tags), then the text rules
    item_roles = f"""
    WITH base AS (
        SELECT it.item_id, it.community_id, it.space_id, it.created_at, it.kind,
               coalesce(it.accepted, false) AS accepted, coalesce(it.n_links, 0) AS n_links,
               coalesce(w.member_id, it.author_id) AS author, coalesce(w.is_bot, false) AS is_bot,
               it.author_id AS author_identity,
               coalesce(it.parent_id, CASE WHEN it.thread_id <> it.item_id THEN it.thread_id END) AS parent_id,
               coalesce(it.thread_id, it.item_id) AS thread_id,
               {_clean("it.text")} AS txt, {_clean("it.title")} AS ttl
        FROM items it LEFT JOIN people w ON it.author_id = w.identity_id
    ), opens AS (
        SELECT item_id AS id FROM items WHERE regexp_matches(coalesce(title, ''), '\\S')
        UNION SELECT parent_id FROM items WHERE parent_id IS NOT NULL
        UNION SELECT thread_id FROM items WHERE thread_id IS NOT NULL AND thread_id <> item_id
    ), tags AS (
        SELECT a.item_id, lower(coalesce(s.name, '')) AS tag
        FROM actions a JOIN spaces s ON a.space_id = s.space_id
        WHERE a.verb = 'system' AND a.detail = 'tag' AND a.item_id IS NOT NULL
    ), idea_tagged AS (
        SELECT DISTINCT item_id FROM tags t
        WHERE regexp_matches(tag, {_q(st["idea_tags"])})
          AND NOT (regexp_matches(tag, {_q(st["idea_status_tags"])})
                   AND item_id IN (SELECT item_id FROM tags WHERE regexp_matches(tag, {_q(st["not_idea_tags"])})))
    ), idea_space AS (
        SELECT space_id FROM spaces WHERE regexp_matches(lower(coalesce(name, '')), {_q(st["idea_spaces"])})
    ), taken_up AS (  -- a reaction or vote by someone else than the author
        SELECT DISTINCT a.item_id FROM actions a JOIN items i ON a.item_id = i.item_id
        WHERE a.verb IN ('react', 'vote') AND (a.actor_id IS NULL OR a.actor_id <> coalesce(i.author_id, ''))
    ), scored AS (
        SELECT b.*,
               b.parent_id IS NULL AND b.kind IN {_list(root_kinds)} AS is_root,
               b.kind IN {_list(st["question_kinds"])} AS q_kind,
               b.kind IN {_list(st["answer_kinds"])} OR b.accepted AS a_kind,
               o.id IS NOT NULL AS opens, u.item_id IS NOT NULL AS up,
               t.item_id IS NOT NULL AS itag, sp.space_id IS NOT NULL AS ispace,
               CASE WHEN b.parent_id IS NULL AND b.kind IN {_list(root_kinds)}
                         AND b.kind NOT IN {_list(st["answer_kinds"])} AND NOT b.is_bot
                    THEN {_score(f"translate(trim(b.ttl || ' ¶ ' || b.txt), {_q(FOLD_FROM)}, {_q(FOLD_TO)})", idea["rules"])}
                    ELSE 0 END AS iscore,
               {_score("b.txt", r["question"]["rules"])} >= {thr["question"]} AS t_question,
               {_score("b.txt", r["answer"]["rules"])} >= {thr["answer"]} AS t_answer,
               {_score("b.txt", r["resource"]["rules"])} >= {thr["resource"]} OR b.n_links > 0 AS is_resource,
               {_score("b.txt", r["gratitude"]["rules"])} >= {thr["gratitude"]} AS is_gratitude,
               {_score("b.txt", r["social"]["rules"])} >= {thr["social"]} AS is_social
        FROM base b
        LEFT JOIN opens o ON b.item_id = o.id
        LEFT JOIN taken_up u ON b.item_id = u.item_id
        LEFT JOIN idea_tagged t ON b.item_id = t.item_id
        LEFT JOIN idea_space sp ON b.space_id = sp.space_id
    ), ideas AS (
        SELECT *,
            kind IN {_list(st["idea_kinds"])}
            OR (is_root AND NOT is_bot
                AND (itag OR (ispace AND (opens OR iscore >= {float(st["idea_space_chat_threshold"])}))))
            OR (is_root AND kind NOT IN {_list(st["answer_kinds"])} AND NOT is_bot
                AND iscore >= CASE WHEN opens THEN {float(idea["threshold"])}
                                   WHEN up THEN {float(idea["chat_threshold"])} ELSE 'inf'::DOUBLE END)
            AS is_idea
        FROM scored
    ), q AS (
        SELECT *, q_kind OR (NOT a_kind AND NOT is_idea AND t_question) AS is_question FROM ideas
    ), marked AS (
        SELECT DISTINCT community_id FROM items WHERE kind IN {_list(st["answer_kinds"])}
    ), targets AS (
        SELECT q.*,
            CASE WHEN coalesce(p.is_question, false) THEN q.parent_id
                 WHEN q.thread_id <> q.item_id AND coalesce(rt.is_question, false)
                      AND NOT coalesce(p.a_kind, false) THEN q.thread_id END AS target_q,
            CASE WHEN coalesce(p.is_question, false) THEN p.author
                 WHEN q.thread_id <> q.item_id AND coalesce(rt.is_question, false)
                      AND NOT coalesce(p.a_kind, false) THEN rt.author END AS target_author,
            coalesce(rt.q_kind, false) AND mk.community_id IS NOT NULL AS by_structure
        FROM q LEFT JOIN q p ON q.parent_id = p.item_id
               LEFT JOIN q rt ON q.thread_id = rt.item_id
               LEFT JOIN marked mk ON q.community_id = mk.community_id
    ), answers AS (
        SELECT *,
            a_kind OR (NOT by_structure AND (
                (NOT is_question AND NOT is_idea AND target_q IS NOT NULL
                 AND (target_author IS NULL OR target_author <> author)
                 AND NOT (is_gratitude AND NOT t_answer))
                OR (parent_id IS NOT NULL AND NOT is_question AND t_answer))) AS is_answer
        FROM targets
    )
    SELECT item_id, community_id, created_at, kind, author, is_bot, parent_id, thread_id, is_root,
           is_question, is_answer, is_idea, is_resource, is_gratitude, is_social,
           CASE WHEN is_answer THEN target_q END AS answers_item
    FROM answers
    """

    # who responded to whom: replies to the parent's author; reactions, votes, accepts to the item's
    # author (or target_id); mentions to the person mentioned. No bots, no self-responses
    edges = f"""
    WITH replies AS (
        SELECT r.community_id, r.created_at AS ts, r.author AS actor, p.author AS target,
               CASE WHEN r.is_answer THEN 'answer' ELSE 'reply' END AS kind,
               r.parent_id AS target_item_id, r.is_bot AS abot, p.is_bot AS tbot
        FROM item_roles r JOIN item_roles p ON r.parent_id = p.item_id
    ), acts AS (
        SELECT coalesce(a.community_id, i.community_id) AS community_id, a.ts,
               coalesce(wa.member_id, a.actor_id) AS actor,
               CASE WHEN a.verb = 'mention' THEN coalesce(wt.member_id, a.target_id)
                    ELSE coalesce(i.author, wt.member_id, a.target_id) END AS target,
               a.verb AS kind,
               CASE WHEN a.verb <> 'mention' THEN a.item_id END AS target_item_id,
               coalesce(wa.is_bot, false) AS abot,
               CASE WHEN a.verb = 'mention' THEN coalesce(wt.is_bot, false)
                    WHEN i.author IS NOT NULL THEN i.is_bot ELSE coalesce(wt.is_bot, false) END AS tbot
        FROM actions a
        LEFT JOIN people wa ON a.actor_id = wa.identity_id
        LEFT JOIN people wt ON a.target_id = wt.identity_id
        LEFT JOIN item_roles i ON a.item_id = i.item_id
        WHERE a.verb IN {_list(edge_verbs)} AND a.actor_id IS NOT NULL
          AND (a.verb <> 'vote' OR a.value IS NULL OR a.value > 0)
    )
    SELECT community_id, ts, actor, target, kind, target_item_id FROM (
        SELECT * FROM replies UNION ALL SELECT * FROM acts)
    WHERE actor IS NOT NULL AND ts IS NOT NULL AND NOT abot AND NOT coalesce(tbot, false)
      AND (target IS NOT NULL OR (kind IN ('reply', 'answer') AND target_item_id IS NOT NULL))
      AND (target IS NULL OR actor <> target)
    """

    # per item by a person: first response by someone else, first answer by someone else, whether it
    # answers someone else's question, when its k-th distinct supporter came
    facts = f"""
    WITH anon AS (  -- up-votes the export keeps without their voter: each one from someone else
        SELECT item_id, 'anonymous:' || action_id AS who, ts FROM actions
        WHERE actor_id IS NULL AND item_id IS NOT NULL AND ts IS NOT NULL AND verb IN {_list(anon_verbs)}
          AND (value IS NULL OR value > 0)
    ), responses AS (
        SELECT target_item_id AS item_id, ts FROM edges WHERE target_item_id IS NOT NULL
        UNION ALL SELECT item_id, ts FROM anon
        UNION ALL SELECT parent_id, created_at FROM item_roles
                  WHERE author IS NULL AND parent_id IS NOT NULL AND NOT is_bot
    ), first_response AS (
        SELECT r.item_id, min(greatest(r.ts, i.created_at)) AS first_response_ts
        FROM responses r JOIN item_roles i ON r.item_id = i.item_id
        WHERE r.ts >= date_trunc('day', i.created_at)
        GROUP BY r.item_id
    ), helping AS (
        SELECT a.item_id, a.answers_item, a.created_at, q.created_at AS asked
        FROM item_roles a JOIN item_roles q ON a.answers_item = q.item_id
        WHERE NOT a.is_bot AND NOT q.is_bot
          AND (q.author IS NULL OR a.author IS NULL OR q.author <> a.author)
    ), answered AS (
        SELECT answers_item AS item_id, greatest(min(created_at), min(asked)) AS answered_ts
        FROM helping GROUP BY answers_item
    ), supporters AS (
        SELECT item_id, who, min(ts) AS ts FROM (
            SELECT target_item_id AS item_id, actor AS who, ts FROM edges
            WHERE kind IN {_list(["reply", "answer", *support])} AND target_item_id IS NOT NULL
            UNION ALL SELECT item_id, who, ts FROM anon)
        GROUP BY item_id, who
    ), kth AS (
        SELECT item_id, ts AS support_ts FROM (
            SELECT *, row_number() OVER (PARTITION BY item_id ORDER BY ts, who) AS n FROM supporters)
        WHERE n = {k}
    )
    SELECT i.*, f.first_response_ts, a.answered_ts, h.item_id IS NOT NULL AS helps_other, s.support_ts,
           NOT i.is_question AND NOT i.is_social AND NOT (i.is_gratitude AND NOT i.is_answer)
               AND (i.is_root OR i.is_resource OR i.is_answer) AS share_eligible
    FROM item_roles i
    LEFT JOIN first_response f ON i.item_id = f.item_id
    LEFT JOIN answered a ON i.item_id = a.item_id
    LEFT JOIN helping h ON i.item_id = h.item_id
    LEFT JOIN kth s ON i.item_id = s.item_id
    WHERE NOT i.is_bot
    """

    # everything people did (items written, actions taken); what others can see counts toward the stage
    activity = f"""
    SELECT author AS member_id, community_id, created_at AS ts, item_id, 'author' AS verb,
           true AS authored, true AS counted
    FROM item_roles WHERE NOT is_bot AND created_at IS NOT NULL AND author IS NOT NULL
    UNION
    SELECT coalesce(w.member_id, a.actor_id), coalesce(a.community_id, i.community_id), a.ts, a.item_id,
           a.verb, false, a.verb IN {_list(given)}
    FROM actions a LEFT JOIN people w ON a.actor_id = w.identity_id
                   LEFT JOIN item_roles i ON a.item_id = i.item_id
    WHERE a.actor_id IS NOT NULL AND a.ts IS NOT NULL AND NOT coalesce(w.is_bot, false)
      AND coalesce(a.community_id, i.community_id) IS NOT NULL
    """

    reach = days // 28 + 2
    member_stages = f"""
    WITH span AS (
        SELECT member_id, community_id, min(ts) AS first_ts, max(ts) AS last_ts
        FROM activity GROUP BY ALL
    ), comm AS (
        SELECT community_id, max(year(ts) * 12 + month(ts) - 1) AS clast FROM activity GROUP BY ALL
    ), grid AS (
        SELECT s.member_id, s.community_id, p.pidx, p.period,
               p.pidx = year(s.first_ts) * 12 + month(s.first_ts) - 1 AS is_first
        FROM span s JOIN comm c USING (community_id)
        JOIN periods p ON p.pidx >= year(s.first_ts) * 12 + month(s.first_ts) - 1
                      AND p.pidx <= year(s.last_ts) * 12 + month(s.last_ts) - 1 + {reach}
                      AND p.pidx <= c.clast
    ), daily AS (
        SELECT member_id, community_id, date_trunc('day', ts) AS day,
               count(*) FILTER (WHERE counted) AS n, count(*) FILTER (WHERE NOT counted) AS np
        FROM activity GROUP BY ALL
    ), counts AS (
        SELECT d.member_id, d.community_id, p.pidx, sum(d.n) AS n_interactions, sum(d.np) AS n_passive
        FROM daily d JOIN periods p ON d.day >= p.win_start AND d.day < p.win_end
        GROUP BY ALL
    ), made AS (
        SELECT f.author AS member_id, f.community_id, p.pidx,
               count(*) FILTER (WHERE f.is_root) AS n_originals,
               count(*) FILTER (WHERE f.parent_id IS NOT NULL) AS n_replies,
               count(*) FILTER (WHERE f.share_eligible AND f.first_response_ts < p.win_end) AS shared_items,
               count(*) FILTER (WHERE f.is_answer AND f.helps_other) AS helped_items,
               count(*) FILTER (WHERE f.is_question AND f.answered_ts < p.win_end) AS answered_questions,
               count(*) FILTER (WHERE f.is_idea AND f.support_ts < p.win_end) AS supported_ideas
        FROM facts f JOIN periods p ON f.created_at >= p.win_start AND f.created_at < p.win_end
        GROUP BY ALL
    ), got AS (
        SELECT e.target AS member_id, e.community_id, p.pidx, sum(e.n) AS n_received
        FROM (SELECT target, community_id, date_trunc('day', ts) AS day, count(*) AS n
              FROM edges GROUP BY ALL) e
        JOIN periods p ON e.day >= p.win_start AND e.day < p.win_end
        GROUP BY ALL
    ), joined AS (
        SELECT g.member_id, g.community_id, g.period, g.pidx, g.is_first,
               coalesce(c.n_interactions, 0) AS n_interactions, coalesce(c.n_passive, 0) AS n_passive,
               coalesce(r.n_received, 0) AS n_received,
               coalesce(m.n_originals, 0) AS n_originals, coalesce(m.n_replies, 0) AS n_replies,
               coalesce(m.shared_items, 0) AS shared_items, coalesce(m.helped_items, 0) AS helped_items,
               coalesce(m.answered_questions, 0) AS answered_questions,
               coalesce(m.supported_ideas, 0) AS supported_ideas
        FROM grid g
        LEFT JOIN counts c USING (member_id, community_id, pidx)
        LEFT JOIN made m USING (member_id, community_id, pidx)
        LEFT JOIN got r USING (member_id, community_id, pidx)
    ), flags AS (
        SELECT *, n_interactions > 0 AS active, n_interactions + n_passive > 0 AS present,
               n_interactions >= 1 AS connect,
               shared_items >= {max(1, int(maturity["stages"]["share_min_items"]))} AS share,
               helped_items >= {max(1, int(maturity["stages"]["solve_min_items"]))}
                   OR answered_questions >= {max(1, int(maturity["stages"]["solve_min_items"]))} AS solve,
               supported_ideas >= 1 AS innovate,
               n_interactions / greatest(n_received, 1) AS ratio
        FROM joined
    )
    SELECT * EXCLUDE (ratio),
        CASE WHEN innovate THEN 'innovate' WHEN solve THEN 'solve' WHEN share THEN 'share'
             WHEN connect THEN 'connect' ELSE 'observer' END AS stage,
        CASE WHEN innovate THEN 4 WHEN solve THEN 3 WHEN share THEN 2 WHEN connect THEN 1 ELSE 0 END
            AS stage_rank,
        CASE WHEN n_interactions < {min_n} THEN 'Observer'
             WHEN ratio >= {float(pers["responder_ratio"])}
                  AND n_originals > (n_originals + n_replies) * {float(pers["broadcaster_min_original_share"])}
                  THEN 'Broadcaster'
             WHEN ratio >= {float(pers["responder_ratio"])} THEN 'Responder'
             WHEN ratio <= {float(pers["catalyst_ratio"])} THEN 'Catalyst'
             ELSE 'Engager' END AS persona
    FROM flags
    """

    stage_mix = """
    SELECT community_id, period, pidx,
           count(*) FILTER (WHERE present) AS members, count(*) FILTER (WHERE active) AS active,
           count(*) FILTER (WHERE present AND NOT active) AS observer,
           count(*) FILTER (WHERE active AND stage = 'connect') AS connect,
           count(*) FILTER (WHERE active AND stage = 'share') AS share,
           count(*) FILTER (WHERE active AND stage = 'solve') AS solve,
           count(*) FILTER (WHERE active AND stage = 'innovate') AS innovate
    FROM member_stages GROUP BY ALL
    """

    journeys = """
    WITH lagged AS (
        SELECT *,
            coalesce(lag(active) OVER w, false) AS prev_active,
            lag(stage) OVER w AS prev_stage0, lag(stage_rank) OVER w AS prev_rank,
            min(CASE WHEN active THEN pidx END) OVER (PARTITION BY member_id, community_id) AS first_active
        FROM member_stages
        WINDOW w AS (PARTITION BY member_id, community_id ORDER BY pidx)
    ), took_part AS (  -- a leave in a month of taking part is leaving a channel, not the community
        SELECT DISTINCT member_id, community_id, year(ts) * 12 + month(ts) - 1 AS pidx
        FROM activity WHERE counted
    ), leaves AS (
        SELECT DISTINCT coalesce(w.member_id, a.actor_id) AS member_id, a.community_id,
               year(a.ts) * 12 + month(a.ts) - 1 AS pidx, true AS left_now
        FROM actions a LEFT JOIN people w ON a.actor_id = w.identity_id
        ANTI JOIN took_part t
            ON t.member_id = coalesce(w.member_id, a.actor_id) AND t.community_id = a.community_id
           AND t.pidx = year(a.ts) * 12 + month(a.ts) - 1
        WHERE a.verb = 'leave'
    )
    SELECT l.member_id, l.community_id, l.period, l.pidx,
           CASE WHEN l.prev_active THEN l.prev_stage0 END AS prev_stage,
           CASE WHEN l.active THEN l.stage END AS stage,
           CASE WHEN v.left_now IS NOT NULL OR (l.prev_active AND NOT l.active) THEN 'left'
                WHEN NOT l.prev_active AND l.pidx = l.first_active THEN 'new'
                WHEN NOT l.prev_active THEN 'returned'
                WHEN l.stage_rank > l.prev_rank THEN 'moved up'
                WHEN l.stage_rank < l.prev_rank THEN 'dropped'
                ELSE 'stayed' END AS transition
    FROM lagged l LEFT JOIN leaves v USING (member_id, community_id, pidx)
    WHERE l.active OR l.prev_active OR v.left_now IS NOT NULL
    """
    return [
        ("people", people),
        ("periods", periods),
        ("item_roles", item_roles),
        ("edges", edges),
        ("facts", facts),
        ("activity", activity),
        ("member_stages", member_stages),
        ("stage_mix", stage_mix),
        ("journeys", journeys),
    ]


def run(db: Path, out: Path | None = None, memory_limit: str | None = None) -> dict[str, int]:
    """Run the queries on the workspace database ``db`` (read-only; the results are temporary
    tables); write the member stages, stage mix and journeys as Parquet to ``out``. Rows per table."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute(f"SET memory_limit = {_q(memory_limit)}")
    maturity, roles = models()
    rows = {}
    for name, sql in queries(maturity, roles):
        con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        rows[name] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("member_stages", "stage_mix", "journeys"):
            con.execute(f"COPY {name} TO {_q(str(out / f'{name}.parquet'))} (FORMAT parquet)")
    con.close()
    return rows


def peak_mb() -> float:
    """This process's peak resident memory in MB. VmHWM, not ru_maxrss: a child started by a large
    process inherits that process's size in ru_maxrss through fork, so small peers would read as large."""
    try:
        for ln in Path("/proc/self/status").read_text().splitlines():
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.peer_sql", description=__doc__.split("\n")[0])
    ap.add_argument("db", type=Path, help="a workspace's covalue.duckdb")
    ap.add_argument("--out", type=Path, help="folder for member_stages, stage_mix and journeys (Parquet)")
    ap.add_argument("--memory-limit", help="DuckDB's memory_limit (default: DuckDB's own)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.db, args.out, args.memory_limit)
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "peak_mb": peak_mb(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
