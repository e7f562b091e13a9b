"""Cell values of tabular exports read into canonical types: ids, numbers, booleans and timestamps in
the many ways spreadsheets and databases write them; a cell that cannot be read raises BadRow."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import orjson

from covalue.sources.base import to_utc

_DIGITS = re.compile(r"[+-]?\d+(\.\d+)?")


_FRACTION = re.compile(r"(\.\d{6})\d+")


_TRUE = frozenset({"true", "t", "yes", "y", "1"})


_FALSE = frozenset({"false", "f", "no", "n", "0"})


_EPOCH = datetime(1970, 1, 1)

_N = TypeVar("_N", int, float)


class BadRow(Exception):
    """One row cannot be used; the message is the reject reason."""


def text_value(v: Any) -> str | None:
    """A string from a cell (nested JSON kept as JSON text), None when empty."""
    if v is None:
        return None
    if isinstance(v, str):
        return v if v.strip() else None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace") or None
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def id_value(v: Any) -> str | None:
    s = text_value(v)
    return s.strip() if s is not None else None


def int_value(v: Any, col: str) -> int | None:
    if v is None or isinstance(v, bool):
        return None if v is None else int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise BadRow(f"{col} is not a whole number: {v!r}")
    try:
        return _written_number(v, col, int)
    except BadRow:
        f = _written_number(v, col, float) or 0.0  # "12.0" is a whole number; "x" is no number at all
        if f.is_integer():
            return int(f)
        raise BadRow(f"{col} is not a whole number: {str(v).strip()[:40]!r}") from None


def float_value(v: Any, col: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    return _written_number(v, col, float)


def _written_number(v: Any, col: str, kind: type[_N]) -> _N | None:
    """A number written as text in a cell: None when the cell is blank, BadRow when it is no ``kind``."""
    s = str(v).strip()
    if not s:
        return None
    try:
        return kind(s)
    except ValueError:
        raise BadRow(f"{col} is not a number: {s[:40]!r}") from None


def bool_value(v: Any, col: str) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return bool(v)
    s = str(v).strip().lower()
    if not s:
        return None
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise BadRow(f"{col} is not true/false: {s[:40]!r}")


def _from_epoch(x: float) -> datetime:
    """Epoch seconds, millis, micros or nanos, told apart by magnitude (seconds stay below 1e11
    until the year 5138, millis below 1e14, ...)."""
    ax = abs(x)
    scale = 1 if ax < 1e11 else 1e3 if ax < 1e14 else 1e6 if ax < 1e17 else 1e9
    try:
        return _EPOCH + timedelta(seconds=x / scale)
    except OverflowError:
        raise BadRow(f"timestamp {x!r} is out of range") from None


def timestamp_value(v: Any, col: str, fmt: str | None = None) -> datetime | None:
    """A naive UTC datetime from ISO 8601, epoch seconds/millis, ``fmt`` (strptime) or a native value."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return to_utc(v)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    if isinstance(v, bool):
        raise BadRow(f"{col} is not a timestamp: {v!r}")
    if isinstance(v, int | float):
        return _from_epoch(float(v))
    s = str(v).strip()
    if not s:
        return None
    if fmt:
        try:
            return to_utc(datetime.strptime(s, fmt))
        except ValueError:
            raise BadRow(f"{col} {s[:40]!r} does not match timestamp_format {fmt!r}") from None
    if _DIGITS.fullmatch(s):
        # compact ISO dates (20240131, 20240131093000) read as dates, not as seconds since 1970
        for f in ("%Y%m%d", "%Y%m%d%H%M%S"):
            if len(s) == len(datetime(2000, 1, 1).strftime(f)):
                try:
                    return datetime.strptime(s, f)
                except ValueError:
                    pass
        return _from_epoch(float(s))
    try:  # the common case first: ISO 8601 that Python reads as it is
        return to_utc(datetime.fromisoformat(s))
    except ValueError:
        pass
    # then what it does not take: fractions finer than microseconds (nanosecond exports)
    dt = to_utc(_FRACTION.sub(r"\1", s))
    if dt is None:
        raise BadRow(f"{col} is not a timestamp (ISO 8601 or epoch expected): {s[:40]!r}")
    return dt
