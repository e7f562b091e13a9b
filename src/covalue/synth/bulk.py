"""Bulk communities for scale: members, items and actions drawn with vectorised numpy/Arrow, so that
ten million actions generate in well under two minutes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from covalue import identity, schema
from covalue.sources.base import text_stats
from covalue.synth.org import EMOJI, JOB_ROLES, LOCATIONS, N_MONTHS, ORG_UNITS, SECRET
from covalue.synth.texts import POOLS, ROLES

# ------------------------------------------------------------------------------------------------
# bulk communities: vectorised, for scale
# ------------------------------------------------------------------------------------------------

_ROLE_TEXTS = [txt for r in ROLES for txt in POOLS[r]]
_ROLE_OFFSET = np.cumsum([0] + [len(POOLS[r]) for r in ROLES])
_ROLE_INDEX = {r: k for k, r in enumerate(ROLES)}
_TEXT_STATS = np.array([text_stats(s) for s in _ROLE_TEXTS], dtype=np.int32)
_KIND_NAMES = ("question", "post", "idea", "answer", "reply")


def bulk(
    seed: int, n_actions: int, month_starts: list[datetime], native_start: int
) -> tuple[dict[str, pa.Table], pa.Table, dict[str, Any]]:
    """Healthy-like communities of ~5,000 members each with ``n_actions`` actions in total."""
    rng = np.random.default_rng([seed, 2])
    us = np.array(
        [int((d - datetime(1970, 1, 1)).total_seconds()) * 1_000_000 for d in month_starts], np.int64
    )
    end = us[-1] - 1
    n_members = max(20, n_actions // 100)
    n_comm = max(1, -(-n_members // 5000))
    names = [f"org-{k + 1:02d}" for k in range(n_comm)]
    sources = [f"synth:{n}" for n in names]
    msize = np.full(n_comm, n_members // n_comm, np.int64)
    msize[: n_members % n_comm] += 1
    mstart = np.concatenate([[0], np.cumsum(msize)[:-1]])
    mcomm = np.repeat(np.arange(n_comm), msize)
    natives = [f"u{native_start + k}" for k in range(n_members)]
    mids = [identity.identity_id(SECRET, sources[mcomm[k]], natives[k]) for k in range(n_members)]
    mid_arr = pa.array(mids, pa.string())

    # items: 30 % thread roots (questions, posts, ideas), the rest answers/replies in the same community
    n_items = max(2 * n_comm, n_actions // 8)
    isize = (n_items * msize) // n_members
    isize[: n_items - isize.sum()] += 1
    istart = np.concatenate([[0], np.cumsum(isize)[:-1]])
    icomm = np.repeat(np.arange(n_comm), isize)
    is_root = rng.random(n_items) < 0.3
    is_root[istart] = True
    roots = np.flatnonzero(is_root)
    rcount = np.bincount(icomm[roots], minlength=n_comm)
    rstart = np.concatenate([[0], np.cumsum(rcount)[:-1]])
    kind = np.where(rng.random(n_items) < 0.4, 0, np.where(rng.random(n_items) < 0.85, 1, 2)).astype(np.int8)
    replies = np.flatnonzero(~is_root)
    rc = icomm[replies]
    parent = np.full(n_items, -1, np.int64)
    parent[replies] = roots[rstart[rc] + (rng.random(len(replies)) * rcount[rc]).astype(np.int64)]
    kind[replies] = np.where(kind[parent[replies]] == 0, 3, 4)
    author = mstart[icomm] + (msize[icomm] * rng.random(n_items) ** 2).astype(np.int64)
    # people mostly answer and react within a small circle of colleagues (the 10 around them), so the
    # interaction graph has about ten partners per member (~1 M edges at 10 M actions), as real ones do
    local = rng.random(len(replies)) < 0.95
    author[replies] = np.where(
        local, _near(rng, author[parent[replies]], icomm[replies], mstart, msize), author[replies]
    )
    month = rng.integers(0, N_MONTHS, n_items)
    ts = us[month] + (rng.integers(4, 24, n_items) * 86400 + rng.integers(0, 86400, n_items)) * 1_000_000
    ts[replies] = np.minimum(
        ts[parent[replies]] + (rng.exponential(5 * 3600, len(replies)) * 1e6).astype(np.int64), end
    )
    thread = np.where(is_root, np.arange(n_items), parent)
    accepted = np.zeros(n_items, bool)
    ans = np.flatnonzero(kind == 3)
    if len(ans):
        order = ans[np.lexsort((ts[ans], parent[ans]))]
        first = order[np.concatenate([[True], parent[order][1:] != parent[order][:-1]])]
        accepted[first[rng.random(len(first)) < 0.6]] = True
    # roles from kinds: posts are social or resource shares, replies to ideas support them
    role = np.empty(n_items, np.int8)
    role[kind == 0] = _ROLE_INDEX["question"]
    role[kind == 2] = _ROLE_INDEX["idea"]
    role[kind == 3] = _ROLE_INDEX["answer"]
    post = kind == 1
    role[post] = np.where(rng.random(post.sum()) < 0.4, _ROLE_INDEX["resource"], _ROLE_INDEX["social"])
    rep = kind == 4
    pk = np.where(rep, kind[np.maximum(parent, 0)], -1)
    r = rng.random(n_items)
    role[rep] = np.where(
        pk[rep] == 2,
        _ROLE_INDEX["support"],
        np.where(r[rep] < 0.15, _ROLE_INDEX["gratitude"], _ROLE_INDEX["discussion"]),
    )
    role_len = np.diff(_ROLE_OFFSET)
    text_idx = _ROLE_OFFSET[role] + (rng.random(n_items) * role_len[role]).astype(np.int64)
    space_of_item = np.where(kind[thread] == 0, 1, 0)  # questions live in "questions", the rest in "general"

    # actions: one join per member, some leaves, accepts of accepted answers, the rest on items
    acc_items = np.flatnonzero(accepted)
    n_leave = n_members * 3 // 100
    n_rest = max(0, n_actions - n_members - n_leave - len(acc_items))
    a_item = rng.integers(0, n_items, n_rest)
    a_comm = icomm[a_item]
    a_actor = np.where(
        rng.random(n_rest) < 0.97,
        _near(rng, author[a_item], a_comm, mstart, msize),
        mstart[a_comm] + (msize[a_comm] * rng.random(n_rest) ** 1.5).astype(np.int64),
    )
    a_verb = rng.choice(4, size=n_rest, p=[0.42, 0.35, 0.15, 0.08])  # view, react, vote, mention
    a_ts = np.minimum(ts[a_item] + rng.integers(0, 3 * 86400, n_rest) * 1_000_000, end)
    mention_target = _near(rng, a_actor, a_comm, mstart, msize)
    a_target = np.where(a_verb == 0, -1, np.where(a_verb == 3, mention_target, author[a_item]))
    # join each member just before their first act (or in month 1), leavers a day after their last
    first = np.full(n_members, end, np.int64)
    np.minimum.at(first, author, ts)
    np.minimum.at(first, a_actor, a_ts)
    join_ts = np.maximum(np.minimum(first - 3_600_000_000, us[1]), us[0])
    leavers = np.sort(rng.choice(n_members, size=n_leave, replace=False))
    last = np.full(n_members, us[0], np.int64)
    np.maximum.at(last, author, ts)
    np.maximum.at(last, a_actor, a_ts)
    leave_ts = np.minimum(last[leavers] + 86_400_000_000, end)
    acc_asker = author[parent[acc_items]]
    acc_ts = np.minimum(ts[acc_items] + 7_200_000_000, end)

    verbs = pa.array(["join", "leave", "accept", "view", "react", "vote", "mention"])
    n_acc = len(acc_items)
    act_actor = np.concatenate([np.arange(n_members), leavers, acc_asker, a_actor])
    act_item = np.concatenate([np.full(n_members + n_leave, -1), acc_items, a_item])
    act_target = np.concatenate([np.full(n_members + n_leave, -1), author[acc_items], a_target])
    act_ts = np.concatenate([join_ts, leave_ts, acc_ts, a_ts])
    act_verb = np.concatenate(
        [
            np.zeros(n_members, np.int8),
            np.ones(n_leave, np.int8),
            np.full(n_acc, 2, np.int8),
            (a_verb + 3).astype(np.int8),
        ]
    )
    act_comm = np.concatenate([mcomm, mcomm[leavers], icomm[acc_items], a_comm])
    act_space = np.where(act_item >= 0, space_of_item[np.maximum(act_item, 0)], 0)
    n_act = len(act_ts)

    src_arr = pa.array(sources)
    comm_arr = pa.array(names)
    space_ids = pa.array([f"{s}:{sp}" for s in sources for sp in ("general", "questions")])
    item_prefix = pa.array([f"{s}:" for s in sources])
    item_id = _join(item_prefix.take(icomm), np.arange(n_items) + 1)
    item_id_arr = item_id

    def item_ref(idx: np.ndarray) -> pa.Array:
        return item_id_arr.take(pa.array(np.where(idx >= 0, idx, 0), mask=idx < 0))

    def person_ref(idx: np.ndarray) -> pa.Array:
        return mid_arr.take(pa.array(np.where(idx >= 0, idx, 0), mask=idx < 0))

    texts = pa.array(_ROLE_TEXTS).take(text_idx)
    stats = _TEXT_STATS[text_idx]
    views = np.bincount(a_item[a_verb == 0], minlength=n_items)
    score = np.bincount(a_item[a_verb == 2], minlength=n_items)
    items = pa.Table.from_arrays(
        [
            item_id,
            src_arr.take(icomm),
            space_ids.take(icomm * 2 + space_of_item),
            comm_arr.take(icomm),
            item_ref(thread),
            item_ref(parent),
            person_ref(author),
            pa.array(ts, schema.TS),
            pa.array(_KIND_NAMES).take(kind),
            pa.nulls(n_items, pa.string()),
            texts,
            pa.array(stats[:, 0], pa.int32()),
            pa.array(stats[:, 1], pa.int32()),
            pa.array(np.zeros(n_items, np.int32)),
            pa.array(accepted),
            pa.array(views.astype(np.int64)),
            pa.array(score.astype(np.int64)),
        ],
        schema=schema.ITEMS,
    )
    verb_code = act_verb
    emoji = pa.array(list(EMOJI)).take(rng.integers(0, len(EMOJI), n_act))
    is_react = pa.array(verb_code == 4)
    is_vote = verb_code == 5
    actions = pa.Table.from_arrays(
        [
            _join(pa.array([f"{s}:a" for s in sources]).take(act_comm), np.arange(n_act) + 1),
            src_arr.take(act_comm),
            space_ids.take(act_comm * 2 + act_space),
            comm_arr.take(act_comm),
            pa.array(act_ts, schema.TS),
            person_ref(act_actor),
            verbs.take(act_verb),
            item_ref(act_item),
            person_ref(act_target),
            pa.array(np.ones(n_act), mask=~is_vote),
            pc.if_else(is_react, emoji, pa.nulls(n_act, pa.string())),
        ],
        schema=schema.ACTIONS,
    )
    left_at = np.full(n_members, -1, np.int64)
    left_at[leavers] = leave_ts
    members = pa.Table.from_arrays(
        [
            mid_arr,
            src_arr.take(mcomm),
            pa.array(join_ts, schema.TS),
            pa.array(join_ts, schema.TS),
            pa.array(np.maximum(left_at, 0), schema.TS, mask=left_at < 0),
            pa.array(list(ORG_UNITS)).take(rng.integers(0, len(ORG_UNITS), n_members)),
            pa.array(list(LOCATIONS)).take(rng.integers(0, len(LOCATIONS), n_members)),
            pa.array(list(JOB_ROLES)).take(rng.integers(0, len(JOB_ROLES), n_members)),
            pa.array(np.zeros(n_members, bool)),
        ],
        schema=schema.MEMBERS,
    )
    identities = pa.Table.from_arrays(
        [
            mid_arr,
            mid_arr,
            src_arr.take(mcomm),
            pa.array(natives),
            _join(
                pa.array(["Person "]).take(np.zeros(n_members, np.int64)), np.arange(n_members) + native_start
            ),
            pa.nulls(n_members, pa.string()),
            pa.array(np.zeros(n_members, bool)),
        ],
        schema=schema.IDENTITIES,
    )
    tables = {
        "communities": pa.table({"community_id": names, "name": names}, schema=schema.COMMUNITIES),
        "spaces": pa.table(
            {
                "space_id": space_ids,
                "source": [s for s in sources for _ in range(2)],
                "name": ["general", "questions"] * n_comm,
                "kind": ["forum"] * (2 * n_comm),
                "community_id": [n for n in names for _ in range(2)],
            },
            schema=schema.SPACES,
        ),
        "members": members,
        "identities": identities,
        "items": items,
        "actions": actions,
    }
    roles = pa.table({"item_id": item_id, "role": pa.array(list(ROLES)).take(role)})
    info = {"communities": names, "members": n_members, "items": n_items, "actions": n_act}
    return tables, roles, info


def _near(
    rng: np.random.Generator, who: np.ndarray, comm: np.ndarray, mstart: np.ndarray, msize: np.ndarray
) -> np.ndarray:
    """A colleague of each member in ``who``: one of the 10 members next to them in their community."""
    off = rng.integers(1, 6, len(who)) * np.where(rng.random(len(who)) < 0.5, -1, 1)
    return mstart[comm] + (who - mstart[comm] + off) % msize[comm]


def _join(prefix: pa.Array, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")
