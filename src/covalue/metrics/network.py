"""The interaction network of a community: who responds to whom, its core group, the people who bridge
otherwise separate groups, and the picture of it a person can read.

The graph is undirected and weighted: two members are tied when either responded to the other (reply,
answer, reaction, vote, accept, mention) in the window, and the weight is how many times. The edges are
aggregated in the engine (:func:`window_ties`); only the member pairs come into Python, where
rustworkx gives degrees and core numbers (k-cores) and betweenness gives the bridges:

- exact betweenness (Brandes, rustworkx) while ``nodes × edges`` stays under a work budget;
- beyond it, networkit's ``EstimateBetweenness``: shortest paths from a fixed number of sampled pivots,
  seconds on a million edges where the exact measure takes hours.

Bridging is betweenness as a share of the community's highest (the strongest bridge has 1.0), so it
reads the same whichever of the two computed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import rustworkx as rx

from covalue.presentation import hours


def window_ties(edges: ir.Table, windows: ir.Table) -> ir.Table:
    """Member pairs tied in each community's window: ``community_id, a, b, weight`` with ``a < b``.

    ``windows`` has one row per community: ``community_id, win_start, win_end`` (``win_start <= ts <
    win_end``); each community may have its own window.
    """
    w = windows.select(_wc=windows.community_id, _ws=windows.win_start, _we=windows.win_end)
    e = edges.join(w, edges.community_id == w._wc)
    e = e.filter((e.ts >= e._ws) & (e.ts < e._we) & (e.actor != e.target))
    e = e.select("community_id", a=ibis.least(e.actor, e.target), b=ibis.greatest(e.actor, e.target))
    return e.group_by("community_id", "a", "b").aggregate(weight=e.count())


@dataclass
class Graph:
    """An undirected weighted graph over member ids: node ``k`` is ``ids[k]``."""

    ids: list[str]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.ids)

    @property
    def n_edges(self) -> int:
        return len(self.src)

    @classmethod
    def from_pairs(cls, a: Any, b: Any, weight: Any) -> Graph:
        """From parallel columns of member ids (Arrow or lists) and tie weights; a pair given twice is
        summed, self ties are dropped."""
        a = pa.chunked_array([a]) if not isinstance(a, pa.ChunkedArray) else a
        b = pa.chunked_array([b]) if not isinstance(b, pa.ChunkedArray) else b
        # the type is given because a period without ties has no chunks to infer it from
        both = pa.chunked_array(a.chunks + b.chunks, type=a.type).combine_chunks()
        enc = pc.dictionary_encode(both)
        # nodes in member-id order, not in the order the engine happened to return the rows: sampled
        # betweenness picks its pivots by node number, so this keeps it the same from run to run
        found = enc.dictionary.to_pylist()
        order = sorted(range(len(found)), key=found.__getitem__)
        ids = [found[k] for k in order]
        place = np.empty(len(found), np.int64)
        place[order] = np.arange(len(found), dtype=np.int64)
        codes = place[enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
        n = len(a)
        src, dst = codes[:n], codes[n:]
        w = np.asarray(weight, dtype=np.float64) if n else np.zeros(0)
        keep = src != dst
        src, dst, w = src[keep], dst[keep], w[keep]
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        key = lo * max(len(ids), 1) + hi
        uniq, inv = np.unique(key, return_inverse=True)
        summed = np.bincount(inv, weights=w, minlength=len(uniq)) if len(uniq) else np.zeros(0)
        m = max(len(ids), 1)
        return cls(ids=ids, src=uniq // m, dst=uniq % m, weight=summed)

    def rx_graph(self) -> rx.PyGraph:
        g = rx.PyGraph(multigraph=False)
        g.add_nodes_from(range(self.n_nodes))
        g.extend_from_edge_list(list(zip(self.src.tolist(), self.dst.tolist(), strict=True)))
        return g


@dataclass
class Measures:
    """Per-node measures of one graph (arrays aligned with ``graph.ids``) and how they were computed."""

    graph: Graph
    degree: np.ndarray
    strength: np.ndarray  # weighted degree: interactions with anyone
    core_number: np.ndarray
    betweenness: np.ndarray  # raw, on the scale of the method used
    bridging: np.ndarray  # betweenness / the highest in the graph, 0..1
    exact: bool
    pivots: int
    core_k: int
    core: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # members of the core group

    @property
    def method(self) -> str:
        g = self.graph
        if self.exact:
            return (
                f"Exact betweenness (Brandes, rustworkx) on {g.n_nodes:,} members and {g.n_edges:,} ties; "
                "core groups from rustworkx core numbers."
            )
        return (
            f"Sampled betweenness (networkit EstimateBetweenness, {self.pivots:,} random pivots) on "
            f"{g.n_nodes:,} members and {g.n_edges:,} ties, where exact betweenness would be too slow; "
            "core groups from rustworkx core numbers."
        )

    def index(self) -> dict[str, int]:
        return {m: k for k, m in enumerate(self.graph.ids)}


def betweenness(g: Graph, *, exact_max_work: float, pivots: int, seed: int = 1) -> tuple[np.ndarray, bool]:
    """Raw betweenness of every node and whether it is exact: exact while ``nodes × edges <=
    exact_max_work``, else estimated from ``pivots`` sampled source nodes (networkit)."""
    n = g.n_nodes
    if n == 0:
        return np.zeros(0), True
    if n * max(g.n_edges, 1) <= exact_max_work or n <= pivots:
        bc = rx.betweenness_centrality(g.rx_graph(), normalized=False)
        out = np.zeros(n)
        for k, v in bc.items():
            out[k] = v
        return out, True
    import networkit as nk

    nk.setSeed(seed, False)
    ng = nk.Graph(n, weighted=False, directed=False)
    ng.addEdges((g.src.astype(np.uint64), g.dst.astype(np.uint64)))
    # one thread: with several, which thread draws which pivot varies, and so would the scores
    est = nk.centrality.EstimateBetweenness(ng, int(pivots), False, False)
    est.run()
    return np.asarray(est.scores(), dtype=np.float64), False


def core_numbers(g: Graph) -> np.ndarray:
    out = np.zeros(g.n_nodes, np.int64)
    if g.n_nodes == 0:
        return out
    for k, v in rx.core_number(g.rx_graph()).items():
        out[k] = v
    return out


def core_level(core_number: np.ndarray, min_members: int) -> int:
    """The core group's k: the highest k whose k-core holds at least ``min_members`` members (or the
    highest core there is, when no core is that large)."""
    if len(core_number) == 0:
        return 0
    ks = np.sort(core_number)[::-1]
    need = min(int(min_members), len(ks))
    return int(ks[need - 1]) if need >= 1 else int(ks[0])


def measure(
    g: Graph, *, exact_max_work: float = 2e7, pivots: int = 100, core_min_members: int = 5, seed: int = 1
) -> Measures:
    """Degrees, core numbers, the core group and bridging for every member of ``g``."""
    n = g.n_nodes
    degree = (
        np.bincount(np.concatenate([g.src, g.dst]), minlength=n).astype(np.int64) if n else np.zeros(0, int)
    )
    strength = (
        np.bincount(g.src, weights=g.weight, minlength=n) + np.bincount(g.dst, weights=g.weight, minlength=n)
        if n
        else np.zeros(0)
    )
    cores = core_numbers(g)
    bc, exact = betweenness(g, exact_max_work=exact_max_work, pivots=pivots, seed=seed)
    top = float(bc.max()) if n else 0.0
    bridging = bc / top if top > 0 else np.zeros(n)
    k = core_level(cores, core_min_members)
    # a core of 0 is no core: isolated nodes cannot occur here, so k >= 1 whenever there is a tie
    core = (cores >= k) & (k > 0)
    return Measures(
        graph=g,
        degree=degree,
        strength=strength,
        core_number=cores,
        betweenness=bc,
        bridging=np.clip(bridging, 0.0, 1.0),
        exact=exact,
        pivots=0 if exact else int(pivots),
        core_k=k,
        core=core,
    )


def picture(
    m: Measures, *, must: Sequence[str] = (), max_nodes: int = 60, ties_per_node: int = 3
) -> tuple[list[int], list[tuple[int, int, float]]]:
    """The nodes and edges of a readable picture: ``must`` (the champions) first, then the core group by
    strength, then the members most strongly tied to those already in; each node keeps its
    ``ties_per_node`` strongest ties inside the picture (so never a hairball)."""
    g = m.graph
    idx = m.index()
    chosen: list[int] = []
    seen: set[int] = set()

    def add(k: int) -> None:
        if k not in seen and len(chosen) < max_nodes:
            seen.add(k)
            chosen.append(k)

    for mid in must:
        if mid in idx:
            add(idx[mid])
    order = np.lexsort((-m.strength, ~m.core))  # core first, then by strength
    for k in order:
        if not m.core[k] or len(chosen) >= max_nodes:
            break
        add(int(k))
    if len(chosen) < max_nodes and g.n_edges:
        # the strongest ties from the picture to members outside it pull those members in
        inside = np.zeros(g.n_nodes, bool)
        inside[chosen] = True
        pull = np.zeros(g.n_nodes)
        cross_s = inside[g.src] & ~inside[g.dst]
        cross_d = inside[g.dst] & ~inside[g.src]
        np.add.at(pull, g.dst[cross_s], g.weight[cross_s])
        np.add.at(pull, g.src[cross_d], g.weight[cross_d])
        for k in np.lexsort((-m.strength, -pull)):
            if len(chosen) >= max_nodes or (pull[k] <= 0 and chosen):
                break
            add(int(k))
    inside = np.zeros(g.n_nodes, bool)
    inside[chosen] = True
    sel = np.flatnonzero(inside[g.src] & inside[g.dst])
    kept: set[int] = set()
    by_node: dict[int, list[int]] = {}
    for e in sel:
        by_node.setdefault(int(g.src[e]), []).append(int(e))
        by_node.setdefault(int(g.dst[e]), []).append(int(e))
    for es in by_node.values():
        es.sort(key=lambda e: (-g.weight[e], e))
        kept.update(es[:ties_per_node])
    edges = [
        (int(g.src[e]), int(g.dst[e]), float(g.weight[e])) for e in sorted(kept, key=lambda e: -g.weight[e])
    ]
    return chosen, edges


# -- champions ---------------------------------------------------------------------------------------
def helper_stats(
    facts: ir.Table, roles: ir.Table, edges: ir.Table, items: ir.Table, windows: ir.Table
) -> ir.Table:
    """Per community and member, in the community's window: ``answers`` (written to other members'
    questions), ``questions_answered`` (distinct questions those answers went to), ``helped_people``
    (distinct members whose questions they answered), ``people_helped`` (distinct members they answered
    or replied to: the champions' floor), ``accepted_or_thanked`` (answers accepted, or thanked by
    someone else in a reply), ``responses`` and ``people_responded`` (any response to another member,
    and to how many distinct members), ``median_response_h`` (hours from a post of the window until
    their reply or answer to it, median; None without one)."""
    w = windows.select(_wc=windows.community_id, _ws=windows.win_start, _we=windows.win_end)

    def inside(t: ir.Table, ts: str) -> ir.Table:
        j = t.join(w, t.community_id == w._wc)
        return j.filter((j[ts] >= j._ws) & (j[ts] < j._we)).drop("_wc", "_ws", "_we")

    ans = inside(facts.filter(facts.is_answer & facts.seeker.notnull()), "created_at")
    acc_items = items.filter(items.accepted.fill_null(False)).select(_acc=items.item_id)
    acc_edges = edges.filter(edges.kind == "accept").select(_acc=edges.target_item_id)
    g = roles.filter(roles.is_gratitude & roles.parent_id.notnull())
    g = g.select(_acc=g.parent_id, _gauthor=g.author_member)
    ans_auth = ans.select(_aid=ans.item_id, _aauthor=ans.author_member)
    thanked = g.join(ans_auth, (g._acc == ans_auth._aid) & (g._gauthor != ans_auth._aauthor)).select("_acc")
    good = acc_items.union(acc_edges).union(thanked).distinct()
    ans = ans.left_join(good, ans.item_id == good._acc)
    helped = ans.group_by(ans.community_id, member_id=ans.author_member).aggregate(
        answers=ans.count(),
        questions_answered=ans.answers_item.nunique(),
        helped_people=ans.seeker.nunique(),
        accepted_or_thanked=ans._acc.notnull().ifelse(1, 0).sum(),
    )

    # everyone they responded to (replies, answers, reactions, votes, accepts, mentions: SWOOP's response)
    anyr = inside(edges, "ts")
    responded = anyr.group_by(anyr.community_id, member_id=anyr.actor).aggregate(
        responses=anyr.count(), people_responded=anyr.target.nunique()
    )
    # the people they helped, each counted once whether answered, replied to or both: the floor must not
    # add two counts of one person (reactions and votes are attention, not help)
    said = anyr.filter(
        anyr.kind.isin(("reply", "answer")) & anyr.target.notnull() & (anyr.actor != anyr.target)
    )
    pairs = said.select("community_id", _hm=said.actor, _hp=said.target).union(
        ans.filter(ans.seeker != ans.author_member).select(
            "community_id", _hm=ans.author_member, _hp=ans.seeker
        )
    )
    supported = pairs.group_by(_pc=pairs.community_id, _pm=pairs._hm).aggregate(
        people_helped=pairs._hp.nunique()
    )
    # speed: hours from a post of the window to their reply or answer (late answers to old threads would
    # say more about the archive than about the helper)
    resp = anyr.filter(anyr.kind.isin(("reply", "answer")) & anyr.target_item_id.notnull())
    tgt = roles.select(_tid=roles.item_id, _tts=roles.created_at, _tc=roles.community_id)
    resp = resp.join(tgt, resp.target_item_id == tgt._tid)
    _wv = windows.view()
    w2 = _wv.select(_vc=_wv.community_id, _vs=_wv.win_start)
    resp = resp.join(w2, resp._tc == w2._vc)
    resp = resp.filter(resp._tts >= resp._vs)
    waited = (resp.ts.epoch_seconds() - resp._tts.epoch_seconds()).cast("float64") / 3600.0
    resp = resp.mutate(_h=ibis.greatest(waited, 0.0))
    speed = resp.group_by(_sc=resp.community_id, _sm=resp.actor).aggregate(
        median_response_h=resp._h.quantile(0.5)
    )

    rs = responded.left_join(
        speed, (responded.community_id == speed._sc) & (responded.member_id == speed._sm)
    )
    rs = rs.drop("_sc", "_sm")
    h = helped.rename(_hc="community_id", _hm="member_id")
    j = rs.outer_join(h, (rs.community_id == h._hc) & (rs.member_id == h._hm))
    j = j.select(
        "answers",
        "questions_answered",
        "helped_people",
        "accepted_or_thanked",
        "responses",
        "people_responded",
        "median_response_h",
        community_id=j.community_id.coalesce(j._hc),
        member_id=j.member_id.coalesce(j._hm),
    )
    sup = supported.view()
    j = j.view()
    j = j.left_join(sup, [j.community_id == sup._pc, j.member_id == sup._pm])
    return j.select(
        "community_id",
        "member_id",
        answers=j.answers.fill_null(0).cast("int64"),
        questions_answered=j.questions_answered.fill_null(0).cast("int64"),
        helped_people=j.helped_people.fill_null(0).cast("int64"),
        people_helped=j.people_helped.fill_null(0).cast("int64"),
        accepted_or_thanked=j.accepted_or_thanked.fill_null(0).cast("int64"),
        responses=j.responses.fill_null(0).cast("int64"),
        people_responded=j.people_responded.fill_null(0).cast("int64"),
        median_response_h=j.median_response_h,
    )


def rank_champions(
    rows: list[dict[str, Any]], m: Measures | None, model: dict[str, Any]
) -> list[dict[str, Any]]:
    """Score and rank the helpers of one community (rows of :func:`helper_stats`).

    The score (0-100) is a weighted mean of: distinct people helped and people responded to, answers
    accepted or thanked (each as a share of the community's highest), response speed
    (``half / (half + median hours)``), bridging and being in the core group. Weights and the
    eligibility floor (distinct people answered or replied to) are ``[champions]`` in
    models/health.toml. Rows gain ``score``, ``rank``,
    ``bridging`` and ``in_core``; the ineligible are left out.
    """
    c = model["champions"]
    w = {k: float(c[f"weight_{k}"]) for k in ("helped", "responded", "accepted", "speed", "bridging", "core")}
    total_w = sum(w.values()) or 1.0
    half = float(c["speed_half_hours"])
    floor = int(c["min_people"])
    idx = m.index() if m is not None else {}
    # distinct people helped (answered or replied to), each person once
    pool = [r for r in rows if r["people_helped"] >= floor]
    if not pool:
        return []

    def top(key: str) -> float:
        return float(max(r[key] for r in pool)) or 1.0

    tops = {k: top(k) for k in ("helped_people", "people_responded", "accepted_or_thanked")}
    out = []
    for r in pool:
        k = idx.get(r["member_id"])
        bridging = float(m.bridging[k]) if k is not None else 0.0
        in_core = bool(m.core[k]) if k is not None else False
        h = r.get("median_response_h")
        speed = half / (half + float(h)) if h is not None else 0.0
        parts = {
            "helped": r["helped_people"] / tops["helped_people"],
            "responded": r["people_responded"] / tops["people_responded"],
            "accepted": r["accepted_or_thanked"] / tops["accepted_or_thanked"],
            "speed": speed,
            "bridging": bridging,
            "core": 1.0 if in_core else 0.0,
        }
        score = 100.0 * sum(w[p] * v for p, v in parts.items()) / total_w
        out.append({**r, "score": round(score, 1), "bridging": round(bridging, 3), "in_core": in_core})
    out.sort(key=lambda r: (-r["score"], -r["helped_people"], r["member_id"]))
    for i, r in enumerate(out, 1):
        r["rank"] = i
    return out


def champion_evidence(r: dict[str, Any], *, period: str, days: int) -> str:
    """One plain sentence with the numbers behind a champion's place."""
    parts = []
    if r["answers"]:
        n, q, who = r["answers"], r.get("questions_answered") or r["answers"], r["helped_people"]
        wrote = f"wrote {n} answer{'s' * (n != 1)} to " if n != q else "answered "
        parts.append(
            f"{wrote}{q} question{'s' * (q != 1)} from {who} different member{'s' * (who != 1)}"
            f" ({r['accepted_or_thanked']} accepted or thanked)"
        )
    if r["people_responded"]:
        parts.append(f"responded to {r['people_responded']} member{'s' * (r['people_responded'] != 1)}")
    h = r.get("median_response_h")
    if h is not None:
        parts.append(f"usually within {hours(h)}")
    where = "is in the core group" if r["in_core"] else "is outside the core group"
    bridge = (
        f"bridges groups more than most (bridging {r['bridging']:.2f})"
        if r["bridging"] >= 0.5
        else f"bridging {r['bridging']:.2f}"
    )
    return f"In the {days} days to the end of {period} they " + ", ".join(parts) + f"; {where} and {bridge}."
