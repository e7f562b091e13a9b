"""A peer of ``covalue analyze``: the Value Maturity stage rules as an analyst would write them in pandas,
in memory, vectorised (no loop over rows), on the canonical tables read once through Arrow.

The rules are those of :mod:`benchmarks.peer_sql` (and of covalue's metrics): item roles from structure
and the weighted regular expressions of ``models/roles.toml``, who responded to whom, the value evidence
each member earned by each 90-day window's end, stage, persona, stage mix and journeys. Text patterns
run through pandas' Arrow-backed strings, so on RE2 as in DuckDB.

    python -m benchmarks.peer_pandas WORKSPACE/covalue.duckdb [--out DIR]

prints one JSON line (seconds, peak memory, rows) and writes ``stage_mix.parquet`` (and the member
stages and journeys) to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.peer_sql import ANY_RULE_MAX, FOLD_FROM, FOLD_TO, models, peak_mb

# the role patterns group their alternatives; pandas warns that contains() does not return the groups
warnings.filterwarnings("ignore", "This pattern is interpreted as a regular expression")

COLUMNS = {
    "items": [
        "item_id",
        "space_id",
        "community_id",
        "thread_id",
        "parent_id",
        "author_id",
        "created_at",
        "kind",
        "title",
        "text",
        "n_links",
        "accepted",
    ],
    "actions": [
        "action_id",
        "space_id",
        "community_id",
        "ts",
        "actor_id",
        "verb",
        "item_id",
        "target_id",
        "value",
        "detail",
    ],
    "identities": ["identity_id", "member_id", "is_bot"],
    "members": ["member_id", "is_bot"],
    "spaces": ["space_id", "name"],
}


def read(db: Path) -> dict[str, pd.DataFrame]:
    """The canonical tables as DataFrames (DuckDB hands them over as Arrow)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    out = {}
    for name, cols in COLUMNS.items():
        sel = ", ".join(f'"{c}"' for c in cols)
        out[name] = con.execute(f"SELECT {sel} FROM {name}").to_arrow_table().to_pandas()
    con.close()
    return out


def _flag(s: pd.Series) -> pd.Series:
    """A boolean column with missing values read as False (they come from left joins)."""
    return s.fillna(False).astype(bool)


def _month(ts: pd.Series) -> pd.Series:
    return ts.dt.year.astype("int64") * 12 + ts.dt.month.astype("int64") - 1


def clean(s: pd.Series) -> pd.Series:
    """Lower-cased, HTML tags out, white space collapsed and trimmed."""
    s = s.fillna("").str.slice(0, 20000).str.lower()
    return s.str.replace(r"<[^>]*>", " ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()


def score(text: pd.Series, rules: list[dict[str, Any]]) -> np.ndarray:
    """The sum of the weights of the rules whose pattern occurs in ``text``."""
    out = np.zeros(len(text))
    hit = np.ones(len(text), bool)
    any_rule = "|".join(f"(?:{r['pattern']})" for r in rules)
    if len(rules) > 1 and len(any_rule) <= ANY_RULE_MAX:  # rules searched only where one of them occurs
        hit = text.str.contains(any_rule, regex=True).to_numpy(bool)
    some = text[hit]
    for r in rules:
        out[hit] += np.where(
            some.str.contains(r["pattern"], regex=True).to_numpy(bool), float(r["weight"]), 0.0
        )
    return out


def people(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """identity_id -> member_id, is_bot (a merged member with one bot account is a bot everywhere)."""
    m = t["members"].rename(columns={"is_bot": "mbot"})
    p = t["identities"].merge(m, on="member_id", how="left")
    p["member_id"] = p.member_id.fillna(p.identity_id)
    p["is_bot"] = _flag(p.is_bot) | _flag(p.mbot)
    p["is_bot"] = p.groupby("member_id").is_bot.transform("max")
    return p[["identity_id", "member_id", "is_bot"]]


def periods(t: dict[str, pd.DataFrame], days: int) -> pd.DataFrame:
    lo = min(_month(t["items"].created_at).min(), _month(t["actions"].ts).min())
    hi = max(_month(t["items"].created_at).max(), _month(t["actions"].ts).max())
    pidx = np.arange(lo, hi + 1)
    nxt = pd.to_datetime({"year": (pidx + 1) // 12, "month": (pidx + 1) % 12 + 1, "day": 1})
    return pd.DataFrame(
        {
            "pidx": pidx,
            "period": [f"{p // 12:04d}-{p % 12 + 1:02d}" for p in pidx],
            "win_start": nxt - pd.Timedelta(days=days),
            "win_end": nxt,
        }
    )


def in_windows(df: pd.DataFrame, ts: str, per: pd.DataFrame, days: int) -> pd.DataFrame:
    """``df`` repeated once per period whose window holds ``df[ts]``: its own month and the next few."""
    m0 = _month(df[ts])
    parts = [df.assign(pidx=m0 + off) for off in range(days // 28 + 1)]
    x = pd.concat(parts, ignore_index=True).merge(per[["pidx", "win_start", "win_end"]], on="pidx")
    return x[(x[ts] >= x.win_start) & (x[ts] < x.win_end)]


def item_roles(t: dict[str, pd.DataFrame], who: pd.DataFrame, roles: dict[str, Any]) -> pd.DataFrame:
    st, r = roles["structure"], roles["roles"]
    items, actions = t["items"], t["actions"]
    w = who.rename(columns={"identity_id": "author_id", "member_id": "author"})
    b = items.merge(w, on="author_id", how="left")
    b["author"] = b.author.fillna(b.author_id)
    b["is_bot"] = _flag(b.is_bot)
    b["accepted"] = _flag(b.accepted)
    b["parent_id"] = b.parent_id.fillna(b.thread_id.where(b.thread_id != b.item_id))
    b["thread_id"] = b.thread_id.fillna(b.item_id)
    b["txt"] = clean(b.text)
    root_kinds, answer_kinds = st["root_kinds"], st["answer_kinds"]
    b["is_root"] = b.parent_id.isna() & b.kind.isin(root_kinds)
    b["q_kind"] = b.kind.isin(st["question_kinds"])
    b["a_kind"] = b.kind.isin(answer_kinds) | b.accepted

    # ideas: by kind, by structure (an idea tag, a space named for ideas) or by the proposal phrasing
    # of a thread opener; a chat message that opens nothing the export shows needs more and an uptake
    opens = pd.concat(
        [
            items.item_id[items.title.fillna("").str.contains(r"\S", regex=True)],
            items.parent_id.dropna(),
            items.thread_id[items.thread_id.notna() & (items.thread_id != items.item_id)],
        ]
    )
    b["opens"] = b.item_id.isin(opens)
    may = b.is_root & ~b.kind.isin(answer_kinds) & ~b.is_bot
    b["iscore"] = 0.0
    fold = str.maketrans(FOLD_FROM[: len(FOLD_TO)], FOLD_TO, FOLD_FROM[len(FOLD_TO) :])
    itext = (clean(b.title[may]) + " ¶ " + b.txt[may]).str.strip().str.translate(fold)
    b.loc[may, "iscore"] = score(itext, r["idea"]["rules"])
    names = t["spaces"].assign(name=t["spaces"].name.fillna("").str.lower())
    idea_spaces = names.space_id[names.name.str.contains(st["idea_spaces"], regex=True)]
    tags = actions[(actions.verb == "system") & (actions.detail == "tag") & actions.item_id.notna()]
    tags = tags[["item_id", "space_id"]].merge(names, on="space_id")
    not_idea = tags.item_id[tags.name.str.contains(st["not_idea_tags"], regex=True)]
    tagged = tags[
        tags.name.str.contains(st["idea_tags"], regex=True)
        & ~(tags.name.str.contains(st["idea_status_tags"], regex=True) & tags.item_id.isin(not_idea))
    ].item_id
    rv = actions[actions.verb.isin(["react", "vote"]) & actions.item_id.notna()][["item_id", "actor_id"]]
    rv = rv.merge(items[["item_id", "author_id"]], on="item_id")
    up = rv.item_id[rv.actor_id.isna() | (rv.actor_id != rv.author_id.fillna(""))]
    b["up"] = b.item_id.isin(up)
    idea = r["idea"]
    bar = np.where(b.opens, float(idea["threshold"]), np.where(b.up, float(idea["chat_threshold"]), np.inf))
    in_space = b.space_id.isin(idea_spaces) & (b.opens | (b.iscore >= float(st["idea_space_chat_threshold"])))
    struct = b.item_id.isin(tagged) | in_space
    b["is_idea"] = (
        b.kind.isin(st["idea_kinds"])
        | (struct & b.is_root & ~b.is_bot)
        | (b.is_root & ~b.kind.isin(answer_kinds) & ~b.is_bot & (b.iscore >= bar))
    )

    def role(name: str) -> pd.Series:
        return pd.Series(score(b.txt, r[name]["rules"]) >= float(r[name]["threshold"]), index=b.index)

    t_answer = role("answer")
    b["is_question"] = b.q_kind | (~b.a_kind & ~b.is_idea & role("question"))
    b["is_resource"] = role("resource") | (b.n_links.fillna(0) > 0)
    b["is_gratitude"] = role("gratitude")
    b["is_social"] = role("social")

    # the question an item answers: its parent if a question, else its thread's first item (unless the
    # parent is a structural answer: a comment on an answer answers nothing)
    par = b[["item_id", "is_question", "author", "a_kind"]].set_axis(
        ["parent_id", "p_q", "p_author", "p_a"], axis=1
    )
    root = b[["item_id", "is_question", "author", "q_kind"]].set_axis(
        ["thread_id", "r_q", "r_author", "r_qk"], axis=1
    )
    j = b.merge(par, on="parent_id", how="left").merge(root, on="thread_id", how="left")
    p_q, r_q, p_a = _flag(j.p_q), _flag(j.r_q), _flag(j.p_a)
    via_root = (j.thread_id != j.item_id) & r_q & ~p_a
    j["target_q"] = j.parent_id.where(p_q, j.thread_id.where(via_root))
    target_author = j.p_author.where(p_q, j.r_author.where(via_root))
    in_other_q = j.target_q.notna() & (target_author.isna() | (target_author != j.author))
    marked = items.community_id[items.kind.isin(answer_kinds)].unique()
    by_structure = _flag(j.r_qk) & j.community_id.isin(marked)
    plain_thanks = j.is_gratitude & ~t_answer.to_numpy()
    j["is_answer"] = j.a_kind | (
        ~by_structure
        & (
            (~j.is_question & ~j.is_idea & in_other_q & ~plain_thanks)
            | (j.parent_id.notna() & ~j.is_question & t_answer.to_numpy())
        )
    )
    j["answers_item"] = j.target_q.where(j.is_answer)
    return j[
        [
            "item_id",
            "community_id",
            "created_at",
            "kind",
            "author",
            "is_bot",
            "parent_id",
            "thread_id",
            "is_root",
            "is_question",
            "is_answer",
            "is_idea",
            "is_resource",
            "is_gratitude",
            "is_social",
            "answers_item",
        ]
    ]


def edges(
    roles: pd.DataFrame, actions: pd.DataFrame, who: pd.DataFrame, maturity: dict[str, Any]
) -> pd.DataFrame:
    """Who responded to whom: replies, answers, reactions, votes, accepts and mentions between people."""
    verbs = list(dict.fromkeys([*maturity["interactions"]["response_verbs"], "mention"]))
    rep = roles[roles.parent_id.notna()]
    par = roles[["item_id", "author", "is_bot"]].set_axis(["parent_id", "target", "tbot"], axis=1)
    rep = rep.merge(par, on="parent_id")
    replies = pd.DataFrame(
        {
            "community_id": rep.community_id,
            "ts": rep.created_at,
            "actor": rep.author,
            "target": rep.target,
            "kind": np.where(rep.is_answer, "answer", "reply"),
            "target_item_id": rep.parent_id,
            "abot": rep.is_bot,
            "tbot": rep.tbot,
        }
    )
    a = actions[
        actions.verb.isin(verbs)
        & actions.actor_id.notna()
        & ((actions.verb != "vote") | actions.value.isna() | (actions.value > 0))
    ]
    a = a.merge(who.set_axis(["actor_id", "actor", "abot"], axis=1), on="actor_id", how="left")
    a = a.merge(who.set_axis(["target_id", "tmember", "tmbot"], axis=1), on="target_id", how="left")
    it = roles[["item_id", "author", "is_bot", "community_id"]].set_axis(
        ["item_id", "iauthor", "ibot", "icomm"], axis=1
    )
    a = a.merge(it, on="item_id", how="left")
    mention = a.verb == "mention"
    tmember = a.tmember.fillna(a.target_id)
    given = pd.DataFrame(
        {
            "community_id": a.community_id.fillna(a.icomm),
            "ts": a.ts,
            "actor": a.actor.fillna(a.actor_id),
            "target": tmember.where(mention, a.iauthor.fillna(tmember)),
            "kind": a.verb,
            "target_item_id": a.item_id.mask(mention),
            "abot": _flag(a.abot),
            "tbot": _flag(a.tmbot).where(mention | a.iauthor.isna(), _flag(a.ibot)),
        }
    )
    e = pd.concat([replies, given], ignore_index=True)
    to_unknown = e.kind.isin(["reply", "answer"]) & e.target.isna() & e.target_item_id.notna()
    keep = (
        e.actor.notna()
        & (e.target.notna() | to_unknown)
        & e.ts.notna()
        & (e.target.isna() | (e.actor != e.target))
        & ~_flag(e.abot)
        & ~_flag(e.tbot)
    )
    return e.loc[keep, ["community_id", "ts", "actor", "target", "kind", "target_item_id"]]


def facts(
    roles: pd.DataFrame, e: pd.DataFrame, actions: pd.DataFrame, maturity: dict[str, Any]
) -> pd.DataFrame:
    """Per item by a person: first response, first answer by someone else, whether it answers someone
    else's question, when its k-th distinct supporter came, and whether it can count as shared."""
    iv = maturity["interactions"]
    k = int(maturity["stages"]["innovate_min_supporters"])
    anon = actions[
        actions.actor_id.isna()
        & actions.item_id.notna()
        & actions.ts.notna()
        & actions.verb.isin([*iv["response_verbs"], *iv["support_verbs"]])
        & (actions.value.isna() | (actions.value > 0))
    ]
    anon = pd.DataFrame({"item_id": anon.item_id, "who": "anonymous:" + anon.action_id, "ts": anon.ts})
    gone = roles[roles.author.isna() & roles.parent_id.notna() & ~roles.is_bot]
    resp = pd.concat(
        [
            e.loc[e.target_item_id.notna(), ["target_item_id", "ts"]].set_axis(["item_id", "ts"], axis=1),
            anon[["item_id", "ts"]],
            gone[["parent_id", "created_at"]].set_axis(["item_id", "ts"], axis=1),
        ],
        ignore_index=True,
    )
    resp = resp.merge(roles[["item_id", "created_at"]], on="item_id")
    resp = resp[resp.ts >= resp.created_at.dt.floor("D")]
    resp["ts"] = resp.ts.where(resp.ts > resp.created_at, resp.created_at)
    first = resp.groupby("item_id").ts.min().rename("first_response_ts")

    humans = roles[~roles.is_bot]
    q = humans[["item_id", "author", "created_at"]].set_axis(["answers_item", "q_author", "asked"], axis=1)
    h = humans.loc[humans.answers_item.notna(), ["item_id", "answers_item", "author", "created_at"]].merge(
        q, on="answers_item"
    )
    h = h[h.q_author.isna() | h.author.isna() | (h.q_author != h.author)]
    g = h.groupby("answers_item").agg(t=("created_at", "min"), asked=("asked", "min"))
    answered = g.t.where(g.t > g.asked, g.asked).rename("answered_ts")

    sup_kinds = ["reply", "answer", *iv["support_verbs"]]
    s = e.loc[e.kind.isin(sup_kinds) & e.target_item_id.notna(), ["target_item_id", "actor", "ts"]]
    s = pd.concat([s.set_axis(["item_id", "who", "ts"], axis=1), anon], ignore_index=True)
    s = s.groupby(["item_id", "who"], as_index=False).ts.min().sort_values(["item_id", "ts", "who"])
    s = s[s.groupby("item_id").cumcount() == k - 1]
    support = s.set_index("item_id").ts.rename("support_ts")

    f = humans.join(first, on="item_id").join(answered, on="item_id").join(support, on="item_id")
    f["helps_other"] = f.item_id.isin(h.item_id)
    f["share_eligible"] = (
        ~f.is_question
        & ~f.is_social
        & ~(f.is_gratitude & ~f.is_answer)
        & (f.is_root | f.is_resource | f.is_answer)
    )
    return f


def activity(
    roles: pd.DataFrame, actions: pd.DataFrame, who: pd.DataFrame, maturity: dict[str, Any]
) -> pd.DataFrame:
    """Everything people did: items written and actions taken; ``counted`` when others can see it."""
    h = roles[~roles.is_bot & roles.created_at.notna() & roles.author.notna()]
    authored = pd.DataFrame(
        {
            "member_id": h.author,
            "community_id": h.community_id,
            "ts": h.created_at,
            "item_id": h.item_id,
            "verb": "author",
            "authored": True,
            "counted": True,
        }
    )
    a = actions[actions.actor_id.notna() & actions.ts.notna()]
    a = a.merge(who.set_axis(["actor_id", "member", "bot"], axis=1), on="actor_id", how="left")
    a = a[~_flag(a.bot)]
    comm = a.community_id
    orphan = comm.isna()
    if orphan.any():
        comm = comm.copy()
        comm[orphan] = a.item_id[orphan].map(roles.set_index("item_id").community_id)
    done = pd.DataFrame(
        {
            "member_id": a.member.fillna(a.actor_id),
            "community_id": comm,
            "ts": a.ts,
            "item_id": a.item_id,
            "verb": a.verb,
            "authored": False,
            "counted": a.verb.isin(maturity["interactions"]["given_verbs"]),
        }
    )
    done = done[done.community_id.notna()]
    return pd.concat([authored, done], ignore_index=True).drop_duplicates()


KEY = ["member_id", "community_id", "pidx"]


def member_stages(
    act: pd.DataFrame, f: pd.DataFrame, e: pd.DataFrame, per: pd.DataFrame, maturity: dict[str, Any]
) -> pd.DataFrame:
    days = int(maturity["window"]["days"])
    st, pers = maturity["stages"], maturity["personas"]
    # one row per member, community and month from their first month until their activity has left the
    # window (plus one), never past the community's last active month
    act = act.assign(m=_month(act.ts))
    span = act.groupby(["member_id", "community_id"], as_index=False).agg(lo=("m", "min"), hi=("m", "max"))
    span = span.join(act.groupby("community_id").m.max().rename("clast"), on="community_id")
    span["hi"] = np.minimum(span.hi + days // 28 + 2, span.clast)
    span["hi"] = np.minimum(span.hi, per.pidx.max())
    n = (span.hi - span.lo + 1).to_numpy()
    grid = span.loc[span.index.repeat(n), ["member_id", "community_id", "lo"]]
    grid["pidx"] = grid.lo + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    grid["is_first"] = grid.pidx == grid.lo
    grid = grid.drop(columns="lo").merge(per[["pidx", "period"]], on="pidx")

    act["day"] = act.ts.dt.floor("D")
    act["n"] = act.counted.astype("int64")
    act["np"] = 1 - act.n
    daily = act.groupby(["member_id", "community_id", "day"], as_index=False)[["n", "np"]].sum()
    counts = in_windows(daily, "day", per, days).groupby(KEY)[["n", "np"]].sum()
    counts.columns = ["n_interactions", "n_passive"]

    fw = in_windows(f.rename(columns={"author": "member_id"}), "created_at", per, days)
    made = pd.DataFrame(
        {
            "n_originals": fw.is_root,
            "n_replies": fw.parent_id.notna(),
            "shared_items": fw.share_eligible & (fw.first_response_ts < fw.win_end),
            "helped_items": fw.is_answer & fw.helps_other,
            "answered_questions": fw.is_question & (fw.answered_ts < fw.win_end),
            "supported_ideas": fw.is_idea & (fw.support_ts < fw.win_end),
        }
    ).astype("int64")
    made[KEY] = fw[KEY]
    made = made.groupby(KEY).sum()

    got = e.assign(day=e.ts.dt.floor("D")).groupby(["target", "community_id", "day"], as_index=False).size()
    got = in_windows(got.rename(columns={"target": "member_id"}), "day", per, days)
    got = got.groupby(KEY)["size"].sum().rename("n_received")

    ms = grid.join(counts, on=KEY).join(made, on=KEY).join(got, on=KEY)
    num = ["n_interactions", "n_passive", "n_received", *made.columns]
    ms[num] = ms[num].fillna(0).astype("int64")
    ms["active"] = ms.n_interactions > 0
    ms["present"] = (ms.n_interactions + ms.n_passive) > 0
    ms["connect"] = ms.n_interactions >= 1
    ms["share"] = ms.shared_items >= max(1, int(st["share_min_items"]))
    solve_min = max(1, int(st["solve_min_items"]))
    ms["solve"] = (ms.helped_items >= solve_min) | (ms.answered_questions >= solve_min)
    ms["innovate"] = ms.supported_ideas >= 1
    ms["stage"] = np.select(
        [ms.innovate, ms.solve, ms.share, ms.connect], ["innovate", "solve", "share", "connect"], "observer"
    )
    ms["stage_rank"] = np.select([ms.innovate, ms.solve, ms.share, ms.connect], [4, 3, 2, 1], 0)
    ratio = ms.n_interactions / np.maximum(ms.n_received, 1)
    posts = ms.n_originals.astype(float)
    mostly_posts = posts > (posts + ms.n_replies) * float(pers["broadcaster_min_original_share"])
    ms["persona"] = np.select(
        [
            ms.n_interactions < int(st["min_interactions"]),
            (ratio >= float(pers["responder_ratio"])) & mostly_posts,
            ratio >= float(pers["responder_ratio"]),
            ratio <= float(pers["catalyst_ratio"]),
        ],
        ["Observer", "Broadcaster", "Responder", "Catalyst"],
        "Engager",
    )
    return ms.reset_index(drop=True)


def stage_mix(ms: pd.DataFrame) -> pd.DataFrame:
    x = ms.assign(
        members=ms.present,
        observer=ms.present & ~ms.active,
        **{s: ms.active & (ms.stage == s) for s in ("connect", "share", "solve", "innovate")},
    )
    cols = ["members", "active", "observer", "connect", "share", "solve", "innovate"]
    return x.groupby(["community_id", "period", "pidx"], as_index=False)[cols].sum()


def journeys(ms: pd.DataFrame, actions: pd.DataFrame, who: pd.DataFrame, act: pd.DataFrame) -> pd.DataFrame:
    j = ms.sort_values(KEY).reset_index(drop=True)
    g = j.groupby(["member_id", "community_id"], sort=False)
    prev_active = _flag(g.active.shift())
    prev_stage, prev_rank = g.stage.shift(), g.stage_rank.shift()
    first_active = j.pidx.where(j.active).groupby([j.member_id, j.community_id]).transform("min")
    lv = actions[actions.verb == "leave"].merge(
        who.set_axis(["actor_id", "m", "b"], axis=1), on="actor_id", how="left"
    )
    lv = pd.DataFrame(
        {"member_id": lv.m.fillna(lv.actor_id), "community_id": lv.community_id, "pidx": _month(lv.ts)}
    )
    # a leave in a month of taking part is leaving a channel, not the community
    took = act[act.counted]
    took = pd.DataFrame(
        {"member_id": took.member_id, "community_id": took.community_id, "pidx": _month(took.ts)}
    )
    lv = lv.merge(took.drop_duplicates(), on=KEY, how="left", indicator=True)
    lv = lv[lv._merge == "left_only"].drop(columns="_merge")
    lv = lv.drop_duplicates().assign(left_now=True)
    left_now = _flag(j[KEY].merge(lv, on=KEY, how="left").left_now).to_numpy()
    j["prev_stage"] = prev_stage.where(prev_active)
    j["stage"] = j.stage.where(j.active)
    j["transition"] = np.select(
        [
            left_now | (prev_active & ~j.active),
            ~prev_active & (j.pidx == first_active),
            ~prev_active,
            j.stage_rank > prev_rank,
            j.stage_rank < prev_rank,
        ],
        ["left", "new", "returned", "moved up", "dropped"],
        "stayed",
    )
    j = j[j.active | prev_active | left_now]
    return j[["member_id", "community_id", "period", "pidx", "prev_stage", "stage", "transition"]]


def run(db: Path, out: Path | None = None) -> dict[str, int]:
    """The whole analysis in memory; the member stages, stage mix and journeys written to ``out``."""
    maturity, roles_model = models()
    t = read(db)
    who = people(t)
    per = periods(t, int(maturity["window"]["days"]))
    roles = item_roles(t, who, roles_model)
    e = edges(roles, t["actions"], who, maturity)
    f = facts(roles, e, t["actions"], maturity)
    act = activity(roles, t["actions"], who, maturity)
    ms = member_stages(act, f, e, per, maturity)
    mix = stage_mix(ms)
    jr = journeys(ms, t["actions"], who, act)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, df in (("member_stages", ms), ("stage_mix", mix), ("journeys", jr)):
            df.to_parquet(out / f"{name}.parquet", index=False)
    return {
        "item_roles": len(roles),
        "edges": len(e),
        "member_stages": len(ms),
        "stage_mix": len(mix),
        "journeys": len(jr),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.peer_pandas", description=__doc__.split("\n")[0])
    ap.add_argument("db", type=Path, help="a workspace's covalue.duckdb")
    ap.add_argument("--out", type=Path, help="folder for member_stages, stage_mix and journeys (Parquet)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.db, args.out)
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "peak_mb": peak_mb(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
