"""Membership dynamics: who comes, who stays, who goes, and whether a spike of adoption left anything.

"Membership must pay its way": a community that adds value keeps members and draws new ones; one that
does not, loses them. These functions measure that per community and calendar month, from member
activity (:func:`covalue.metrics.activity.events`). The heavy part (distinct member-months) runs in the
engine; what comes back to Python is one small row per community-month.

Definitions (thresholds come from ``models/health.toml``):

- *active*: took part at least once in the month (wrote something, reacted, voted, accepted).
- *newcomer*: active for the first time in the data in that month.
- *lapsed*: last active in the previous month and quiet ever since; only counted once
  ``lapse_months`` quiet months have been observed, otherwise unknown (None).
- *joined* / *left*: people, from the platform's join and leave actions where it records them: joined in
  the month of their first join in the community, left in the month of a leave after which they neither
  joined again nor took part there (leaving one channel while active in others is not leaving); unknown
  (NA) for a community whose export records no join or leave at all.
- *retention*: of the members first active in month *c* (a cohort), the share active again in month
  *c + k*.
- *partial month*: exports end mid-month; the last month is partial when the silence from the last
  activity to the month's end is longer than any the community kept before (:func:`last_month`). A half
  month is neither a decline nor a spike, so growth and spikes stop at the last complete month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
from ibis import _

from covalue import periods
from covalue.metrics import activity
from covalue.metrics.activity import month_index, month_label
from covalue.periods import month_start

# pandas (0.17 s to import) is imported by the functions that use it: every command of the CLI imports
# this module
if TYPE_CHECKING:
    import pandas as pd


def member_months(ev: ibis.Table) -> ibis.Table:
    """Distinct (community_id, member_id, month) with the number of acts in that month and the time of
    the last (``last_ts``: whether a member did anything after leaving)."""
    return ev.group_by("community_id", "member_id", "month").aggregate(acts=_.count(), last_ts=_.ts.max())


def joins_and_leaves(mm: ibis.Table, actions: ibis.Table, identities: ibis.Table) -> ibis.Table:
    """Per community and month, the people who joined (their first join action in the community) and
    who left (a leave action after which they neither joined again nor did anything there: their last
    act, read from ``mm``, :func:`member_months`, comes before it).

    People, not events: joining three channels on one's first day is one person joining, and leaving a
    channel while staying active elsewhere in the community is not leaving it."""
    ids = activity.resolve(identities)
    jl = actions.filter(_.verb.isin(("join", "leave")) & _.ts.notnull() & _.actor_id.notnull())
    jl = jl.join(ids, jl.actor_id == ids.identity_id).filter(~_.is_bot)
    per = jl.group_by("community_id", "member_id").aggregate(
        first_join=_.ts.min(where=_.verb == "join"),
        last_join=_.ts.max(where=_.verb == "join"),
        last_leave=_.ts.max(where=_.verb == "leave"),
    )
    last_act = mm.group_by(_lc=_.community_id, _lm=_.member_id).aggregate(_last=_.last_ts.max())
    per = per.left_join(last_act, (per.community_id == last_act._lc) & (per.member_id == last_act._lm))
    gone = (
        per.last_leave.notnull()
        & (per.last_join.isnull() | (per.last_join <= per.last_leave))
        & (per._last.isnull() | (per._last <= per.last_leave))
    )
    joined = per.filter(per.first_join.notnull()).select(
        "community_id",
        month=month_index(_.first_join),
        joined=ibis.literal(1, "int64"),
        left=ibis.literal(0, "int64"),
    )
    left = per.filter(gone).select(
        "community_id",
        month=month_index(_.last_leave),
        joined=ibis.literal(0, "int64"),
        left=ibis.literal(1, "int64"),
    )
    both = joined.union(left, distinct=False)
    return both.group_by("community_id", "month").aggregate(joined=_.joined.sum(), left=_.left.sum())


def first_last(mm: ibis.Table) -> ibis.Table:
    """Each member's first and last active month per community."""
    return mm.group_by("community_id", "member_id").aggregate(first=_.month.min(), last=_.month.max())


def monthly(
    ev: ibis.Table, actions: ibis.Table, identities: ibis.Table, mm: ibis.Table | None = None
) -> pd.DataFrame:
    """One row per community and month (months with no activity included) with active members,
    newcomers, acts, explicit joins and leaves. Columns: community_id, month, active, newcomers, acts,
    contributions, joined, left. ``mm`` is :func:`member_months` of ``ev`` when the caller has it."""
    import pandas as pd

    mm = member_months(ev) if mm is None else mm
    fl = first_last(mm)
    per_month = (
        mm.join(fl, ["community_id", "member_id"])
        .group_by("community_id", "month")
        .aggregate(
            active=_.member_id.nunique(),
            newcomers=(_.month == _.first).cast("int64").sum(),
            acts=_.acts.sum(),
        )
    )
    contributions = (
        ev.filter(~_.what.isin(("react", "vote", "accept", "attend", "share")))
        .group_by("community_id", "month")
        .aggregate(contributions=_.count())
    )
    jl = joins_and_leaves(mm, actions, identities)
    a = per_month.to_pandas()
    c = contributions.to_pandas()
    j = jl.to_pandas()
    frames = [f for f in (a, j) if len(f)]
    if not frames:
        return pd.DataFrame(
            columns=[
                "community_id",
                "month",
                "active",
                "newcomers",
                "acts",
                "contributions",
                "joined",
                "left",
            ]
        )
    span = pd.concat(frames).groupby("community_id").month.agg(["min", "max"])
    grid = pd.DataFrame(
        [(cid, m) for cid, row in span.iterrows() for m in range(int(row["min"]), int(row["max"]) + 1)],
        columns=["community_id", "month"],
    )
    out = grid.merge(a, how="left", on=["community_id", "month"])
    out = out.merge(c, how="left", on=["community_id", "month"]).merge(
        j, how="left", on=["community_id", "month"]
    )
    for col in ("active", "newcomers", "acts", "contributions", "joined", "left"):
        out[col] = out[col].fillna(0).astype("Int64")
    # an export that records no join or leave at all (a Stack Exchange dump, Discord's CSV) cannot say
    # nobody joined: unknown, not 0
    silent = ~out.community_id.isin(j.community_id.unique() if len(j) else [])
    out.loc[silent, ["joined", "left"]] = pd.NA
    return out.sort_values(["community_id", "month"]).reset_index(drop=True)


def lapsed(
    ev: ibis.Table, end_month: int, lapse_months: int = 3, mm: ibis.Table | None = None
) -> pd.DataFrame:
    """Per community and month m: members last active in m-1 (quiet since). Months where fewer than
    ``lapse_months`` quiet months could be observed get None: too early to tell."""
    import pandas as pd

    fl = first_last(member_months(ev) if mm is None else mm)
    lp = fl.group_by("community_id", month=_.last + 1).aggregate(lapsed=_.count()).to_pandas()
    lp["lapsed"] = lp["lapsed"].astype("Int64")
    lp.loc[lp.month + lapse_months - 1 > end_month, "lapsed"] = pd.NA
    return lp


def retention(ev: ibis.Table, max_k: int = 12, mm: ibis.Table | None = None) -> pd.DataFrame:
    """Cohort retention: community_id, cohort (first month), k, size, active, share."""
    mm = member_months(ev) if mm is None else mm
    fl = first_last(mm)
    j = mm.join(fl, ["community_id", "member_id"]).mutate(k=_.month - _.first).filter(_.k <= max_k)
    r = j.group_by("community_id", cohort=_.first, k=_.k).aggregate(active=_.member_id.nunique()).to_pandas()
    if r.empty:
        return r.assign(size=[], share=[])
    size = r[r.k == 0][["community_id", "cohort", "active"]].rename(columns={"active": "size"})
    r = r.merge(size, on=["community_id", "cohort"])
    r["share"] = r["active"] / r["size"]
    return r.sort_values(["community_id", "cohort", "k"]).reset_index(drop=True)


@dataclass
class Growth:
    """Whether membership pays its way, in plain words with the numbers that decided it."""

    community_id: str
    verdict: str  # growing | holding | shrinking | too little data
    recent_active: float
    earlier_active: float
    change: float | None
    newcomers_recent: int
    lapsed_recent: int | None
    months: list[str] = field(default_factory=list)
    threshold: float = 0.1
    explanation: str = ""
    #: active members a month in the same months a year before the recent ones (None when unknown)
    year_before_active: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def growth(
    month_rows: pd.DataFrame,
    lapse: pd.DataFrame,
    *,
    window: int = 3,
    threshold: float = 0.1,
    spikes: list[Spike] | None = None,
    follow: int = 3,
) -> list[Growth]:
    """Compare average active members in the last ``window`` everyday months with the ``window`` before.

    Campaign spikes (see :func:`spikes`) and the ``follow`` months after them are set aside: a launch
    that fades is not the community shrinking, and a launch is not the community growing.
    """
    from covalue.presentation import plural

    campaign: dict[str, set[int]] = {}
    for sp in spikes or []:
        year, mon = (int(x) for x in sp.month.split("-"))
        m0 = periods.key_of(year, mon)
        campaign.setdefault(sp.community_id, set()).update(range(m0, m0 + follow + 1))
    out: list[Growth] = []
    for cid, g_all in month_rows.groupby("community_id", sort=True):
        g_all = g_all.sort_values("month")
        skipped = campaign.get(cid, set())
        g = g_all[~g_all.month.isin(skipped)]
        months = [month_label(m) for m in g_all.month]
        if len(g) < 2 * window:
            out.append(
                Growth(
                    cid,
                    "too little data",
                    float(g.active.mean() if len(g) else 0),
                    0.0,
                    None,
                    int(g.newcomers.sum()),
                    None,
                    months,
                    threshold,
                    f"only {len(g)} everyday months of activity; {2 * window} are needed to judge a trend",
                )
            )
            continue
        recent, earlier = g.tail(window), g.iloc[-2 * window : -window]
        ra, ea = float(recent.active.mean()), float(earlier.active.mean())
        change = (ra - ea) / ea if ea else (1.0 if ra else 0.0)
        lp = lapse[(lapse.community_id == cid) & lapse.month.isin(recent.month)]["lapsed"]
        lapsed_recent = None if lp.isna().all() else int(lp.fillna(0).sum())
        verdict = "growing" if change > threshold else "shrinking" if change < -threshold else "holding"
        label = ", ".join(month_label(int(m)) for m in recent.month)
        before = ", ".join(month_label(int(m)) for m in earlier.month)
        explanation = (
            f"{ra:,.1f} active members a month in {label} against {ea:,.1f} in {before} ({change:+.0%}; "
            f"within ±{threshold:.0%} counts as holding); {plural(int(recent.newcomers.sum()), 'newcomer')} in "
            f"those {window} months"
        )
        if lapsed_recent is not None:
            explanation += f", {plural(lapsed_recent, 'member')} went quiet"
        # the same months a year before: a rebound from a low, or a dip after a high, read in context
        year = g[g.month.isin([int(m) - 12 for m in recent.month])]
        ya = float(year.active.mean()) if len(year) == window else None
        if ya is not None:
            explanation += f"; a year before ({month_label(int(year.month.min()))} to {month_label(int(year.month.max()))}) {ya:,.1f} a month"
        if skipped:
            explanation += "; " + set_aside_text(sorted(skipped))
        out.append(
            Growth(
                cid,
                verdict,
                ra,
                ea,
                change,
                int(recent.newcomers.sum()),
                lapsed_recent,
                months,
                threshold,
                explanation,
                ya,
            )
        )
    return out


def set_aside_text(months: list[int], most: int = 3) -> str:
    """Set-aside campaign months in a few words: each month while there are few (``most`` + 1), else
    runs of consecutive months (``2020-02 to 2020-05``), at most ``most`` of them and a count of the rest:
    a reader wants the gist, not fifty month labels."""
    if len(months) <= most + 1:
        return "campaign months " + ", ".join(month_label(m) for m in months) + " set aside"
    runs: list[tuple[int, int]] = []
    for m in months:
        if runs and m == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], m)
        else:
            runs.append((m, m))
    shown = [month_label(a) if a == b else f"{month_label(a)} to {month_label(b)}" for a, b in runs[:most]]
    rest = sum(b - a + 1 for a, b in runs[most:])
    tail = f" and {rest} more month{'s' * (rest != 1)}" if rest else ""
    return f"{len(months)} campaign months set aside ({', '.join(shown)}{tail})"


@dataclass
class LastMonth:
    """Whether a community's last month of data is complete, with the numbers that decided it."""

    community_id: str
    month: str
    last_activity: datetime
    quiet_days: float  # from the last activity to the end of its month
    active_days: int  # days with activity in the ``pace_days`` before the last activity
    longest_gap_days: float  # the longest wait for the next activity in those days
    pace_days: int
    partial: bool
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_month(ev: ibis.Table, *, min_quiet_days: float = 2.0, pace_days: int = 90) -> dict[str, LastMonth]:
    """Per community: is its last month of activity complete, or did the export end before the month did?

    We never know when an export was taken, only when its last activity was. A month is partial when the
    silence from that last activity to the month's end is at least ``min_quiet_days`` long and longer
    than any wait for the next activity in the ``pace_days`` before. Measured on the community's own
    gaps, so a busy chat quiet for five days has stopped being exported, while a forum that meets once a
    week, or a team busy one week a month, has not. When in doubt the month counts as complete: that is
    how it was read before.
    """
    import pandas as pd

    last = ev.group_by("community_id").aggregate(last_ts=_.ts.max()).to_pandas()
    if last.empty:
        return {}
    ends, quiets = [], []
    for t in last.last_ts:
        ts = pd.Timestamp(t).to_pydatetime().replace(tzinfo=None)
        ends.append(ts)
        quiets.append((month_start(periods.key_of_time(ts) + 1) - ts).total_seconds() / 86400.0)
    lt = ibis.memtable(pd.DataFrame({"_lc": last.community_id, "_last": ends}))
    # no community's span starts before the earliest of them: a constant bound the scans can skip by
    recent = ev.filter(ev.ts > min(ends) - timedelta(days=pace_days))
    j = recent.select("community_id", "ts").join(lt, recent.community_id == lt._lc)
    start = j._last - ibis.interval(days=pace_days)
    j = j.filter(j.ts > start).mutate(_start=start)
    # each wait for the next activity, the first one from the start of the span
    prev = j.ts.lag().over(group_by=j.community_id, order_by=j.ts)
    j = j.mutate(_gap=j.ts.epoch_seconds() - prev.coalesce(j._start).epoch_seconds())
    pace = (
        j.group_by("community_id")
        .aggregate(active_days=j.ts.date().nunique(), longest=j._gap.max().cast("float64") / 86400.0)
        .to_pandas()
        .set_index("community_id")
    )
    out: dict[str, LastMonth] = {}
    for cid, ts, quiet in zip(last.community_id, ends, quiets, strict=True):
        m = periods.key_of_time(ts)
        longest = float(pace.loc[cid, "longest"])
        partial = quiet >= min_quiet_days and quiet > longest
        if partial:
            why = (
                f"{month_label(m)} is partial: the export's last activity is on {ts:%Y-%m-%d}, {quiet:.0f} "
                f"days before the month ends, a longer silence than any in the {pace_days} days before "
                f"(the longest was {longest:.1f} days)"
            )
        else:
            why = (
                f"{month_label(m)} counts as complete: the last activity is on {ts:%Y-%m-%d}, {quiet:.1f} "
                f"days before the month ends, a silence the community has kept before (in the {pace_days} "
                f"days before, the longest was {longest:.1f} days)"
            )
        out[cid] = LastMonth(
            cid,
            month_label(m),
            ts,
            quiet,
            int(pace.loc[cid, "active_days"]),
            longest,
            pace_days,
            partial,
            why,
        )
    return out


@dataclass
class Spike:
    """A month of activity far above the community's own everyday level, and what it left behind."""

    community_id: str
    month: str
    acts: int
    baseline: float
    factor: float
    newcomers: int
    still_active: list[float | None]  # share of the spike's newcomers active 1, 2, 3 ... months later
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spikes(
    ev: ibis.Table,
    month_rows: pd.DataFrame,
    *,
    factor: float = 3.0,
    min_acts: int = 20,
    follow: int = 3,
    baseline_months: int = 12,
    min_history: int = 2,
    min_newcomer_share: float = 0.25,
    min_fall: float = 0.5,
) -> list[Spike]:
    """Campaign months: activity at least ``factor`` times the community's everyday level before it
    (the median of up to ``baseline_months`` earlier months, needing ``min_history`` of them) and at
    least ``min_newcomer_share`` of the month's active members new, after which activity falls back
    (the next month gives back at least ``min_fall`` of the rise above the baseline); with the share of
    the spike's newcomers still active 1..``follow`` months later.

    Only earlier months count as the baseline: a community that starts busy and then declines has no
    spike, it has a decline. Every earlier month enters the baseline, the months after a spike too: left
    out, a level that rose for good would be measured against stray early months for ever and every
    later month would look like a spike. The ``follow`` months after a spike are its tail, not new
    spikes. A campaign draws people in: a busy month of the regulars alone is not one. A rise that holds
    the month after is growth, not a spike; the last month, with nothing after it, is not called a
    spike either.
    """
    import pandas as pd

    from covalue.presentation import plural

    found: list[tuple[str, int, int, float]] = []
    for cid, g in month_rows.groupby("community_id", sort=True):
        g = g.sort_values("month")
        history: list[int] = []
        tail_until = -1
        rows = list(g.itertuples())
        for i, row in enumerate(rows):
            month, acts = int(row.month), int(row.acts)
            if month > tail_until and len(history) >= min_history and i + 1 < len(rows):
                base = float(pd.Series(history[-baseline_months:]).median())
                drew = int(row.newcomers) >= min_newcomer_share * max(int(row.active), 1)
                fell = int(rows[i + 1].acts) <= acts - min_fall * (acts - base)
                if acts >= min_acts and acts >= factor * max(base, 1.0) and drew and fell:
                    found.append((cid, month, acts, base))
                    tail_until = month + follow
            history.append(acts)
    if not found:
        return []
    mm = member_months(ev)
    fl = first_last(mm)
    out = []
    end = int(month_rows.month.max())
    for cid, m, acts, base in found:
        newcomers = fl.filter((_.community_id == cid) & (_.first == m)).select("member_id")
        n_new = int(newcomers.count().execute())
        later = (
            mm.filter((_.community_id == cid) & (_.month > m) & (_.month <= m + follow))
            .join(newcomers, "member_id")
            .group_by("month")
            .aggregate(n=_.member_id.nunique())
            .to_pandas()
        )
        counts = dict(zip(later.month, later.n, strict=True))
        shares: list[float | None] = []
        for k in range(1, follow + 1):
            shares.append(None if m + k > end or not n_new else counts.get(m + k, 0) / n_new)
        kept = ", ".join(
            f"{s:.0%} after {k} month{'s' if k > 1 else ''}" for k, s in enumerate(shares, 1) if s is not None
        )
        out.append(
            Spike(
                cid,
                month_label(m),
                acts,
                base,
                acts / max(base, 1.0),
                n_new,
                shares,
                f"{acts:,} acts in {month_label(m)} against a median of {base:,.0f} in the months before "
                f"({acts / max(base, 1.0):.1f}×); {plural(n_new, 'newcomer')} that month"
                + (f", still active: {kept}" if kept else ""),
            )
        )
    return out
