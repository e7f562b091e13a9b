"""Periods and trailing windows: the calendar months the analysis reports on, keyed by integers, and
the rows of a table repeated once for each month whose window (90 days by default) holds them.

A period key is the months since year 0 (``year * 12 + month - 1``), which DuckDB and Spark compute
alike; ``YYYY-MM`` is its label. A period's window ends with the month: ``win_start <= ts < win_end``.
"""

from __future__ import annotations

from datetime import timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

# the month keys are the periods module's; they are named here too for the metrics that import them
from covalue.periods import key_of_time, month_index, month_start, period_index, period_label

__all__ = [
    "activity_range",
    "in_windows",
    "month_index",
    "month_start",
    "month_sums",
    "period_index",
    "period_label",
    "periods_table",
    "sums_in_windows",
    "window_offsets",
    "window_sums",
]


def periods_table(first: int, last: int, days: int) -> pa.Table:
    """One row per month from ``first`` to ``last`` (period keys) with its 90-day (``days``) window:
    ``win_start <= ts < win_end``, where ``win_end`` is the first instant of the next month."""
    rows = []
    for p in range(first, last + 1):
        end = month_start(p + 1)
        rows.append(
            {
                "pidx": p,
                "period": period_label(p),
                "period_start": month_start(p),
                "win_start": end - timedelta(days=days),
                "win_end": end,
            }
        )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("pidx", pa.int64()),
                ("period", pa.string()),
                ("period_start", pa.timestamp("us")),
                ("win_start", pa.timestamp("us")),
                ("win_end", pa.timestamp("us")),
            ]
        ),
    )


def activity_range(items: ir.Table, actions: ir.Table) -> tuple[int, int] | None:
    """First and last month (period keys) with any item or action, or None for an empty workspace."""
    a = items.aggregate(lo=items.created_at.min(), hi=items.created_at.max()).to_pyarrow().to_pylist()[0]
    b = actions.aggregate(lo=actions.ts.min(), hi=actions.ts.max()).to_pyarrow().to_pylist()[0]
    los = [v for v in (a["lo"], b["lo"]) if v is not None]
    his = [v for v in (a["hi"], b["hi"]) if v is not None]
    if not los:
        return None
    lo, hi = min(los), max(his)
    return key_of_time(lo), key_of_time(hi)


def window_offsets(days: int, extra: int = 0) -> ir.Table:
    """The months (``_off``) after a row's month whose windows of ``days`` can hold it: 0 to
    ``days // 28`` (a month is at least 28 days), and ``extra`` more for a caller that filters later."""
    return ibis.memtable({"_off": list(range(days // 28 + 1 + extra))})


def in_windows(t: ir.Table, ts: str, periods: ir.Table, days: int) -> ir.Table:
    """``t`` repeated once per period whose window holds ``t[ts]`` (with the period's columns).

    Each row is paired with its own month and the few months after it (a small cross join with the
    offsets), then kept where the window starts before it: an equi-join, not a range join.
    """
    # a month is at least 28 days, so a window ending k months after the row's month holds it only
    # when 28 * k < days: offsets 0..days // 28 are enough (one more only made rows the join dropped)
    offsets = window_offsets(days)
    x = t.mutate(_m0=month_index(t[ts])).cross_join(offsets)
    x = x.mutate(_pk=x._m0 + x._off)
    x = x.join(periods, x._pk == periods.pidx)
    x = x.filter((x[ts] >= x.win_start) & (x[ts] < x.win_end))
    return x.drop("_m0", "_off", "_pk")


def month_sums(
    t: ir.Table, ts: str, keys: list[str], measures: dict[str, ir.NumericValue], days: int
) -> ir.Table:
    """Per ``keys``, calendar month (``month``) and ``reach``, the sums of ``measures`` (expressions over
    ``t``): the monthly totals :func:`sums_in_windows` adds up per window, and what an incremental
    analysis keeps so that a new month reads only its own rows.

    A row of month m is in the window of every period from m to m + reach, where reach is the month of
    ``ts + days`` minus m, minus one (a window starts ``days`` before the month after it ends, so
    ``ts >= win_start`` exactly when ``ts + days`` falls in that month or later).
    """
    m = month_index(t[ts])
    x = t.mutate(month=m, reach=month_index(t[ts] + ibis.interval(days=days)) - m - 1)
    return x.group_by(*keys, "month", "reach").aggregate(**{k: v.sum() for k, v in measures.items()})


def sums_in_windows(
    sums: ir.Table, keys: list[str], names: list[str], periods: ir.Table, days: int
) -> ir.Table:
    """Per ``keys`` and period (``pidx``), the columns ``names`` of :func:`month_sums`'s table added up
    over the months each period's window holds."""
    offsets = window_offsets(days, extra=1)
    e = sums.cross_join(offsets)
    e = e.filter(e._off <= e.reach).mutate(_pk=e.month + e._off)
    pw = periods.select(_wp=periods.pidx)
    e = e.join(pw, e._pk == pw._wp)
    return e.group_by(*keys, pidx=e._pk).aggregate(**{k: e[k].sum() for k in names})


def window_sums(
    t: ir.Table,
    ts: str,
    keys: list[str],
    measures: dict[str, ir.NumericValue],
    periods: ir.Table,
    days: int,
) -> ir.Table:
    """Per ``keys`` and period (``pidx``), the sums of ``measures`` (expressions over ``t``) over the rows
    whose time ``t[ts]`` the period's window holds: what :func:`in_windows` followed by a group-by gives,
    with far fewer rows repeated (rows are summed per month first, :func:`month_sums`)."""
    sums = month_sums(t, ts, keys, measures, days)
    return sums_in_windows(sums, keys, list(measures), periods, days)
