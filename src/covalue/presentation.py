"""How numbers, times and pages are shown: the formatters and the Jinja environment every HTML output
(the report, its sections, the web app, canvas exports) is made with.

    from covalue import presentation
    presentation.num(1234.5, 1)        # "1,234.5"
    presentation.pct(0.417)            # "42%"
    presentation.hours(30)             # "30.0 hours"
    env = presentation.environment("covalue.report")   # templates/ of that package, filters installed

A value that is missing is shown as "–" by every formatter, so a table never mixes "n/a", "None" and
blanks. Build templates from :func:`environment` rather than a new ``jinja2.Environment`` so that every
page escapes the same way and knows the same filters (``num``, ``pct``, ``hours``, ``when``, ``counts``,
``text_of``, ``plural``, ``unmeasured``); add page-specific filters to the returned environment. The report
(``covalue.report.view``), the web app (``web/common.py``) and the canvases' exports are all made so.
"""

from __future__ import annotations

from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

#: how every formatter shows a value that is missing
MISSING = "–"


def plain(v: Any) -> Any:
    """A value from an engine as plain Python: NaN as None, numpy scalars as their Python value."""
    if isinstance(v, float) and v != v:  # NaN
        return None
    if hasattr(v, "item"):
        return plain(v.item())
    return v


def table_rows(t: Any) -> list[dict[str, Any]]:
    """An Ibis table's rows as dicts of plain Python values (see :func:`plain`)."""
    return [{k: plain(v) for k, v in r.items()} for r in t.to_pyarrow().to_pylist()]


def _float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def num(v: Any, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals; text that is not a number as is."""
    if v is None:
        return MISSING
    x = _float(v)
    return str(v) if x is None else f"{x:,.{digits}f}"


def pct(v: Any) -> str:
    """A share (0.417) as a whole percentage ("42%")."""
    x = None if v is None else _float(v)
    return MISSING if x is None else f"{100 * x:.0f}%"


def hours(v: Any) -> str:
    """A wait in words: minutes under an hour, hours up to two days, days beyond (``3.8 hours``)."""
    h = None if v is None else _float(v)
    if h is None:
        return MISSING
    if h < 1 / 60:
        return "under a minute"
    if h < 1:
        return plural(round(h * 60), "minute")
    return f"{h:.1f} hours" if h < 48 else f"{h / 24:.1f} days"


#: plurals English does not make with an "s"
IRREGULAR = {"person": "people", "story": "stories", "reply": "replies", "opportunity": "opportunities"}


def plural(v: Any, word: str, many: str | None = None) -> str:
    """A count with its noun in the right number: ``1 person``, ``3 people``, ``1 newcomer``,
    ``1,204 newcomers``; ``many`` names a plural the table above does not know."""
    x = _float(v)
    if x is None:
        return f"{MISSING} {many or IRREGULAR.get(word, word + 's')}"
    noun = word if x == 1 else (many or IRREGULAR.get(word, word + "s"))
    return f"{num(x)} {noun}"


def when(v: Any) -> str:
    """A timestamp to the minute (``2025-06-07 09:33``)."""
    return MISSING if v is None else str(v).replace("T", " ")[:16]


def counts(d: Any) -> str:
    """``{"Engineering": 6, "Sales": 5}`` → ``Engineering 6, Sales 5``."""
    if isinstance(d, dict):
        return ", ".join(f"{k} {num(v)}" for k, v in d.items())
    return str(d)


def text_of(v: Any) -> str:
    """The words an item is shown by: its title or excerpt, else its id."""
    if isinstance(v, dict):
        return str(v.get("title_or_excerpt") or v.get("title") or v.get("item_id") or "")
    return str(v)


def json_for_script(data: Any) -> Markup:
    """``data`` as JSON safe inside ``<script>``: "</" could end the element early, "<\\/" reads the
    same to JSON.parse."""
    return Markup(orjson.dumps(data).decode().replace("</", "<\\/"))


def unmeasured(check: Any) -> str:
    """Why a stage check cannot be read from the export (see
    :func:`covalue.metrics.stage_checks.unmeasurable_reason`)."""
    from covalue.metrics.stage_checks import unmeasurable_reason

    return unmeasurable_reason(dict(check))


FILTERS = {
    "unmeasured": unmeasured,
    "num": num,
    "pct": pct,
    "hours": hours,
    "when": when,
    "counts": counts,
    "text_of": text_of,
    "plural": plural,
}


def environment(package: str, folder: str = "templates") -> Environment:
    """A Jinja environment over ``folder`` of ``package``: autoescaped HTML, whitespace trimmed, the
    shared filters installed. Callers keep their own (e.g. under ``functools.cache``)."""
    env = Environment(
        loader=PackageLoader(package, folder),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env
