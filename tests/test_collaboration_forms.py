"""The Collaboration canvas's forms as a manager meets them on the synthetic organisation: a story with
one wrong item id comes back as typed with the id named, items are picked by their words, and a
hypothesis written "We believe that ..." is not shown with a second "We believe"."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from covalue.testing import sign_in, synthetic_site
from covalue.web.app import create_app

PASSWORD = "a long test password"
SPONSOR = ("sponsor@example.org", "sponsor", "healthy")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = synthetic_site(
        tmp_path_factory.mktemp("forms") / "ws", "manager@example.org", PASSWORD, others=(SPONSOR,)
    )
    with TestClient(create_app(path)) as c:
        yield c


def _login(c: TestClient, email: str) -> str:
    return sign_in(c, email, PASSWORD)


def _an_item(c: TestClient) -> tuple[str, str]:
    """A real post of the community (its longest) and words of it, read from the workspace."""
    site = c.app.state.site  # type: ignore[attr-defined]
    with site.lock:
        item_id, text = site.ws.raw.execute(
            "SELECT item_id, text FROM items WHERE community_id = 'healthy' "
            "ORDER BY length(text) DESC, item_id LIMIT 1"
        ).fetchone()
    return item_id, " ".join(re.findall(r"[A-Za-z]{4,}", text)[:5])


def test_items_are_found_by_their_words_and_only_by_editors(client: TestClient) -> None:
    item_id, word = _an_item(client)
    _login(client, "manager@example.org")
    found = client.get("/api/c/healthy/items/search", params={"q": word}).json()["items"]
    assert found and len(found) <= 20
    assert item_id in {r["item_id"] for r in found}
    site = client.app.state.site  # type: ignore[attr-defined]
    for r in found:
        with site.lock:
            (text,) = site.ws.raw.execute(
                "SELECT lower(coalesce(title, '') || ' ' || text) FROM items WHERE item_id = ?",
                [r["item_id"]],
            ).fetchone()
        assert all(w.lower() in text for w in word.split())  # every word, in title or text
        assert r["date"] and r["link"] is None  # a synthetic export names no platform host
    assert [r["date"] for r in found] == sorted((r["date"] for r in found), reverse=True)
    assert client.get("/api/c/healthy/items/search", params={"q": ""}).json()["items"] == []
    _login(client, "sponsor@example.org")
    assert client.get("/api/c/healthy/items/search", params={"q": word}).status_code == 403


def test_a_wrong_item_id_keeps_the_story_and_names_the_id(client: TestClient) -> None:
    item_id, _ = _an_item(client)
    token = _login(client, "manager@example.org")
    page = client.get("/c/healthy/stories").text
    assert 'id="s-item-search"' in page and "/static/picker.js" in page
    form = {
        "csrf_token": token,
        "title": "Buddies halved the wait",
        "immediate": "Newcomers got a first answer within the day",
        "items": f"{item_id}\nno-such-post-42",
    }
    r = client.post("/c/healthy/stories", data=form, follow_redirects=False)
    assert r.status_code == 400
    assert "no-such-post-42" in r.text and 'role="alert"' in r.text
    assert 'value="Buddies halved the wait"' in r.text
    assert "Newcomers got a first answer within the day</textarea>" in r.text
    assert item_id in r.text  # the good id stays in the field
    stories = client.get("/api/c/healthy/stories").json()["stories"]
    assert "Buddies halved the wait" not in {s["title"] for s in stories}
    form["items"] = item_id
    r = client.post("/c/healthy/stories", data=form, follow_redirects=False)
    assert r.status_code == 303
    stories = client.get("/api/c/healthy/stories").json()["stories"]
    assert "Buddies halved the wait" in {s["title"] for s in stories}


def test_we_believe_is_said_once(client: TestClient) -> None:
    h = {"X-CSRF-Token": _login(client, "manager@example.org")}
    body = {
        "title": "Office hours",
        "hypothesis": "We believe that weekly office hours will lead to faster answers",
    }
    assert client.post("/api/c/healthy/experiments", json=body, headers=h).status_code == 201
    body = {"title": "Buddy list", "hypothesis": "pairing newcomers will keep them"}
    assert client.post("/api/c/healthy/experiments", json=body, headers=h).status_code == 201
    page = client.get("/c/healthy/experiments").text
    assert "We believe that weekly office hours will lead to faster answers" in page
    assert "We believe</b> We believe" not in page
    assert "<b>We believe</b> pairing newcomers will keep them" in page
