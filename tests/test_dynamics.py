"""Membership dynamics on small organisations with known, planted behaviour."""

from __future__ import annotations

from datetime import datetime

import pytest

import covalue
from covalue.metrics import activity, dynamics


def _people(ws: covalue.Workspace, ids: list[str], bots: frozenset[str] = frozenset()) -> None:
    ws.append(
        "identities",
        [{"identity_id": i, "member_id": i, "source": "t", "native_id": i, "is_bot": i in bots} for i in ids],
    )


def _post(n: int, who: str, year: int, month: int, community: str = "c", kind: str = "post") -> dict:
    return {
        "item_id": f"{community}:{n}",
        "source": "t",
        "community_id": community,
        "author_id": who,
        "created_at": datetime(year, month, 10),
        "kind": kind,
    }


@pytest.fixture
def planted(ws: covalue.Workspace) -> covalue.Workspace:
    """Community 'c': 5 regulars all year; a spike in June 2024 with 40 newcomers of whom 10 stay one
    month and 4 stay two months; a bot posting constantly. Community 'd': 12 members who leave one by one."""
    regulars = [f"r{i}" for i in range(5)]
    spike = [f"s{i}" for i in range(40)]
    dying = [f"d{i}" for i in range(12)]
    _people(ws, [*regulars, *spike, *dying, "bot"], bots=frozenset({"bot"}))
    rows, n = [], 0
    for m in range(1, 13):
        for r in regulars:
            rows.append(_post(n := n + 1, r, 2024, m))
        rows.append(_post(n := n + 1, "bot", 2024, m))
        rows.append(_post(n := n + 1, "bot", 2024, m))
    for s in spike:
        for _k in range(2):
            rows.append(_post(n := n + 1, s, 2024, 6))
    for s in spike[:10]:
        rows.append(_post(n := n + 1, s, 2024, 7))
    for s in spike[:4]:
        rows.append(_post(n := n + 1, s, 2024, 8))
    for m in range(1, 13):  # dying: month m has 12 - m + 1 members active
        for d in dying[: 13 - m]:
            rows.append(_post(n := n + 1, d, 2024, m, community="d"))
    ws.append("items", rows)
    ws.append(
        "actions",
        [
            {
                "action_id": f"j{i}",
                "community_id": "c",
                "ts": datetime(2024, 6, 2),
                "actor_id": s,
                "verb": "join",
            }
            for i, s in enumerate(spike)
        ]
        + [
            {
                "action_id": "jb",
                "community_id": "c",
                "ts": datetime(2024, 6, 2),
                "actor_id": "bot",
                "verb": "join",
            }
        ],
    )
    return ws


def _ev(ws: covalue.Workspace):
    return activity.events(ws.table("items"), ws.table("actions"), ws.table("identities"))


def test_monthly_counts_and_bots_left_out(planted: covalue.Workspace) -> None:
    months = dynamics.monthly(_ev(planted), planted.table("actions"), planted.table("identities"))
    c = months[months.community_id == "c"].set_index("month")
    june = activity.month_index_of(2024, 6)
    assert c.loc[june, "active"] == 45
    assert c.loc[june, "newcomers"] == 40
    assert c.loc[june, "joined"] == 40  # the bot's join is not counted
    assert c.loc[june + 1, "active"] == 15
    assert c.loc[activity.month_index_of(2024, 1), "active"] == 5  # the bot is not a member
    assert len(c) == 12


def test_spike_found_with_its_decay(planted: covalue.Workspace) -> None:
    ev = _ev(planted)
    months = dynamics.monthly(ev, planted.table("actions"), planted.table("identities"))
    found = dynamics.spikes(ev, months, factor=3.0, min_acts=20)
    assert [(s.community_id, s.month) for s in found] == [("c", "2024-06")]
    s = found[0]
    assert s.newcomers == 40
    assert s.still_active == [pytest.approx(10 / 40), pytest.approx(4 / 40), pytest.approx(0.0)]
    assert "2024-06" in s.explanation and "newcomers" in s.explanation


def test_dying_community_is_shrinking_and_steady_one_holds(planted: covalue.Workspace) -> None:
    ev = _ev(planted)
    months = dynamics.monthly(ev, planted.table("actions"), planted.table("identities"))
    lapse = dynamics.lapsed(ev, end_month=int(months.month.max()))
    # without knowing about the campaign, the fading launch looks like decline
    naive = {g.community_id: g for g in dynamics.growth(months, lapse)}
    assert naive["c"].verdict == "shrinking"
    found = dynamics.spikes(ev, months)
    verdicts = {g.community_id: g for g in dynamics.growth(months, lapse, spikes=found)}
    assert verdicts["d"].verdict == "shrinking"
    assert verdicts["d"].change < -0.1
    assert "active members a month" in verdicts["d"].explanation
    # the sentence counts as a person writes them: one member, no newcomers
    assert "0 newcomers in those 3 months, 1 member went quiet" in verdicts["d"].explanation
    # the everyday base of 'c' (5 regulars) holds once the campaign months are set aside
    assert verdicts["c"].verdict == "holding"
    assert verdicts["c"].recent_active == 5 and verdicts["c"].earlier_active == 5
    assert "campaign months 2024-06, 2024-07, 2024-08, 2024-09 set aside" in verdicts["c"].explanation


def test_retention_by_cohort(planted: covalue.Workspace) -> None:
    r = dynamics.retention(_ev(planted))
    june = activity.month_index_of(2024, 6)
    cohort = r[(r.community_id == "c") & (r.cohort == june)].set_index("k")
    assert cohort.loc[0, "size"] == 40
    assert cohort.loc[1, "share"] == pytest.approx(0.25)
    assert cohort.loc[2, "share"] == pytest.approx(0.1)


def test_lapsed_is_unknown_until_enough_quiet_months(planted: covalue.Workspace) -> None:
    ev = _ev(planted)
    end = activity.month_index_of(2024, 12)
    lp = dynamics.lapsed(ev, end_month=end, lapse_months=3).set_index(["community_id", "month"])
    # 30 spike newcomers were last active in June: lapsed in July
    assert lp.loc[("c", activity.month_index_of(2024, 7)), "lapsed"] == 30
    # regulars were last active in December: lapsed "in January 2025", too early to tell
    assert lp.loc[("c", end + 1), "lapsed"] is pd_na()


def pd_na():
    import pandas as pd

    return pd.NA
