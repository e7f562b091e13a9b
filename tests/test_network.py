"""The interaction network: measures agree with networkx, planted structure is found, and the planted
champions of the synthetic organisation come out on top."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import ibis
import networkx as nx
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import covalue
from covalue import diagnosis, journey, synth
from covalue.metrics import network as nw


def _graph(g: nx.Graph) -> nw.Graph:
    a = [str(u) for u, _ in g.edges()]
    b = [str(v) for _, v in g.edges()]
    return nw.Graph.from_pairs(pa.array(a), pa.array(b), [1.0] * len(a))


def _relative(values: dict) -> dict:
    top = max(values.values())
    return {k: (v / top if top else 0.0) for k, v in values.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_measures_agree_with_networkx(seed: int) -> None:
    g = nx.gnm_random_graph(120, 400, seed=seed)
    g.remove_nodes_from([n for n in list(g) if g.degree(n) == 0])
    m = nw.measure(_graph(g))
    assert m.exact
    idx = m.index()
    cores = nx.core_number(g)
    bc = _relative(nx.betweenness_centrality(g, normalized=False))
    for node in g:
        k = idx[str(node)]
        assert m.core_number[k] == cores[node]
        assert m.degree[k] == g.degree(node)
        assert m.bridging[k] == pytest.approx(bc[node], abs=1e-9)
    assert m.core_k == max(cores.values())


def test_karate_club_agrees_with_networkx() -> None:
    g = nx.karate_club_graph()
    m = nw.measure(_graph(g))
    idx = m.index()
    bc = _relative(nx.betweenness_centrality(g, normalized=False))
    assert {n: int(m.core_number[idx[str(n)]]) for n in g} == nx.core_number(g)
    top_nx = sorted(g, key=lambda n: -bc[n])[:3]
    top_ours = [int(m.graph.ids[k]) for k in np.argsort(-m.bridging)[:3]]
    assert top_ours == top_nx  # the club's instructor, president and their go-between


def test_sampled_betweenness_ranks_like_networkx() -> None:
    g = nx.barabasi_albert_graph(800, 3, seed=4)
    m = nw.measure(_graph(g), exact_max_work=0, pivots=150)
    assert not m.exact and m.pivots == 150
    assert "Sampled betweenness" in m.method and "150" in m.method
    idx = m.index()
    bc = nx.betweenness_centrality(g, normalized=False)
    nodes = list(g)
    ours = np.array([m.betweenness[idx[str(n)]] for n in nodes])
    truth = np.array([bc[n] for n in nodes])
    rank = np.corrcoef(np.argsort(np.argsort(ours)), np.argsort(np.argsort(truth)))[0, 1]
    assert rank > 0.9
    top_truth = set(sorted(nodes, key=lambda n: -bc[n])[:10])
    top_ours = {nodes[i] for i in np.argsort(-ours)[:10]}
    assert len(top_truth & top_ours) >= 7


def test_bridge_between_two_groups_and_the_core() -> None:
    """Two cliques of 6 joined only through one member (tied to two people on each side): that member
    bridges (1.0) and nobody else comes close; the core is both cliques (k = 5); a tail hangs off."""
    left = [f"l{i}" for i in range(6)]
    right = [f"r{i}" for i in range(6)]
    pairs = [(x, y) for grp in (left, right) for i, x in enumerate(grp) for y in grp[i + 1 :]]
    pairs += [("l0", "hub"), ("l1", "hub"), ("hub", "r0"), ("hub", "r1"), ("r5", "tail")]
    a, b = zip(*pairs, strict=True)
    m = nw.measure(nw.Graph.from_pairs(pa.array(a), pa.array(b), [1.0] * len(pairs)))
    idx = m.index()
    assert m.bridging[idx["hub"]] == 1.0
    assert sorted(m.bridging)[-2] < 0.6
    assert m.core_k == 5
    assert {m.graph.ids[k] for k in np.flatnonzero(m.core)} == set(left) | set(right)
    assert m.core_number[idx["tail"]] == 1


def test_picture_is_bounded_and_keeps_the_strongest_ties() -> None:
    g = nx.gnm_random_graph(400, 4000, seed=9)
    rng = np.random.default_rng(0)
    a = [str(u) for u, _ in g.edges()]
    b = [str(v) for _, v in g.edges()]
    w = rng.integers(1, 20, len(a)).astype(float)
    m = nw.measure(nw.Graph.from_pairs(pa.array(a), pa.array(b), w))
    nodes, edges = nw.picture(m, must=["7"], max_nodes=30, ties_per_node=3)
    assert len(nodes) == 30 and len(set(nodes)) == 30
    assert m.graph.ids[nodes[0]] == "7"  # a champion is always in the picture
    assert len(edges) <= 30 * 3
    inside = set(nodes)
    assert all(s in inside and t in inside for s, t, _ in edges)
    # every node keeps its single strongest tie inside the picture
    best: dict[int, float] = {}
    for s, t, wt in zip(m.graph.src, m.graph.dst, m.graph.weight, strict=True):
        if s in inside and t in inside:
            best[s] = max(best.get(s, 0), wt)
            best[t] = max(best.get(t, 0), wt)
    kept: dict[int, float] = {}
    for s, t, wt in edges:
        kept[s] = max(kept.get(s, 0), wt)
        kept[t] = max(kept.get(t, 0), wt)
    assert kept == best


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcdefg"), st.sampled_from("abcdefg"), st.integers(1, 5)), max_size=40
    )
)
def test_from_pairs_sums_ties_and_drops_self_ties(rows: list[tuple[str, str, int]]) -> None:
    a = [r[0] for r in rows]
    b = [r[1] for r in rows]
    g = nw.Graph.from_pairs(pa.array(a, pa.string()), pa.array(b, pa.string()), [r[2] for r in rows])
    want: dict[frozenset, float] = {}
    for x, y, w in rows:
        if x != y:
            want[frozenset((x, y))] = want.get(frozenset((x, y)), 0) + w
    got = {frozenset((g.ids[s], g.ids[t])): w for s, t, w in zip(g.src, g.dst, g.weight, strict=True)}
    assert got == want
    m = nw.measure(g)  # any small graph measures without error
    assert len(m.core_number) == g.n_nodes and np.all((m.bridging >= 0) & (m.bridging <= 1))


def test_window_ties_counts_both_directions_inside_each_window() -> None:
    edges = ibis.memtable(
        {
            "community_id": ["c", "c", "c", "c", "d"],
            "ts": [
                datetime(2025, 3, 1),
                datetime(2025, 3, 2),
                datetime(2024, 1, 1),
                datetime(2025, 3, 3),
                datetime(2025, 3, 1),
            ],
            "actor": ["x", "y", "x", "z", "x"],
            "target": ["y", "x", "y", "z", "y"],
        }
    )
    windows = ibis.memtable(
        {
            "community_id": ["c", "d"],
            "win_start": [datetime(2025, 1, 1)] * 2,
            "win_end": [datetime(2025, 4, 1)] * 2,
        }
    )
    rows = sorted(tuple(r.values()) for r in nw.window_ties(edges, windows).to_pyarrow().to_pylist())
    assert rows == [("c", "x", "y", 2), ("d", "x", "y", 1)]


@pytest.fixture(scope="module")
def synth_ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[covalue.Workspace, synth.Truth]:
    org = synth.generate(seed=7)
    w = covalue.init(Path(tmp_path_factory.mktemp("synth")) / "ws")
    org.write(w)
    journey.analyze(w)
    yield w, org.truth
    w.close()


def test_planted_champions_top_the_healthy_community(synth_ws) -> None:
    w, truth = synth_ws
    ranked = diagnosis.champions(w, community="healthy", limit=10)["healthy"]
    top = [r["member_id"] for r in ranked[: len(truth.champions)]]
    assert set(top) == set(truth.champions)
    first = ranked[0]
    assert set(first) == {
        "member_id",
        "label",
        "rank",
        "score",
        "helped_people",
        "people_helped",
        "answers",
        "questions_answered",
        "accepted_or_thanked",
        "median_response_h",
        "bridging",
        "in_core",
        "org_unit",
        "evidence",
    }
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert first["label"].startswith("Member ") and first["in_core"]
    assert first["helped_people"] >= 10 and first["median_response_h"] < 3
    assert str(first["helped_people"]) in first["evidence"] and "2025-12" in first["evidence"]
    # planted champions sit in distinct org units (assigned round-robin)
    assert len({r["org_unit"] for r in ranked[:6]}) == 6


def test_network_of_the_synthetic_organisation(synth_ws) -> None:
    w, truth = synth_ws
    net = diagnosis.network(w, max_nodes=40)
    assert set(net) == set(truth.communities)
    h = net["healthy"]
    assert len(h["nodes"]) == 40 and h["n_members"] > 100
    champs = {n["id"] for n in h["nodes"] if n["is_champion"]}
    assert set(truth.champions) <= champs
    ids = {n["id"] for n in h["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in h["edges"])
    assert len(h["edges"]) <= 40 * 3
    assert h["method"].startswith("Exact betweenness")
    assert set(h["bridges"]) & {n["label"] for n in h["nodes"] if n["id"] in truth.champions}
    # the core reaches into the org units; groups under 5 people are merged away, never shown
    assert len(h["reach"]) >= 6 and min(h["reach"].values()) >= 5
    assert h["core_size"] - 4 <= sum(h["reach"].values()) <= h["core_size"]
    # the workgroup is one closed team in one org unit: everyone in its core, no bridges
    wg = net["workgroup"]
    assert wg["core_size"] == wg["n_members"] == len(truth.workgroup_members)
    assert wg["bridges"] == [] and wg["reach"] == {truth.workgroup_org_unit: len(truth.workgroup_members)}
    # an earlier period uses that month's window
    early = diagnosis.network(w, community="healthy", period="2025-03")["healthy"]
    assert early["period"] == "2025-03" and early["n_members"] != h["n_members"]


def test_a_unit_too_small_to_hide_in_is_not_shown_beside_a_person(synth_ws) -> None:
    """A pseudonym next to a unit of two people points at one of them: such units stay out of the
    person-level tables (champions, the network's nodes) and count only in the merged reach."""
    w, _ = synth_ws
    champ = diagnosis.champions(w, community="healthy")["healthy"][0]
    assert champ["org_unit"]
    w.raw.execute("BEGIN")
    try:
        w.raw.execute(
            "UPDATE members SET org_unit = 'Tiny team' WHERE member_id IN "
            "(SELECT identity_id FROM analysis_people WHERE member_id = ?)",
            [champ["member_id"]],
        )
        ranked = diagnosis.champions(w, community="healthy")["healthy"]
        net = diagnosis.network(w, community="healthy")["healthy"]
    finally:
        w.raw.execute("ROLLBACK")
    assert next(r for r in ranked if r["member_id"] == champ["member_id"])["org_unit"] is None
    assert all(r["org_unit"] for r in ranked if r["member_id"] != champ["member_id"])
    assert next(n for n in net["nodes"] if n["id"] == champ["member_id"])["org_unit"] is None
    assert "Tiny team" not in net["reach"]


def test_the_graph_does_not_depend_on_the_order_rows_arrive_in():
    """Engines return rows in any order; nodes follow member ids, so sampled bridges repeat exactly."""
    rng = np.random.default_rng(5)
    pairs = [(f"m{a:03d}", f"m{b:03d}") for a, b in rng.integers(0, 300, size=(1500, 2)) if a != b]
    results = []
    for seed in (1, 2):
        shuffled = [pairs[i] for i in np.random.default_rng(seed).permutation(len(pairs))]
        a, b = [p[0] for p in shuffled], [p[1] for p in shuffled]
        g = nw.Graph.from_pairs(a, b, [1.0] * len(a))
        bc, exact = nw.betweenness(g, exact_max_work=0, pivots=20)
        assert not exact
        results.append((g.ids, g.src.tolist(), g.dst.tolist(), bc.tolist()))
    assert results[0] == results[1]
    assert results[0][0] == sorted(results[0][0])
