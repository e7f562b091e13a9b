"""Turns for signed-in pages, so they cannot crowd out the sign-in page and static files.

Pages are Python work in server threads and take turns on the interpreter lock. When every browsing
user's page ran at once (the thread pool holds 40), the event loop and the thread that reads a static
file waited behind all of them: the sign-in page took half a second under 50 busy users. Here a page
waits for one of a few turns *before* it takes a thread, in the event loop, where waiting costs
nothing; the few requests that must stay quick under any load (the sign-in page, static files, who
am I) skip the queue, as do long ones that mostly wait (an upload streaming to disk, a request waiting
for an analysis), which would otherwise hold a turn for minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import anyio

Scope = dict[str, Any]

#: always answered at once: what a visitor who is not signed in needs, and the cheap account check
QUICK_PREFIXES = ("/static/", "/login", "/logout", "/setup", "/api/me")


class Turns:
    """ASGI middleware: at most ``turns`` requests not in ``QUICK_PREFIXES`` or ``long_paths`` (and
    not ending in ``/analyse``) are drawn at once, until their answer starts; the others wait their
    turn without holding a thread."""

    def __init__(self, app: Any, turns: int, long_paths: Collection[str] = ()) -> None:
        self.app = app
        self.limiter = anyio.CapacityLimiter(max(1, turns))
        self.long_paths = frozenset(long_paths)

    def queued(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        return not (path.startswith(QUICK_PREFIXES) or path in self.long_paths or path.endswith("/analyse"))

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or not self.queued(scope):
            await self.app(scope, receive, send)
            return
        # the turn is held while the page is drawn and given back once its answer starts, so a
        # client that reads slowly (a large download) cannot hold one; borrowed on behalf of a token
        # because a streamed answer is sent from another task
        borrower = object()
        await self.limiter.acquire_on_behalf_of(borrower)
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                self.limiter.release_on_behalf_of(borrower)

        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                give_back()
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            give_back()
