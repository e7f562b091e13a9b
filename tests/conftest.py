"""Shared fixtures: the real exports in ../shared/data and fresh workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

import covalue

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real community exports (never copied into the project)."""
    assert SHARED_DATA.is_dir(), f"expected the shared data at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture
def ws(tmp_path: Path) -> covalue.Workspace:
    """A new, empty workspace."""
    w = covalue.init(tmp_path / "ws")
    yield w
    w.close()
