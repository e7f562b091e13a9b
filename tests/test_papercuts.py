"""Small things a person trips over: counts with their nouns in the right number, and ``covalue
explain`` taking the label the report prints for a member."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
import maturity_fixtures as mf
from covalue.presentation import environment, plural


def test_plural_says_one_person_and_many_people() -> None:
    assert [plural(1, "person"), plural(2, "person"), plural(0, "newcomer"), plural(1, "newcomer")] == [
        "1 person",
        "2 people",
        "0 newcomers",
        "1 newcomer",
    ]
    assert plural(1204, "member") == "1,204 members"
    assert plural(1, "story") == "1 story" and plural(3, "story") == "3 stories"
    assert plural(None, "person") == "– people"
    env = environment("covalue.report")
    assert env.from_string("{{ n|plural('person') }}").render(n=1) == "1 person"


@pytest.fixture
def club(ws):
    mf.load(ws)
    ws.analyze()
    return ws


def test_explain_takes_the_label_the_report_prints(club) -> None:
    from covalue.cli import app

    w = str(club.path)
    club.close()
    r = CliRunner()
    # the report labels m_erin "Member erin"; the person copies either the label or its tail
    for given in ("Member erin", "member erin", "erin", mf.mid("erin")):
        res = r.invoke(app, ["explain", given, "-w", w, "--period", "2025-03"])
        assert res.exit_code == 0, (given, res.output)
        assert "Innovate" in res.output
    res = r.invoke(app, ["explain", "Member nobody", "-w", w])
    assert res.exit_code == 1 and "no member 'Member nobody'" in res.output
