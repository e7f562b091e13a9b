"""Signed-in pages take turns; the sign-in page, static files and long waits never queue behind them."""

from __future__ import annotations

import anyio

from covalue.web.turns import Turns


def _run(paths: list[str], turns: int) -> list[tuple[str, str]]:
    """Start a request for each path at once on an app whose pages hold until released; return the
    order in which requests started and ended."""
    events: list[tuple[str, str]] = []
    release = anyio.Event()

    async def app(scope, receive, send) -> None:
        events.append(("start", scope["path"]))
        if scope["path"].startswith("/download"):  # answers at once, then sends its body slowly
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await release.wait()
        elif scope["path"].startswith("/c/"):
            await release.wait()
        events.append(("end", scope["path"]))

    async def send(message) -> None:
        pass

    mw = Turns(app, turns=turns, long_paths={"/api/uploads"})

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for p in paths:
                tg.start_soon(mw, {"type": "http", "path": p}, None, send)
                await anyio.sleep(0.01)
            await anyio.sleep(0.05)
            events.append(("released", ""))
            release.set()

    anyio.run(main)
    return events


def test_quick_paths_pass_while_every_turn_is_taken() -> None:
    events = _run(["/c/a/journey", "/c/b/health", "/login", "/static/style.css", "/api/me"], turns=1)
    released = events.index(("released", ""))
    before = events[:released]
    # the first page holds the only turn; the second waits for it without starting
    assert ("start", "/c/a/journey") in before and ("start", "/c/b/health") not in before
    for quick in ("/login", "/static/style.css", "/api/me"):
        assert ("end", quick) in before
    assert ("start", "/c/b/health") in events[released:]


def test_long_requests_do_not_hold_a_turn() -> None:
    events = _run(["/c/a/journey", "/api/uploads", "/api/c/a/analyse", "/c/b/people"], turns=1)
    before = events[: events.index(("released", ""))]
    assert ("end", "/api/uploads") in before and ("end", "/api/c/a/analyse") in before
    assert ("start", "/c/b/people") not in before


def test_an_answer_being_sent_does_not_hold_a_turn() -> None:
    """A slow download has been drawn: once its answer starts, the next page takes the turn."""
    events = _run(["/download/report", "/c/a/journey"], turns=1)
    before = events[: events.index(("released", ""))]
    assert ("start", "/c/a/journey") in before and ("end", "/download/report") not in before
