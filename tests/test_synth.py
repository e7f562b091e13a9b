"""The synthetic organisation: determinism, exact schemas, and every planted fact checked against the rows
with plain Python (independent of covalue.metrics), plus the workspace, tabular export and CLI around it."""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import covalue
from covalue import schema, synth
from covalue.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def org() -> synth.SynthOrg:
    return synth.generate()


@pytest.fixture(scope="module")
def rows(org: synth.SynthOrg) -> dict[str, list[dict[str, Any]]]:
    return {t: org.tables[t].to_pylist() for t in ("members", "identities", "items", "actions", "spaces")}


def _digest(o: synth.SynthOrg) -> str:
    h = hashlib.sha256()
    for name in schema.TABLES:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, o.tables[name].schema) as w:
            w.write_table(o.tables[name])
        h.update(sink.getvalue().to_pybytes())
    return h.hexdigest()


def test_same_seed_gives_byte_identical_tables_and_truth() -> None:
    a, b = synth.generate(seed=11, n_actions=40_000), synth.generate(seed=11, n_actions=40_000)
    assert _digest(a) == _digest(b)
    assert a.truth.to_json() == b.truth.to_json()
    assert _digest(synth.generate(seed=12, n_actions=40_000)) != _digest(a)


def test_tables_follow_the_canonical_schemas_and_id_shapes(org: synth.SynthOrg, rows: dict) -> None:
    assert set(org.tables) == set(schema.TABLES)
    for name, (sch, pk) in schema.TABLES.items():
        assert org.tables[name].schema.equals(sch), name
        keys = org.tables[name][pk].to_pylist()
        assert len(keys) == len(set(keys)), f"duplicate keys in {name}"
    assert all(re.fullmatch(r"synth:[a-z-]+:\d+", i["item_id"]) for i in rows["items"])
    assert all(re.fullmatch(r"m_[0-9a-f]{20}", m["member_id"]) for m in rows["members"])
    ident = {i["identity_id"]: i for i in rows["identities"]}
    for m in rows["members"][:20]:
        native = ident[m["member_id"]]["native_id"]
        assert covalue.identity.identity_id(synth.SECRET, m["source"], native) == m["member_id"]
    assert {i["kind"] for i in rows["items"]} <= set(schema.ITEM_KINDS)
    assert {a["verb"] for a in rows["actions"]} >= {
        "join",
        "leave",
        "react",
        "vote",
        "view",
        "accept",
        "mention",
    }
    assert {r["community_id"] for r in rows["spaces"]} == set(synth.SCENARIOS)
    # every item carries a planted role, in the truth and in the roles table
    assert set(org.truth.item_roles) == {i["item_id"] for i in rows["items"]}
    assert set(org.truth.item_roles.values()) <= set(synth.ROLES)
    json.loads(org.truth.to_json())


def test_activity_stays_on_days_5_to_24(rows: dict) -> None:
    days = {i["created_at"].day for i in rows["items"]} | {
        a["ts"].day for a in rows["actions"] if a["verb"] not in ("join", "leave")
    }
    assert min(days) >= 5 and max(days) <= 24


# -- the stage rule, written from the contract, independent of the metrics code ------------------


def _stage_checker(rows: dict, community: str) -> Any:
    bots = {m["member_id"] for m in rows["members"] if m["is_bot"]}
    items = {i["item_id"]: i for i in rows["items"] if i["community_id"] == community}
    acts = [a for a in rows["actions"] if a["community_id"] == community and a["actor_id"] not in bots]
    children: dict[str, list[dict]] = defaultdict(list)
    thread_items: dict[str, list[dict]] = defaultdict(list)
    for i in items.values():
        if i["parent_id"]:
            children[i["parent_id"]].append(i)
        thread_items[i["thread_id"]].append(i)
    on_item: dict[str, list[dict]] = defaultdict(list)
    for a in acts:
        if a["item_id"] and a["verb"] in ("react", "vote"):
            on_item[a["item_id"]].append(a)

    def supporters(item: dict) -> set[str]:
        who = {c["author_id"] for c in children[item["item_id"]]} | {
            a["actor_id"] for a in on_item[item["item_id"]]
        }
        return who - {item["author_id"]} - bots

    def stage(member: str, period: int, starts: list[datetime]) -> tuple[str, int]:
        end = starts[period + 1]
        lo = end - timedelta(days=90)
        mine = [i for i in items.values() if i["author_id"] == member and lo <= i["created_at"] < end]
        given = [
            a
            for a in acts
            if a["actor_id"] == member and a["verb"] in ("react", "vote") and lo <= a["ts"] < end
        ]
        n = len(mine) + len(given)
        if n == 0:  # nothing others could see (views only): the stage is evidence, never volume
            return "observer", n
        flags = {"connect"}
        for i in mine:
            root = items[i["thread_id"]]
            if i["kind"] != "question" and i is not root and root["kind"] != "question" and supporters(i):
                flags.add("share")
            if i is root and i["kind"] != "question" and supporters(i):
                flags.add("share")
            if root["kind"] == "question" and root["author_id"] != member:
                flags.add("solve")
            if i["kind"] == "question" and any(
                x["author_id"] not in (member, *bots) for x in thread_items[i["thread_id"]]
            ):
                flags.add("solve")
            if i["kind"] == "idea" and len(supporters(i)) >= 3:
                flags.add("innovate")
        return max(flags, key=synth.STAGES.index), n

    return stage


def test_planted_members_meet_exactly_their_stage_rule_at_periods_11_and_12(
    org: synth.SynthOrg, rows: dict
) -> None:
    t = org.truth
    stage = _stage_checker(rows, "healthy")
    starts = synth.month_starts(t.start)
    p11, p12 = t.months[10], t.months[11]
    assert set(t.stages) == {p11, p12}
    per_stage = Counter(t.stages[p12].values())
    assert all(per_stage[s] >= 10 for s in synth.STAGES), per_stage
    for period, label in ((10, p11), (11, p12)):
        for mid, planted in t.stages[label].items():
            got, n = stage(mid, period, starts)
            assert got == planted, f"{mid} at {label}: planted {planted}, rows say {got} ({n} interactions)"
    for mid in t.journeys["stayer:observer"]:
        assert stage(mid, 11, starts)[1] == 0  # they read (views) and nothing more


def test_planted_journeys(org: synth.SynthOrg) -> None:
    t = org.truth
    p11, p12 = t.months[10], t.months[11]
    for a, b in (("connect", "share"), ("share", "solve"), ("solve", "innovate")):
        risers = t.journeys[f"riser:{a}->{b}"]
        assert len(risers) >= 3
        assert all(t.stages[p11][m] == a and t.stages[p12][m] == b for m in risers)
    leavers = [m for g, ms in t.journeys.items() if g.startswith("leaver:") for m in ms]
    assert leavers and all(t.stages[p12][m] == "observer" and t.stages[p11][m] != "observer" for m in leavers)


def test_leavers_are_silent_after_month_9_and_leave(org: synth.SynthOrg, rows: dict) -> None:
    leavers = {m for g, ms in org.truth.journeys.items() if g.startswith("leaver:") for m in ms}
    cut = synth.month_starts(org.truth.start)[9]
    assert not [i for i in rows["items"] if i["author_id"] in leavers and i["created_at"] >= cut]
    late = [a for a in rows["actions"] if a["actor_id"] in leavers and a["ts"] >= cut]
    assert {a["verb"] for a in late} == {"leave"} and len(late) == len(leavers)


def test_champions_answer_many_distinct_members_across_org_units_quickly(
    org: synth.SynthOrg, rows: dict
) -> None:
    items = {i["item_id"]: i for i in rows["items"]}
    unit = {m["member_id"]: m["org_unit"] for m in rows["members"]}
    assert len(org.truth.champions) >= 3
    for ch in org.truth.champions:
        answers = [i for i in rows["items"] if i["author_id"] == ch and i["kind"] == "answer"]
        askers = {items[a["parent_id"]]["author_id"] for a in answers}
        assert len(askers) >= 20
        assert len({unit[a] for a in askers}) >= 5
        delays = [
            (a["created_at"] - items[a["parent_id"]]["created_at"]).total_seconds() / 3600 for a in answers
        ]
        assert statistics.median(delays) < 4


def _monthly(rows: dict, community: str, months: list[str]) -> tuple[list[int], list[set[str]]]:
    """Activity (items + reactions/votes given) and the set of active members per month, bots left out."""
    bots = {m["member_id"] for m in rows["members"] if m["is_bot"]}
    activity = [0] * len(months)
    active: list[set[str]] = [set() for _ in months]
    for i in rows["items"]:
        if i["community_id"] == community and i["author_id"] not in bots:
            k = months.index(i["created_at"].strftime("%Y-%m"))
            activity[k] += 1
            active[k].add(i["author_id"])
    for a in rows["actions"]:
        if a["community_id"] == community and a["verb"] in ("react", "vote") and a["actor_id"] not in bots:
            k = months.index(a["ts"].strftime("%Y-%m"))
            activity[k] += 1
            active[k].add(a["actor_id"])
    return activity, active


def test_campaign_spike_then_decay(org: synth.SynthOrg, rows: dict) -> None:
    t = org.truth
    spike = t.spike
    k = t.months.index(spike["month"])
    activity, active = _monthly(rows, "campaign", t.months)
    baseline = statistics.median(activity[:k])
    assert activity[k] >= 5 * baseline
    assert activity[k] == max(activity)
    joined = {
        a["actor_id"]: a["ts"]
        for a in rows["actions"]
        if a["verb"] == "join" and a["community_id"] == "campaign"
    }
    newcomers = set(spike["newcomers"])
    assert len(newcomers) >= 50 and all(joined[n].strftime("%Y-%m") == spike["month"] for n in newcomers)
    still = [len(newcomers & active[m]) for m in range(k, len(t.months))]
    assert still[0] == len(newcomers)
    assert still[3] <= 0.2 * len(newcomers)  # most stopped within 1-3 months
    assert set(spike["stayers"]) <= active[-1] and 1 <= len(spike["stayers"]) <= 10


def test_dying_community_shrinks(org: synth.SynthOrg, rows: dict) -> None:
    t = org.truth
    assert t.shrinking == ["dying"]
    activity, active = _monthly(rows, "dying", t.months)
    sizes = [len(s) for s in active]
    assert all(b < a for a, b in itertools.pairwise(sizes)), sizes
    assert activity[-1] * 5 < activity[0]
    verbs = Counter((a["verb"], a["ts"].month > 1) for a in rows["actions"] if a["community_id"] == "dying")
    assert verbs[("leave", True)] > 3 * verbs[("join", True)] > 0


def test_workgroup_is_closed_one_unit_and_reciprocal(org: synth.SynthOrg, rows: dict) -> None:
    team = set(org.truth.workgroup_members)
    assert 6 <= len(team) <= 8
    members = [m for m in rows["members"] if m["source"] == "synth:workgroup"]
    assert {m["member_id"] for m in members} == team
    assert {m["org_unit"] for m in members} == {org.truth.workgroup_org_unit}
    assert all(m["joined_at"].month == 1 for m in members)
    wg_items = [i for i in rows["items"] if i["community_id"] == "workgroup"]
    actors = {i["author_id"] for i in wg_items} | {
        a["actor_id"] for a in rows["actions"] if a["community_id"] == "workgroup"
    }
    assert actors == team
    replies = [i for i in wg_items if i["parent_id"]]
    assert len(replies) >= 2 * (len(wg_items) - len(replies))
    pairs = {
        (r["author_id"], next(i for i in wg_items if i["item_id"] == r["parent_id"])["author_id"])
        for r in replies[:300]
    }
    assert sum((b, a) in pairs for a, b in pairs) >= 0.8 * len(pairs)  # replies go both ways


def test_single_voice_and_broadcast(org: synth.SynthOrg, rows: dict) -> None:
    roots = [i for i in rows["items"] if i["community_id"] == "single-voice" and not i["parent_id"]]
    top = Counter(i["author_id"] for i in roots).most_common(1)[0]
    assert top[0] == org.truth.single_voice_author and top[1] >= 0.8 * len(roots)
    replies = [i for i in rows["items"] if i["community_id"] == "single-voice" and i["parent_id"]]
    assert len(replies) < 0.2 * len(roots)
    bc = [i for i in rows["items"] if i["community_id"] == "broadcast"]
    assert {i["author_id"] for i in bc} == set(org.truth.broadcast_authors)
    assert 2 <= len(org.truth.broadcast_authors) <= 3
    assert sum(1 for i in bc if i["parent_id"]) <= 0.1 * len(bc)
    verbs = {
        a["verb"]
        for a in rows["actions"]
        if a["community_id"] == "broadcast" and a["actor_id"] not in org.truth.broadcast_authors
    }
    assert verbs == {"join", "react", "view"}


def test_bots_are_flagged_and_post(org: synth.SynthOrg, rows: dict) -> None:
    bots = set(org.truth.bots)
    assert len(bots) >= 2
    assert {m["member_id"] for m in rows["members"] if m["is_bot"]} == bots
    assert {i["identity_id"] for i in rows["identities"] if i["is_bot"]} == bots
    assert sum(1 for i in rows["items"] if i["author_id"] in bots) >= 24
    assert all(org.truth.item_roles[i["item_id"]] == "bot" for i in rows["items"] if i["author_id"] in bots)


def test_chat_communities_use_post_and_reply_only(rows: dict) -> None:
    kinds = Counter((i["community_id"], i["kind"]) for i in rows["items"])
    for c in ("single-voice", "broadcast", "workgroup", "dying", "campaign"):
        assert {k for cc, k in kinds if cc == c} <= {"post", "reply"}
    assert {k for cc, k in kinds if cc == "healthy"} >= {"question", "answer", "idea", "post", "reply"}


def test_texts_carry_role_signals(org: synth.SynthOrg, rows: dict) -> None:
    signals = {
        "question": r"\?|does anyone know|any advice on",
        "answer": r"\byou can\b|\btry\b|the fix is",
        "idea": r"^idea:|what if we|i propose|we could try",
        "resource": r"https?://",
        "gratitude": r"thanks|that worked",
    }
    for i in rows["items"]:
        role = org.truth.item_roles[i["item_id"]]
        if role in signals:
            assert re.search(signals[role], i["text"], re.I), (role, i["text"])


def test_bulk_adds_communities_without_touching_the_planted_ones(org: synth.SynthOrg) -> None:
    big = synth.generate(n_actions=120_000)
    assert big.tables["actions"].num_rows == 120_000
    assert big.truth.bulk["members"] >= 1000
    for name in ("members", "items", "actions"):
        n = org.tables[name].num_rows
        assert big.tables[name].slice(0, n).equals(org.tables[name])
    assert big.truth.stages == org.truth.stages
    assert big.roles.num_rows == big.tables["items"].num_rows
    # people interact within a circle of colleagues: about ten partners each, not everyone with everyone
    acts = big.tables["actions"].slice(org.tables["actions"].num_rows).to_pylist()
    pairs = {
        (a["actor_id"], a["target_id"]) for a in acts if a["target_id"] and a["target_id"] != a["actor_id"]
    }
    assert 5 <= len(pairs) / big.truth.bulk["members"] <= 15
    items = big.tables["items"].slice(org.tables["items"].num_rows).to_pylist()
    by_id = {i["item_id"]: i for i in items}
    for i in items[:2000]:
        if i["parent_id"]:
            p = by_id[i["parent_id"]]
            assert p["community_id"] == i["community_id"] and p["created_at"] <= i["created_at"]
            assert i["kind"] == ("answer" if p["kind"] == "question" else "reply")


def test_write_to_workspace_is_idempotent(org: synth.SynthOrg, ws: covalue.Workspace) -> None:
    added = org.write(ws)
    assert added["items"] == org.tables["items"].num_rows
    assert added["actions"] == org.tables["actions"].num_rows
    assert ws.status()["tables"]["members"] == org.tables["members"].num_rows
    assert sum(org.write(ws).values()) == 0


@pytest.mark.skipif(
    importlib.util.find_spec("covalue.sources.tabular") is None,
    reason="the tabular reader (covalue.sources.tabular) is not in the tree",
)
def test_tabular_export_round_trips(org: synth.SynthOrg, ws: covalue.Workspace, tmp_path: Path) -> None:
    org.write_tabular(tmp_path / "export")
    head = (tmp_path / "export" / "items.csv").read_text().splitlines()[1]
    assert ',"u' in head and "synth:" not in head  # native ids, not canonical ones
    [res] = ws.ingest([tmp_path / "export"], source="tabular")
    assert res.rejects == 0
    q = ws.raw.execute
    for table, col in (("items", "community_id"), ("actions", "community_id")):
        got = dict(q(f"SELECT {col}, count(*) FROM {table} GROUP BY 1").fetchall())
        want = Counter(org.tables[table][col].to_pylist())
        assert got == dict(want)
    assert q("SELECT count(*) FROM members").fetchone()[0] == org.tables["members"].num_rows
    assert q("SELECT count(*) FROM members WHERE is_bot").fetchone()[0] == len(org.truth.bots)
    assert q("SELECT count(*) FROM items WHERE accepted").fetchone()[0] == sum(
        org.tables["items"]["accepted"].to_pylist()
    )


def test_cli_synth_and_demo(tmp_path: Path) -> None:
    w = tmp_path / "cli-ws"
    r = runner.invoke(
        app,
        [
            "synth",
            "-w",
            str(w),
            "--seed",
            "3",
            "--actions",
            "30000",
            "--truth",
            str(tmp_path / "truth.json"),
            "--export-tabular",
            str(tmp_path / "tab"),
        ],
    )
    assert r.exit_code == 0, r.output
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["seed"] == 3 and truth["spike"]["community"] == "campaign"
    assert sorted(p.name for p in (tmp_path / "tab").iterdir()) == ["actions.csv", "items.csv", "members.csv"]
    ws = covalue.open(w)
    assert ws.status()["tables"]["actions"] == 30_000
    ws.close()
    d = tmp_path / "demo"
    r = runner.invoke(app, ["demo", "-w", str(d)])
    assert r.exit_code == 0, r.output
    assert "Analytics Guild" in r.output and "Communities" in r.output
    r = runner.invoke(app, ["demo", "-w", str(d)])
    assert "already holds" in " ".join(r.output.split())  # Rich wraps long paths
