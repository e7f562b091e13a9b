"""Person-level pages read on cursors of their own: while the writer holds the workspace (both of the
server's locks taken and a transaction open with rows not yet committed, as during an ingest, an
analysis or a forget), a member's page, their evidence, a name reveal and the "what is held" page of
the forget form still answer, and show the last committed state."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Timeout
from contextlib import contextmanager
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.encoders import jsonable_encoder
    from fastapi.testclient import TestClient

import covalue
from covalue import journey, privacy
from covalue.testing import sign_in, synthetic_site
from covalue.web.app import create_app

PASSWORD = "a long test password"
MANAGER, ADMIN = "manager@example.org", "admin@example.org"
#: a page that waits for the writer waits for the whole hold (:data:`HOLD`); one that does not
#: answers in well under this even on a loaded machine
BOUND = 60.0
HOLD = 300.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    ws = synthetic_site(
        tmp_path_factory.mktemp("reads") / "ws",
        MANAGER,
        PASSWORD,
        community="healthy",
        others=((ADMIN, "admin", ""),),
    )
    w = covalue.open(ws)
    (member,) = w.raw.execute(
        "SELECT member_id FROM member_stages WHERE community_id = 'healthy' "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()
    w.close()
    app = create_app(ws)
    yield app, member
    app.state.site.close()


@contextmanager
def writer_held(site: Any) -> Iterator[str]:
    """Hold what a writer holds, from another thread: the write lock, the main connection's lock and
    an open transaction on the writer's cursor that has added an item not yet committed. Yields that
    item's id; released (rolled back) at the end."""
    held, release = threading.Event(), threading.Event()
    planted = "test:uncommitted-item"

    def hold() -> None:
        with site.write_lock, site.lock:
            raw = site.writer.raw
            raw.execute("BEGIN TRANSACTION")
            raw.execute(
                "INSERT INTO items (item_id, community_id, kind) VALUES (?, 'healthy', 'post')", [planted]
            )
            held.set()
            release.wait(HOLD)
            raw.execute("ROLLBACK")

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    assert held.wait(30), "the writer's hold could not be taken"
    try:
        yield planted
    finally:
        release.set()
        t.join(30)


def _within(pool: ThreadPoolExecutor, what: str, call: Any) -> Any:
    try:
        return pool.submit(call).result(timeout=BOUND)
    except Timeout:
        pytest.fail(f"{what}: waited more than {BOUND:.0f} s for the writer")


def test_member_pages_answer_while_the_writer_holds_the_workspace(served: tuple[Any, str]) -> None:
    app, member = served
    site = app.state.site
    manager, admin = TestClient(app), TestClient(app)
    token = sign_in(manager, MANAGER, PASSWORD)
    sign_in(admin, ADMIN, PASSWORD)
    with site.reader() as ws:
        name = privacy.labels(ws, [member], allow_names=True)[member]
        n_items = ws.raw.execute("SELECT count(*) FROM items").fetchone()[0]
    asks = {
        "member page": lambda: manager.get(f"/c/healthy/people/{member}"),
        "member journey": lambda: manager.get(f"/api/communities/healthy/members/{member}"),
        "reveal": lambda: manager.post(
            f"/api/communities/healthy/members/{member}/reveal", headers={"X-CSRF-Token": token}
        ),
        "what is held": lambda: admin.get("/admin/forget", params={"person": member}),
    }
    # the snapshot and the first queries are built before the hold: what follows is the reads alone
    free = {what: ask() for what, ask in asks.items()}
    assert all(r.status_code == 200 for r in free.values()), {k: r.status_code for k, r in free.items()}
    with ThreadPoolExecutor(2) as pool, writer_held(site) as planted:
        with site.reader() as ws:  # the planted item is not committed: readers do not see it
            assert ws.raw.execute("SELECT count(*) FROM items").fetchone()[0] == n_items
            assert not ws.raw.execute("SELECT 1 FROM items WHERE item_id = ?", [planted]).fetchone()
        got = {what: _within(pool, what, ask) for what, ask in asks.items()}
    assert all(r.status_code == 200 for r in got.values()), {k: r.text[:200] for k, r in got.items()}
    page = got["member page"].text
    assert privacy.pseudonym(member) in page and "evidence" in page.lower()
    assert got["member journey"].json() == free["member journey"].json()
    with site.reader() as ws:  # the journey the pages show is the one the CLI explains
        assert free["member journey"].json() == jsonable_encoder(
            journey.explain(ws, member, community="healthy")
        )
    assert got["reveal"].json() == {"member_id": member, "name": name}
    # what the workspace holds about them is what was committed before the hold (the store's rows,
    # the audit log among them, grew meanwhile: each of these requests is audited)
    counted = _held(free["what is held"].text)
    assert int(counted.get("workspace.items", "0").replace(",", "")) > 0
    assert _held(got["what is held"].text) == counted


def _held(page: str) -> dict[str, str]:
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="num">([\d,]+)</td>', page)
    return {k: v for k, v in rows if k.startswith("workspace.")}
