"""Health, dynamics and champions told true on real exports and on small planted communities: no verdict
from a handful of threads, decline called fading, a half last month neither a decline nor a spike,
growth not mistaken for a campaign, and champions who helped at least two different people."""

from __future__ import annotations

import json
import tarfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import py7zr
import pytest
from lxml import etree

import covalue
from covalue import diagnosis, journey, models
from covalue.metrics import dynamics
from covalue.metrics import network as nw
from covalue.metrics.health import TOO_LITTLE

NCAR = "zulip/ncar-zulip-archive.tar.gz"
HDV = "slack/houstondatavis-slack-export.zip"
BEER = "stackexchange/beer.stackexchange.com.7z"
_CHAMPIONS = models.load("health")["champions"]


def _analysed(tmp_path_factory: pytest.TempPathFactory, export: Path) -> covalue.Workspace:
    ws = covalue.init(tmp_path_factory.mktemp("real") / "ws")
    ws.ingest([export])
    ws.analyze()
    return ws


@pytest.fixture(scope="module")
def ncar_ws(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    ws = _analysed(tmp_path_factory, shared_data / NCAR)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def hdv_ws(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    ws = _analysed(tmp_path_factory, shared_data / HDV)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def beer_ws(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    ws = _analysed(tmp_path_factory, shared_data / BEER)
    yield ws
    ws.close()


def _only(d: dict[str, Any]) -> Any:
    (v,) = d.values()
    return v


# -- partial months and spikes on real exports ---------------------------------------------------------
def test_ncar_last_month_is_partial_and_the_default_is_the_last_complete_month(
    ncar_ws: covalue.Workspace, shared_data: Path
) -> None:
    # the raw archive's last message, read without covalue: mid-May 2025
    last = 0
    with tarfile.open(shared_data / NCAR) as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".json") and "/zulip_json/" in f"/{m.name}":
                msgs = json.load(tar.extractfile(m))
                if isinstance(msgs, list):  # a topic's messages (the stream indexes are objects)
                    last = max([last, *(int(x["timestamp"]) for x in msgs)])
    assert datetime.utcfromtimestamp(last).strftime("%Y-%m-%d") == "2025-05-15"

    h = _only(diagnosis.health(ncar_ws))
    assert h["period"] == "2025-04"
    assert h["partial_month"]["month"] == "2025-05" and h["partial_month"]["partial"]
    assert "2025-05 is partial" in h["period_note"] and "2025-04, the last complete month" in h["period_note"]
    # asked for explicitly, the partial month is shown and still called partial
    may = _only(diagnosis.health(ncar_ws, period="2025-05"))
    assert may["period"] == "2025-05" and "only part of the month" in may["period_note"]

    d = _only(diagnosis.dynamics_of(ncar_ws))
    assert d["monthly"][-1]["month"] == "2025-05" and d["monthly"][-1]["partial"]
    # the archive records nobody joining or leaving a stream: unknown, not "0 joined"
    assert {(m["joined"], m["left"]) for m in d["monthly"]} == {(None, None)}
    assert not any(m["partial"] for m in d["monthly"][:-1])
    g = d["growth"]
    # growth stops at April: the half month of May (1 active member) no longer reads as "shrinking -43 %"
    assert "2025-04" in g["explanation"] and "2025-05 left out" in g["explanation"]
    assert "2025-05," not in g["explanation"].split("left out")[0]
    assert len(d["spikes"]) < 4  # was 14, with 56 months set aside
    assert g["explanation"].count("20") < 30  # at most a few set-aside months in prose
    # champions and the network look at the same month
    assert _only(diagnosis.network(ncar_ws))["period"] == "2025-04"
    # so does a member's journey, whether it finds the default month itself or is told it (the web
    # passes the months its pages show): people active in May are explained at April
    may_members = [
        m
        for (m,) in ncar_ws.raw.execute(
            "SELECT DISTINCT member_id FROM member_stages WHERE period = '2025-05' ORDER BY 1 LIMIT 5"
        ).fetchall()
    ]
    assert may_members
    shown = {cid: h["period"] for cid, h in diagnosis.health(ncar_ws).items()}
    for m in may_members:
        found = journey.explain(ncar_ws, m)
        assert [c["period"] for c in found["communities"]] == ["2025-04"]
        assert journey.explain(ncar_ws, m, defaults=shown) == found
    # and the report's stage mix over time ends there too, so its "from ... to ..." agrees with the mix
    from covalue.report import facts as report_facts

    (c,) = report_facts.gather(ncar_ws)["communities"]
    assert c["period"] == "2025-04" and c["mix_history"][-1]["period"] == "2025-04"


def test_houstondatavis_growth_is_growth_not_a_spike(hdv_ws: covalue.Workspace) -> None:
    d = _only(diagnosis.dynamics_of(hdv_ws))
    active = {m["month"]: m["active"] for m in d["monthly"]}
    assert sum(m["joined"] for m in d["monthly"]) == 71 and {m["left"] for m in d["monthly"]} == {0}
    assert (active["2016-04"], active["2016-07"]) == (6, 17)
    assert d["last_month"]["last_activity"].strftime("%Y-%m-%d") == "2016-07-27"
    h = _only(diagnosis.health(hdv_ws))
    period = h["period"]
    assert period in ("2016-06", "2016-07")
    assert d["growth"]["verdict"] == "growing", d["growth"]["explanation"]
    # the default period's month is the last one growth compares
    assert d["growth"]["explanation"].split(" against ")[0].endswith(period)
    assert not [s for s in d["spikes"] if s["month"] >= "2016-04"]


def test_ncar_growth_is_read_against_the_year_before(ncar_ws: covalue.Workspace, shared_data: Path) -> None:
    """NCAR's Zulip rebounds from a low: 7 active members a month in 2025-02 to 2025-04 against 4.3 in
    the three months before, where a year earlier it had 19 a month. The verdict compares the two
    windows; the sentence gives the year before too, counted here from the raw archive."""
    senders: dict[tuple[int, int], set[str]] = defaultdict(set)
    with tarfile.open(shared_data / NCAR) as tar:
        for m in tar.getmembers():
            if not (m.isfile() and m.name.endswith(".json") and "zulip_json/" in m.name):
                continue
            msgs = json.load(tar.extractfile(m))
            for msg in msgs if isinstance(msgs, list) else []:
                if msg.get("sender_full_name") not in ("Notification Bot", "Welcome Bot"):
                    when = datetime.fromtimestamp(msg["timestamp"], UTC)
                    senders[(when.year, when.month)].add(msg["sender_full_name"])
    year_before = sum(len(senders[(2024, m)]) for m in (2, 3, 4)) / 3
    recent = sum(len(senders[(2025, m)]) for m in (2, 3, 4)) / 3
    g = _only(diagnosis.dynamics_of(ncar_ws))["growth"]
    assert (g["recent_active"], g["year_before_active"]) == (
        pytest.approx(recent),
        pytest.approx(year_before),
    )
    assert (round(recent, 1), round(year_before, 1)) == (7.0, 19.0)
    assert f"a year before (2024-02 to 2024-04) {year_before:.1f} a month" in g["explanation"]


# -- champions -------------------------------------------------------------------------------------------
def _beer_help(
    dump: Path, folder: Path, start: datetime, end: datetime
) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """From the raw dump, between ``start`` and ``end``: Stack Exchange user id -> the distinct other
    users whose posts they answered or commented on, and -> the questions of others they answered (one
    entry per answer)."""
    with py7zr.SevenZipFile(dump, mode="r") as arc:
        arc.extract(folder, targets=["Posts.xml", "Comments.xml"])
    owner: dict[str, str] = {}
    posts = list(etree.parse(str(folder / "Posts.xml")).getroot())
    answers: dict[str, list[str]] = defaultdict(list)
    for p in posts:
        if p.get("OwnerUserId"):
            owner[p.get("Id")] = p.get("OwnerUserId")
    helped: dict[str, set[str]] = defaultdict(set)

    def add(who: str | None, post: str | None, when: str) -> None:
        t = datetime.fromisoformat(when)
        other = owner.get(post or "")
        if who and other and other != who and start <= t < end:
            helped[who].add(other)

    for p in posts:
        if p.get("PostTypeId") == "2":
            add(p.get("OwnerUserId"), p.get("ParentId"), p.get("CreationDate"))
            t = datetime.fromisoformat(p.get("CreationDate"))
            asker = owner.get(p.get("ParentId"))
            if p.get("OwnerUserId") and asker and asker != p.get("OwnerUserId") and start <= t < end:
                answers[p.get("OwnerUserId")].append(p.get("ParentId"))
    for c in etree.parse(str(folder / "Comments.xml")).getroot():
        add(c.get("UserId"), c.get("PostId"), c.get("CreationDate"))
    return helped, answers


def test_beer_champions_helped_at_least_two_people(
    beer_ws: covalue.Workspace, shared_data: Path, tmp_path: Path
) -> None:
    ranked = _only(diagnosis.champions(beer_ws, limit=1000))
    assert ranked
    period = _only(diagnosis.health(beer_ws))["period"]
    assert period == "2020-05"  # the dump ends on 2020-05-31: a complete month
    end = datetime(2020, 6, 1)
    helped, answers = _beer_help(shared_data / BEER, tmp_path, end - timedelta(days=90), end)
    ids = beer_ws.table("identities")
    native = {
        r["member_id"]: r["native_id"] for r in ids.select("member_id", "native_id").to_pyarrow().to_pylist()
    }
    counts = {r["member_id"]: len(helped[native[r["member_id"]]]) for r in ranked}
    assert min(counts.values()) >= 2, counts
    assert all(r["people_helped"] == counts[r["member_id"]] for r in ranked)
    # answers written and questions answered are counted apart: at least the dump's own answers (post
    # type 2) and the distinct questions they went to (comments on a question may count as answers too)
    for r in ranked:
        mine = answers[native[r["member_id"]]]
        assert r["answers"] >= len(mine) and r["questions_answered"] >= len(set(mine)), r
        assert r["questions_answered"] <= r["answers"]
        if r["answers"] > r["questions_answered"]:
            assert f"wrote {r['answers']} answers to {r['questions_answered']} question" in r["evidence"]
        elif r["answers"]:
            assert f"answered {r['questions_answered']} question" in r["evidence"]


def test_evidence_tells_answers_from_questions() -> None:
    row = {
        "answers": 1191,
        "questions_answered": 345,
        "helped_people": 120,
        "accepted_or_thanked": 40,
        "people_responded": 130,
        "median_response_h": 2.0,
        "in_core": True,
        "bridging": 0.7,
    }
    text = nw.champion_evidence(row, period="2025-04", days=90)
    assert "wrote 1191 answers to 345 questions from 120 different members (40 accepted or thanked)" in text
    assert "answered 1191 questions" not in text
    one = nw.champion_evidence({**row, "answers": 3, "questions_answered": 3}, period="2025-04", days=90)
    assert "answered 3 questions from 120 different members" in one
    # a wait of a minute is one minute (Komodo's champions read "usually within 1 minutes")
    quick = nw.champion_evidence({**row, "median_response_h": 0.02}, period="2025-04", days=90)
    assert "usually within 1 minute;" in quick


def test_the_floor_counts_each_person_once() -> None:
    """Someone who answered one person's question and replied to that same person once is not ranked:
    one person helped, however many ways."""
    rows = [
        {"member_id": "once", "helped_people": 1, "people_responded": 1, "people_helped": 1},
        {"member_id": "two", "helped_people": 1, "people_responded": 2, "people_helped": 2},
    ]
    for r in rows:
        r.update(answers=1, questions_answered=1, accepted_or_thanked=0, responses=2, median_response_h=1.0)
    model = {"champions": {**_CHAMPIONS, "min_people": 2}}
    assert [r["member_id"] for r in nw.rank_champions(rows, None, model)] == ["two"]


# -- shape on planted communities ------------------------------------------------------------------------
def _people(ws: covalue.Workspace, ids: list[str]) -> None:
    ws.append(
        "identities",
        [{"identity_id": i, "member_id": i, "source": "t", "native_id": i, "is_bot": False} for i in ids],
    )


def _item(n: int, who: str, when: datetime, community: str, parent: str | None = None) -> dict:
    iid = f"{community}:{n}"
    return {
        "item_id": iid,
        "source": "t",
        "community_id": community,
        "space_id": f"{community}:main",
        "thread_id": parent or iid,
        "parent_id": parent,
        "author_id": who,
        "created_at": when,
        "kind": "reply" if parent else "post",
        "title": None if parent else f"topic {n}",
        "text": "thanks, that works" if parent else "here is what we found this week about the build",
    }


@pytest.fixture
def planted(ws: covalue.Workspace) -> covalue.Workspace:
    """'tiny': three threads by two people, one reply from a third. 'fade': twelve members start and
    answer threads every month of the first half of 2024, then only four of them carry on. 'news': one
    person posts six notes in December, nobody replies. 'pair': two people start six threads and answer
    each other's."""
    crowd = [f"f{i}" for i in range(12)]
    _people(ws, ["a", "b", "c", "ed", "pa", "pb", *crowd])
    rows, n = [], 0
    for k, who in enumerate(["a", "a", "b"]):
        rows.append(_item(n := n + 1, who, datetime(2024, 12, 2 + 5 * k), "tiny"))
    rows.append(_item(n := n + 1, "c", datetime(2024, 12, 3), "tiny", parent="tiny:1"))
    rows += [_item(n := n + 1, "ed", datetime(2024, 12, 1 + 4 * k), "news") for k in range(6)]
    for k in range(6):
        asker, other = ("pa", "pb") if k % 2 else ("pb", "pa")
        root = _item(n := n + 1, asker, datetime(2024, 12, 1 + 4 * k), "pair")
        rows += [
            root,
            _item(n := n + 1, other, datetime(2024, 12, 2 + 4 * k), "pair", parent=root["item_id"]),
        ]
    for month in range(1, 13):
        who = crowd if month <= 6 else crowd[:4]
        for k, p in enumerate(who):
            root = _item(n := n + 1, p, datetime(2024, month, 3 + k), "fade")
            rows.append(root)
            replier = who[(k + 1) % len(who)]
            rows.append(
                _item(n := n + 1, replier, datetime(2024, month, 4 + k), "fade", parent=root["item_id"])
            )
    ws.append("items", rows)
    ws.analyze()
    return ws


def test_a_handful_of_threads_gets_no_verdict(planted: covalue.Workspace) -> None:
    s = diagnosis.health(planted, community="tiny")["tiny"]["shape"]
    assert s["shape"] == TOO_LITTLE == "too little activity to judge"
    assert (s["originals"], s["starters"], s["active"]) == (3, 2, 3)
    assert s["explanation"].startswith("Too little activity to judge: a verdict needs at least 5 threads")
    assert "3 threads started by 2 people" in s["explanation"]


def test_one_person_publishing_is_a_single_voice_and_two_talking_dormant(planted: covalue.Workspace) -> None:
    """Readers leave no trace, so a newsletter's one active member says nothing of its audience: six notes
    nobody replied to are one person publishing, not a dormant community. Two people answering each
    other are a conversation between two, not a community."""
    news = diagnosis.health(planted, community="news")["news"]["shape"]
    assert (news["shape"], news["active"], news["originals"]) == ("single voice", 1, 6)
    pair = diagnosis.health(planted, community="pair")["pair"]["shape"]
    assert (pair["shape"], pair["active"], pair["originals"]) == ("dormant", 2, 6)
    assert pair["explanation"].startswith("Dormant: at most 2 people took part without publishing")


def test_groupsio_site_updates_are_a_single_voice(shared_data: Path, tmp_path: Path) -> None:
    """groups.io's own updates list: in the 90 days to 2018-06-30 its mbox holds eleven "Site updates"
    posts, each opening a thread, all from one sender (counted here from the raw messages)."""
    import mailbox
    import zipfile
    from email.utils import parsedate_to_datetime

    export = shared_data / "perceval" / "groupsio" / "messages.zip"
    with zipfile.ZipFile(export) as z:
        (tmp_path / "m.mbox").write_bytes(z.read("messages.mbox"))
    end = datetime(2018, 7, 1)
    raw = [
        m for m in mailbox.mbox(tmp_path / "m.mbox")
        if end - timedelta(days=90) <= parsedate_to_datetime(m["Date"]).astimezone(UTC).replace(tzinfo=None) < end
    ]  # fmt: skip
    openers = [m for m in raw if not (m["In-Reply-To"] or m["References"])]
    assert len({m["From"] for m in raw}) == 1 and len(openers) == len(raw) == 11
    ws = covalue.init(tmp_path / "ws")
    ws.ingest([export])
    ws.analyze()
    (h,) = diagnosis.health(ws, period="2018-06").values()
    s = h["shape"]
    assert (s["shape"], s["active"], s["starters"], s["originals"]) == ("single voice", 1, 1, len(openers))
    ws.close()


def test_a_community_that_lost_most_members_is_fading(planted: covalue.Workspace) -> None:
    h = diagnosis.health(planted, community="fade")["fade"]
    s = h["shape"]
    assert h["period"] == "2024-12"
    assert (s["active"], s["active_before"]) == (4, 12)
    assert s["shape"] == "fading"
    assert "fell to 4 from a usual 12 6 to 12 months earlier" in s["explanation"]
    # in June, before the decline, it was judged on its structure
    june = diagnosis.health(planted, community="fade", period="2024-06")["fade"]["shape"]
    assert june["shape"] not in ("fading", TOO_LITTLE)


# -- partial months and spikes, unit by unit -------------------------------------------------------------
def _ev(rows: list[tuple[str, datetime]]) -> ibis.Table:
    return ibis.memtable(
        pd.DataFrame({"community_id": [c for c, _ in rows], "ts": [t for _, t in rows]}).assign(
            member_id="m", what="post", item_id="i"
        )
    )


def test_partial_month_judged_against_the_community_pace() -> None:
    busy = [("busy", datetime(2024, 1, 1) + timedelta(days=d, hours=10)) for d in range(0, 110)]  # to Apr 19
    weekly = [("weekly", datetime(2024, 1, 6) + timedelta(days=7 * w)) for w in range(0, 17)]  # to Apr 27
    got = dynamics.last_month(_ev(busy + weekly))
    assert got["busy"].month == "2024-04" and got["busy"].partial
    assert got["busy"].active_days == 90 and int(got["busy"].quiet_days) == 11
    assert got["busy"].longest_gap_days == pytest.approx(1.0)
    assert "2024-04 is partial" in got["busy"].explanation
    assert (
        "longer silence than any in the 90 days before (the longest was 1.0 days)" in got["busy"].explanation
    )
    # three quiet days are nothing for a community that meets once a week
    assert got["weekly"].month == "2024-04" and not got["weekly"].partial
    assert "counts as complete" in got["weekly"].explanation


def _months(acts: list[int], newcomers: list[int], active: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "community_id": "c",
            "month": range(24_300, 24_300 + len(acts)),
            "acts": acts,
            "newcomers": newcomers,
            "active": active,
        }
    )


def test_a_level_that_rises_for_good_is_not_a_string_of_spikes() -> None:
    ev = _ev([("c", datetime(2025, 1, 1))])
    # activity steps up from 10 to 60 a month with new people, and stays there
    months = _months([10] * 6 + [60] * 12, [1] * 6 + [6] + [1] * 11, [5] * 6 + [20] * 12)
    assert dynamics.spikes(ev, months) == []
    # a busy month of the regulars alone, that falls back, is no campaign either
    months = _months([10] * 6 + [60] + [10] * 5, [1] * 12, [5] * 6 + [8] + [5] * 5)
    assert dynamics.spikes(ev, months) == []


def test_set_aside_months_are_told_in_a_few_words() -> None:
    few = dynamics.set_aside_text([24_300, 24_301])
    assert few == "campaign months 2025-01, 2025-02 set aside"
    many = dynamics.set_aside_text([*range(24_300, 24_304), *range(24_310, 24_314), 24_320, 24_330, 24_331])
    assert (
        many
        == "11 campaign months set aside (2025-01 to 2025-04, 2025-11 to 2026-02, 2026-09 and 2 more months)"
    )


# -- first reply ------------------------------------------------------------------------------------------
def test_beer_first_reply_is_the_first_word_from_anyone_else_in_the_thread(
    beer_ws: covalue.Workspace, shared_data: Path, tmp_path: Path
) -> None:
    """Read from the raw dump: a question's first reply is its first answer or comment, on the question or
    on any of its answers, by someone other than the asker, as a reader of the thread sees it. Someone
    else's comment on the asker's own answer counts (the case a direct-replies-only rule missed)."""
    with py7zr.SevenZipFile(shared_data / BEER, mode="r") as arc:
        arc.extract(tmp_path, targets=["Posts.xml", "Comments.xml"])
    posts = {p.get("Id"): p for p in etree.parse(str(tmp_path / "Posts.xml")).getroot()}
    question_of = {i: p.get("ParentId") if p.get("PostTypeId") == "2" else i for i, p in posts.items()}
    words: dict[str, list[tuple[str | None, datetime, str]]] = defaultdict(list)
    for p in posts.values():
        if p.get("PostTypeId") == "2":
            when = datetime.fromisoformat(p.get("CreationDate"))
            words[p.get("ParentId")].append((p.get("OwnerUserId"), when, "direct"))
    for c in etree.parse(str(tmp_path / "Comments.xml")).getroot():
        q = question_of.get(c.get("PostId"))
        if q:
            where = "direct" if q == c.get("PostId") else "deeper"
            words[q].append((c.get("UserId"), datetime.fromisoformat(c.get("CreationDate")), where))
    truth: dict[str, datetime | None] = {}
    deeper = 0  # threads where a word deeper than the question came first
    for i, p in posts.items():
        if p.get("PostTypeId") != "1" or not p.get("OwnerUserId"):
            continue
        asked, asker = datetime.fromisoformat(p.get("CreationDate")), p.get("OwnerUserId")
        # a deleted account (no user id) is someone else too
        other = [(t, where) for who, t, where in words[i] if who != asker and t >= asked]
        truth[i] = min(other)[0] if other else None
        direct = [t for t, where in other if where == "direct"]
        deeper += bool(other) and (not direct or min(direct) > truth[i])
    facts = beer_ws.table("item_facts")
    got = {
        r["item_id"].rsplit(":", 1)[1]: r["first_reply_ts"]
        for r in facts.filter(facts.is_root & (facts.kind == "question"))
        .select("item_id", "first_reply_ts")
        .to_pyarrow()
        .to_pylist()
    }
    mine = {i: t for i, t in truth.items() if i in got}
    assert len(mine) > 0.95 * len(truth)
    wrong = {
        i: (t, got[i])
        for i, t in mine.items()
        if (t is None) != (got[i] is None)
        or (t and abs((got[i].replace(tzinfo=None) - t).total_seconds()) > 1)
    }
    assert deeper >= 5, deeper
    assert not wrong, list(wrong.items())[:5]
