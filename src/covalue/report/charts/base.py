"""What every chart of the report shares: the palette, the layout, and :func:`chart`, which gives a figure
its text alternatives (a one-line summary, also its aria-label, and a data table), so the numbers are
there without the picture.

Colours follow the Okabe–Ito palette, which stays distinguishable for the common colour-vision
deficiencies; stages also differ in position and label, never in colour alone.
"""

from __future__ import annotations

from typing import Any

from covalue import stages

OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
GREY = "#A0A0A0"
STAGE_COLOURS = stages.COLOURS
STAGE_WORDS = stages.LABELS
STAGES = stages.ORDER
CYCLE = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]
FONT = {
    "family": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    "size": 13,
    "color": "#222",
}


def layout(
    title: str, *, x: str | None = None, y: str | None = None, height: int = 340, **extra: Any
) -> dict:
    lay: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": FONT,
        "height": height,
        "margin": {"l": 70, "r": 30, "t": 50, "b": 60},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": -0.25, "x": 0},
        "hoverlabel": {"font": {"size": 12}},
    }
    axis = {"gridcolor": "#e5e5e5", "linecolor": "#888", "zeroline": False, "automargin": True}
    if x is not None:
        lay["xaxis"] = {**axis, "title": {"text": x}}
    if y is not None:
        lay["yaxis"] = {**axis, "title": {"text": y}}
    lay.update(extra)
    return lay


def ranked_layout(
    title: str,
    *,
    x: str,
    y: str,
    rows: int,
    per_row: int = 28,
    top: int = 60,
    least: int = 280,
    **extra: Any,
) -> dict:
    """A horizontal bar chart's layout that lists ``rows`` categories from the top down in the order
    given, each ``per_row`` pixels tall over a ``top`` of title and axis (at least ``least`` pixels)."""
    return layout(
        title,
        x=x,
        y=y,
        height=max(least, top + per_row * rows),
        yaxis={"autorange": "reversed", "title": {"text": y}, "automargin": True},
        **extra,
    )


def chart(cid: str, key: str, figure: dict, summary: str, columns: list[str], rows: list[list[Any]]) -> dict:
    """A chart with its text alternatives; ``cid``/``key`` make a unique DOM id."""
    safe = "".join(ch if ch.isalnum() else "-" for ch in f"{cid}-{key}")
    return {
        "id": f"chart-{safe}",
        "title": figure["layout"]["title"]["text"],
        "figure": figure,
        "summary": summary,
        "columns": columns,
        "rows": [[cell(v) for v in r] for r in rows],
    }


def cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}" if not v.is_integer() else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# -- stage mix -----------------------------------------------------------------------------------------
#: the stages of active members: Observers did nothing others could see, so they stand beside the mix
def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# -- responsiveness and dynamics ------------------------------------------------------------------------


def round_ticks(largest: float, most: int = 6) -> dict[str, float]:
    """A zero-based axis ticking at round numbers (1, 2, 2.5 or 5 times a power of ten) with at most
    ``most`` intervals: ``range`` and ``dtick`` for Plotly, so a second axis reads 0/50/100/150
    instead of Plotly's 0/37/74/111 when it divides a free range evenly."""
    import math

    top = max(float(largest or 0), 1e-9)
    raw = top / max(most, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return {"range": [0, step * math.ceil(top / step)], "dtick": step}
