"""Readers for platform exports, found through the ``covalue.sources`` entry-point group.

Built-in readers are registered in covalue's own pyproject.toml exactly as an organisation would register
its own in its package, so there is one mechanism for both::

    [project.entry-points."covalue.sources"]
    myforum = "mypackage.forum:ForumReader"
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from covalue.dbfile import is_workspace
from covalue.sources import sniff
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink

__all__ = ["Reader", "ReaderError", "Sink", "SourceSink", "detect", "get_reader", "readers"]


#: why a workspace folder named as an export is not read
WORKSPACE_NAMED = (
    "this folder is a covalue workspace, not an export; name it with --workspace (-w) to read exports into it"
)


@cache
def readers() -> dict[str, type[Reader]]:
    """Every registered reader, by name."""
    found: dict[str, type[Reader]] = {}
    for ep in entry_points(group="covalue.sources"):
        try:
            cls = ep.load()
        except Exception as e:  # a broken third-party reader must not break the others
            import warnings

            warnings.warn(f"reader {ep.name!r} could not be loaded: {e}", stacklevel=2)
            continue
        found[ep.name] = cls
    return found


def get_reader(name: str) -> type[Reader]:
    try:
        return readers()[name]
    except KeyError:
        known = ", ".join(sorted(readers())) or "none"
        raise ReaderError(f"no reader called {name!r}; known readers: {known}") from None


def detect(path: Path) -> type[Reader]:
    """The reader most confident it can read ``path``. A file whose first bytes show that no reader
    takes it (an image, zero bytes, binary data) is refused at once, before any reader opens it: some
    would read it to its end to say no. Naming a reader (``--source``) skips that check."""
    if not path.exists():
        raise ReaderError(f"{path}: no such file or folder")
    if is_workspace(path):
        raise ReaderError(f"{path}: {WORKSPACE_NAMED}")
    refused = sniff.refusal(path)
    if refused:
        raise ReaderError(f"{path.name}: {refused} (a reader named with --source reads it regardless)")
    scored = []
    for name, cls in readers().items():
        try:
            score = cls.detect(path)
        except Exception:
            score = 0.0
        if score > 0:
            scored.append((score, name, cls))
    if not scored:
        known = ", ".join(sorted(readers()))
        raise ReaderError(
            f"{path}: could not tell which platform this export comes from; name one with --source ({known})"
        )
    scored.sort(key=lambda t: (-t[0], t[1]))
    return scored[0][2]
