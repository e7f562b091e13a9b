"""One reading of a workspace: inside a block, a question asked twice is answered once.

A report asks where each community's data ends from its health section, its dynamics and its network,
and each asking scans every event of the workspace (0.7 s at 10 M actions). Inside :func:`block`, a
function decorated with :func:`once` computes its answer once per workspace and arguments, and every
later call in the block gets that answer. Outside a block every call computes afresh, so nothing read
before an ingest is served after it: a block spans one report or one page, which read and never write.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

#: the answers of the block running in this thread (None: no block)
_ANSWERS: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("covalue_reading", default=None)


@contextlib.contextmanager
def block() -> Iterator[None]:
    """Answers of :func:`once` functions kept until the block ends; a block inside another shares its
    answers."""
    token = _ANSWERS.set(_ANSWERS.get() if _ANSWERS.get() is not None else {})
    try:
        yield
    finally:
        _ANSWERS.reset(token)


def once(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn(ws, ...)`` answered once per workspace folder and arguments inside a :func:`block`. Its
    answer is shared by every caller, so it must be read, never changed."""

    @functools.wraps(fn)
    def answer(ws: Any, *args: Any, **kwargs: Any) -> T:
        answers = _ANSWERS.get()
        if answers is None:
            return fn(ws, *args, **kwargs)
        key = (fn.__module__, fn.__qualname__, str(ws.path), args, tuple(sorted(kwargs.items())))
        if key not in answers:
            answers[key] = fn(ws, *args, **kwargs)
        return answers[key]

    return answer
