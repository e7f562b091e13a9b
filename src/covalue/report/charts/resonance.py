"""The themes chart: what members ask about, and which themes wait for an answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from covalue.presentation import plural
from covalue.report.charts.base import OKABE_ITO, chart, ranked_layout

if TYPE_CHECKING:
    from covalue.report.facts import CommunityFacts


def themes(c: CommunityFacts) -> dict | None:
    res = c.get("resonance") or {}
    th = res.get("question_themes") or []
    if not th:
        return None
    th = sorted(th, key=lambda t: -(t.get("n_questions") or 0))[:12]
    open_ = {t["label"]: t.get("n_questions", 0) for t in res.get("unanswered_themes") or []}
    labels = [t["label"] for t in th]
    fig = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "questions",
                "y": labels,
                "x": [t.get("n_questions", 0) for t in th],
                "marker": {"color": OKABE_ITO["blue"]},
                "hovertemplate": "%{y}: %{x} questions<extra></extra>",
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "still unanswered",
                "y": labels,
                "x": [open_.get(lbl, 0) for lbl in labels],
                "marker": {"color": OKABE_ITO["vermillion"], "pattern": {"shape": "/"}},
                "hovertemplate": "%{y}: %{x} unanswered<extra></extra>",
            },
        ],
        "layout": ranked_layout(
            "What members ask about", x="questions (count)", y="theme", rows=len(th), barmode="overlay"
        ),
    }
    unanswered = sum(open_.values())
    summary = (
        f"The most asked-about theme is “{labels[0]}” ({plural(th[0].get('n_questions', 0), 'question')})"
        + (
            f"; {plural(unanswered, 'question')} in {plural(len(open_), 'theme')} "
            f"{'is' if unanswered == 1 else 'are'} still unanswered."
            if open_
            else "."
        )
    )
    rows = [
        [t["label"], ", ".join(t.get("terms") or []), t.get("n_questions", 0), open_.get(t["label"], 0)]
        for t in th
    ]
    return chart(c["id"], "themes", fig, summary, ["theme", "terms", "questions", "unanswered"], rows)


# -- portfolio ------------------------------------------------------------------------------------------
