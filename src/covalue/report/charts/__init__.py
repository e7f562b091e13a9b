"""Plotly chart specs for the report and the web app, as plain dicts (``{"data": [...], "layout": {...}}``)
drawn by the plotly.js the page inlines once. One module per concept; :data:`COMMUNITY_CHARTS` names the
charts made for every community (``covalue.report.display`` makes them, guarded one by one).
"""

from __future__ import annotations

from covalue.report.charts.base import GREY, OKABE_ITO, STAGES, chart
from covalue.report.charts.health import membership, responsiveness, retention, spikes
from covalue.report.charts.journey import innovate_measurable, journey, mix_now, mix_over_time, portfolio_mix
from covalue.report.charts.people import network
from covalue.report.charts.resonance import themes

__all__ = [
    "COMMUNITY_CHARTS",
    "GREY",
    "OKABE_ITO",
    "STAGES",
    "chart",
    "innovate_measurable",
    "journey",
    "membership",
    "mix_now",
    "mix_over_time",
    "network",
    "portfolio_mix",
    "responsiveness",
    "retention",
    "spikes",
    "themes",
]

#: chart key → the function that draws it from one community's facts (None when nothing to draw);
#: retention is made apart, as it needs the workspace's smallest group size
COMMUNITY_CHARTS = {
    "mix_now": mix_now,
    "mix_over_time": mix_over_time,
    "journey": journey,
    "responsiveness": responsiveness,
    "membership": membership,
    "spikes": spikes,
    "network": network,
    "themes": themes,
}
