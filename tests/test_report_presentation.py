"""What every output shares: the journey's stages (read from the maturity model), month keys and window
words, and the formatters and Jinja environment of covalue.presentation."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from covalue import models, periods, presentation, stages
from covalue.report import charts


def test_stages_are_the_maturity_model_s_journey_in_order_with_words_and_colours():
    journey = models.defaults("maturity")["journey"]
    assert stages.ORDER == tuple(journey["order"]) == ("observer", "connect", "share", "solve", "innovate")
    assert stages.JOURNEY == ("connect", "share", "solve", "innovate")
    assert [stages.label(s) for s in stages.ORDER] == ["Observer", "Connect", "Share", "Solve", "Innovate"]
    assert len(set(stages.COLOURS.values())) == len(stages.ORDER)  # no two stages share a colour
    assert [stages.rank(s) for s in (None, "not active", "observer", "innovate")] == [-1, -1, 0, 4]


def test_a_chart_draws_each_stage_in_its_model_colour():
    c = {
        "id": "x",
        "name": "X",
        "period": "2025-06",
        "window_days": 90,
        "mix": {"active": 10, "connect": 4, "share": 3, "solve": 2, "innovate": 1},
        "checks": [],
    }
    fig = charts.mix_now(c)["figure"]
    (bar,) = fig["data"]
    assert bar["marker"]["color"] == [stages.COLOURS[s] for s in stages.JOURNEY]


def test_month_keys_round_trip_over_decades_and_agree_with_calendar_arithmetic():
    for year in range(1999, 2032):
        for month in range(1, 13):
            label = f"{year:04d}-{month:02d}"
            key = periods.period_index(label)
            assert key == periods.key_of(year, month) == periods.key_of_time(date(year, month, 28))
            assert periods.period_label(key) == label
            assert periods.month_start(key) == datetime(year, month, 1)
    assert periods.shift("2020-01", -1) == "2019-12" and periods.shift("2019-12", 13) == "2021-01"
    assert periods.month_end(periods.period_index("2024-02")) == date(2024, 2, 29)


def test_windows_are_named_the_way_checks_show_them():
    assert periods.window_label("window", "2020-05", 90) == "90 days to 2020-05-31"
    assert periods.window_label("month", "2020-05", 90) == "2020-05"
    assert periods.window_words("2020-05", 90) == "the 90 days to the end of 2020-05"


def test_the_default_month_steps_back_from_a_partial_last_month_only_when_there_is_one_before():
    may, june = periods.period_index("2020-05"), periods.period_index("2020-06")
    assert periods.default_key(june, may, None) == june
    assert periods.default_key(june, may, "2020-06") == may
    assert periods.default_key(june, may, "2020-04") == june  # an older partial month changes nothing
    assert periods.default_key(june, june, "2020-06") == june  # nothing before it: keep the only month


@pytest.mark.parametrize("bad", ["2020-13", "2020-00", "20-05", "May 2020", "", None])
def test_a_bad_month_is_refused(bad):
    assert not periods.is_period(bad)
    if bad:
        with pytest.raises(ValueError):
            periods.period_index(bad)


def test_formatters_show_numbers_shares_waits_and_missing_values_one_way():
    p = presentation
    assert [p.num(1234.5, 1), p.num(3), p.num(None), p.num("n/a text")] == ["1,234.5", "3", "–", "n/a text"]
    assert [p.pct(0.417), p.pct(1), p.pct(None), p.pct("x")] == ["42%", "100%", "–", "–"]
    assert [p.hours(0.001), p.hours(0.02), p.hours(0.5), p.hours(30), p.hours(72), p.hours(None)] == [
        "under a minute",
        "1 minute",
        "30 minutes",
        "30.0 hours",
        "3.0 days",
        "–",
    ]
    assert p.when("2025-06-07T09:33:12") == "2025-06-07 09:33"
    assert p.counts({"Engineering": 6, "Sales": 1200}) == "Engineering 6, Sales 1,200"
    assert str(p.json_for_script({"a": "</script>"})) == '{"a":"<\\/script>"}'


def test_the_shared_environment_escapes_and_knows_the_filters():
    env = presentation.environment("covalue.report")
    html = env.from_string("{{ v }} {{ n|num(1) }} {{ s|pct }} {{ h|hours }}").render(
        v="<b>x</b>", n=2500, s=0.5, h=None
    )
    assert html == "&lt;b&gt;x&lt;/b&gt; 2,500.0 50% –"
