"""Taking access back: disabling, removing, role removal and password changes end sessions at once, and
new passwords must be hard to guess. Runs on SQLite and on PostgreSQL (see the ``store`` fixture)."""

from __future__ import annotations

import pytest

from covalue.store import Store
from covalue.store import accounts as acc

GOOD = "the right password"


def _signed_in(store: Store, email: str, role: str = "manager", community: str | None = "c") -> str:
    with store.session() as db:
        user = acc.add_user(db, email, role, community=community, password=GOOD)
        return acc.start_session(db, user).id


def _alive(store: Store, sid: str) -> bool:
    with store.session() as db:
        return acc.session_user(db, sid) is not None


def test_role_removal_ends_the_sessions_and_the_access(store: Store) -> None:
    sid = _signed_in(store, "m@example.org")
    with store.session() as db:
        acc.add_user(db, "m@example.org", "sponsor", community="d")
    assert _alive(store, sid)
    with store.session() as db:
        assert acc.remove_role(db, acc.require_user(db, "m@example.org"), "manager", "c") == 1
    assert not _alive(store, sid)
    with store.session() as db:
        access = acc.Access.of(acc.require_user(db, "m@example.org"))
    assert not access.can("view", "c") and access.can("view", "d")
    with pytest.raises(acc.AccountError, match="is not manager in c"), store.session() as db:
        acc.remove_role(db, acc.require_user(db, "m@example.org"), "manager", "c")


def test_password_change_ends_the_other_sessions(store: Store) -> None:
    old = _signed_in(store, "p@example.org")
    with store.session() as db:
        current = acc.start_session(db, acc.require_user(db, "p@example.org")).id
        acc.set_password(db, acc.require_user(db, "p@example.org"), "a brand new passphrase", keep=current)
    assert not _alive(store, old) and _alive(store, current)
    with store.session() as db:  # the CLI path (user add --password) ends them all
        acc.add_user(db, "p@example.org", "manager", community="c", password="yet another passphrase")
    assert not _alive(store, current)
    with store.session() as db:
        assert acc.authenticate(db, "p@example.org", "yet another passphrase", "10.0.0.9") is not None


def test_disable_enable_and_remove(store: Store) -> None:
    sid = _signed_in(store, "d@example.org")
    _signed_in(store, "root@example.org", role="admin", community=None)
    with store.session() as db:
        assert acc.set_active(db, acc.require_user(db, "d@example.org"), False) == 1
    assert not _alive(store, sid)
    with store.session() as db:
        assert acc.authenticate(db, "d@example.org", GOOD, "10.0.0.1") is None
        acc.set_active(db, acc.require_user(db, "d@example.org"), True)
    with store.session() as db:
        assert acc.authenticate(db, "d@example.org", GOOD, "10.0.0.1") is not None
        acc.remove_user(db, acc.require_user(db, "d@example.org"))
    with store.session() as db:
        assert acc.find_user(db, "d@example.org") is None
        assert acc.count_users(db) == 1


def test_the_last_admin_cannot_be_removed(store: Store) -> None:
    _signed_in(store, "only@example.org", role="admin", community=None)
    with pytest.raises(acc.AccountError, match="last admin"), store.session() as db:
        acc.remove_user(db, acc.require_user(db, "only@example.org"))
    with pytest.raises(acc.AccountError, match="last admin"), store.session() as db:
        acc.remove_role(db, acc.require_user(db, "only@example.org"), "admin")
    _signed_in(store, "second@example.org", role="admin", community=None)
    with store.session() as db:
        acc.remove_role(db, acc.require_user(db, "only@example.org"), "admin")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("aaaaaaaaaaaa", "repeats"),
        ("password1234", "common"),
        ("qwertyuiop12", "commonly used"),
        ("x" * 1001, "at most"),
        ("Dana.Smith@example.org!", "email address"),
        ("dana.smith.2024", "name part"),
    ],
)
def test_easy_passwords_are_refused(store: Store, password: str, reason: str) -> None:
    with pytest.raises(acc.AccountError, match=reason), store.session() as db:
        acc.add_user(db, "dana.smith@example.org", "member", password=password)
    with store.session() as db:
        assert acc.count_users(db) == 0


@pytest.mark.parametrize("password", ["the right password", "s3cret-passw0rd!", "violet tram at dusk"])
def test_hard_passwords_are_accepted(store: Store, password: str) -> None:
    with store.session() as db:
        acc.add_user(db, "dana.smith@example.org", "member", password=password)
