"""Periods: calendar months as integer keys, their labels, and the words for the windows measured.

A period is a calendar month. Everywhere it is keyed by one integer, the months since year 0
(``year * 12 + month - 1``), which DuckDB and Spark compute alike and which subtracts cleanly; it is
shown as ``YYYY-MM``. A member's stage and most checks are judged on the trailing window (90 days by
default) that ends with the month; some checks count the month alone.

    key = period_index("2020-05")        # 24244
    period_label(key - 3)                # "2020-02"
    window_label("window", "2020-05", 90)  # "90 days to 2020-05-31"
    window_label("month", "2020-05", 90)   # "2020-05"
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import ibis.expr.types as ir

#: the column name of the month key in every table keyed by period
KEY_COLUMN = "pidx"


def month_index(ts: ir.TimestampValue) -> ir.IntegerValue:
    """The month key of a timestamp column (an Ibis expression, named ``pidx``)."""
    return (ts.year().cast("int64") * 12 + ts.month().cast("int64") - 1).name(KEY_COLUMN)


def key_of(year: int, month: int) -> int:
    """The month key of a calendar month."""
    return year * 12 + month - 1


def key_of_time(ts: datetime | date) -> int:
    """The month key of a Python date or timestamp."""
    return key_of(ts.year, ts.month)


def month_start(key: int) -> datetime:
    """The first instant of the month ``key``."""
    return datetime(key // 12, key % 12 + 1, 1)


def month_end(key: int) -> date:
    """The last day of the month ``key``."""
    return (month_start(key + 1) - timedelta(days=1)).date()


def period_label(key: int) -> str:
    """``YYYY-MM`` for a month key."""
    return f"{key // 12:04d}-{key % 12 + 1:02d}"


def period_index(label: str) -> int:
    """The month key of ``YYYY-MM`` (ValueError for anything else)."""
    year, month = label.split("-")
    m = int(month)
    if not 1 <= m <= 12 or len(year) != 4:
        raise ValueError(f"not a month: {label!r} (expected YYYY-MM)")
    return key_of(int(year), m)


def is_period(label: str | None) -> bool:
    """Whether ``label`` is a month written ``YYYY-MM``."""
    if not label:
        return False
    try:
        period_index(label)
    except ValueError:
        return False
    return True


def shift(label: str, months: int) -> str:
    """The month ``months`` after (or, negative, before) ``label``."""
    return period_label(period_index(label) + months)


def window_label(span: str, period: str, days: int) -> str:
    """What a measure covers, in words: the month itself (``span == "month"``, shown as ``YYYY-MM``) or
    the trailing window that ends with it (``"90 days to 2020-05-31"``)."""
    if span == "month":
        return period
    return f"{days} days to {month_end(period_index(period)).isoformat()}"


def default_key(latest: int, first: int, partial_month: str | None) -> int:
    """The month shown by default: the latest with activity, or the one before when the latest is the
    export's partial last month (``partial_month``, ``YYYY-MM``; half a month reads as a decline and
    fails every check). A community with nothing before its partial month keeps it."""
    if partial_month is not None and period_label(latest) == partial_month and latest - 1 >= first:
        return latest - 1
    return latest


def window_words(period: str, days: int) -> str:
    """The trailing window in a sentence: ``"the 90 days to the end of 2020-05"``."""
    return f"the {days} days to the end of {period}"
