"""Health on the synthetic organisation: every planted shape is diagnosed, the campaign spike is found
with its decay, the dying community shrinks. The truths come from covalue.synth, not from this code."""

from __future__ import annotations

from pathlib import Path

import pytest

import covalue
from covalue import diagnosis, journey, synth

EXPECTED_SHAPE = {
    "healthy": "community",
    "single-voice": "single voice",
    "broadcast": "broadcast",
    "workgroup": "workgroup",
    "campaign": "community",
}


@pytest.fixture(scope="module")
def org_ws(tmp_path_factory: pytest.TempPathFactory):
    org = synth.generate(seed=7)
    ws = covalue.init(Path(tmp_path_factory.mktemp("health")) / "ws")
    org.write(ws)
    ws.analyze()
    yield org, ws
    ws.close()


def test_planted_shapes_are_diagnosed(org_ws) -> None:
    org, ws = org_ws
    h = diagnosis.health(ws)
    planted = {cid: info["shape"] for cid, info in org.truth.communities.items()}
    for cid, shape in planted.items():
        if shape in ("healthy", "single-voice", "broadcast", "workgroup", "campaign"):
            got = h[cid]["shape"]
            assert got["shape"] == EXPECTED_SHAPE[shape], (cid, got["explanation"])
            # the verdict states its numbers and the thresholds it used
            assert str(got["active"]) in got["explanation"]
            assert got["thresholds"]["single_voice_min_share"] == 0.6


def test_single_voice_is_the_planted_author(org_ws) -> None:
    _org, ws = org_ws
    row = diagnosis.health(ws)["single-voice"]["shape"]
    assert row["top_author_share"] >= 0.6
    assert diagnosis.health(ws)["workgroup"]["shape"]["top_unit_share"] == 1.0


def test_campaign_spike_found_with_its_decay(org_ws) -> None:
    org, ws = org_ws
    dyn = diagnosis.dynamics_of(ws)
    spikes = {(cid, s["month"]) for cid, d in dyn.items() for s in d["spikes"]}
    assert spikes == {(org.truth.spike["community"], org.truth.spike["month"])}
    s = dyn[org.truth.spike["community"]]["spikes"][0]
    assert s["newcomers"] == len(org.truth.spike["newcomers"])
    shares = s["still_active"]
    assert shares[0] > shares[1] > shares[2]  # it decays
    assert shares[2] <= len(org.truth.spike["stayers"]) / len(org.truth.spike["newcomers"]) + 1e-9


def test_dying_community_is_shrinking_and_others_are_not(org_ws) -> None:
    org, ws = org_ws
    dyn = diagnosis.dynamics_of(ws)
    for cid in org.truth.shrinking:
        assert dyn[cid]["growth"]["verdict"] == "shrinking", dyn[cid]["growth"]["explanation"]
    for cid in ("healthy", "workgroup"):
        assert dyn[cid]["growth"]["verdict"] != "shrinking"


def test_responsiveness_and_unanswered(org_ws) -> None:
    _org, ws = org_ws
    h = diagnosis.health(ws)
    healthy = h["healthy"]["responsiveness"]
    assert healthy["response_rate"] > 0.8
    # the healthy community answers within hours; the broadcast gets no replies to time at all
    assert healthy["ttfr_median_h"] < 24
    broadcast = h["broadcast"]["responsiveness"]
    assert broadcast["replied"] == 0 and broadcast["ttfr_median_h"] is None
    # unanswered questions are listed oldest first and are questions nobody else answered
    for cid, info in h.items():
        dates = [q["created_at"] for q in info["unanswered"]]
        assert dates == sorted(dates), cid


def test_concentration_counts_people_making_half_the_contributions(org_ws) -> None:
    _org, ws = org_ws
    h = diagnosis.health(ws)
    assert h["single-voice"]["concentration"]["absence_factor"] == 1
    assert h["healthy"]["concentration"]["absence_factor"] > 10
    assert h["workgroup"]["concentration"]["elephant_factor"] == 1


def test_window_days_sets_the_window_of_stages_and_health_alike(tmp_path: Path) -> None:
    """``[analysis] window_days`` moves both windows; a model's own window sets one apart."""
    ws = covalue.init(tmp_path / "ws")
    toml = ws.path / "covalue.toml"
    ws.close()
    toml.write_text(toml.read_text().replace("window_days = 90", "window_days = 60", 1))
    ws = covalue.open(toml.parent)
    assert journey.load_models(ws)[0]["window"]["days"] == diagnosis.model(ws)["window"]["days"] == 60
    ws.close()
    toml.write_text(toml.read_text() + "\n[model.health.window]\ndays = 30\n")
    ws = covalue.open(toml.parent)
    assert (journey.load_models(ws)[0]["window"]["days"], diagnosis.model(ws)["window"]["days"]) == (60, 30)
    ws.close()
