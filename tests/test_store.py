"""The store (accounts, roles, sessions, throttling, audit, jobs) on SQLite and on PostgreSQL.

The PostgreSQL case runs when ``COVALUE_TEST_POSTGRES_URL`` names a server (``make test`` starts one
through scripts/with-postgres.sh); each test gets its own throw-away database there.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from covalue.store import AuditEvent, Base, Job, LoginAttempt, Store, alembic_config, database_url, utcnow
from covalue.store import accounts as acc
from covalue.store.models import Session as WebSession


def test_migrations_create_every_table_and_match_the_models(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"users", "roles", "sessions", "login_attempts", "audit_log", "jobs", "alembic_version"} <= names
    with store.engine.connect() as con:
        diff = compare_metadata(MigrationContext.configure(con), Base.metadata)
        version = con.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert diff == [], f"models and migrations disagree: {diff}"
    # the store is at the newest migration, whichever that is
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert version == head


def test_migrations_run_again_change_nothing(store: Store) -> None:
    with store.session() as db:
        acc.add_user(db, "a@example.org", "admin", password="long enough password")
    again = Store.open(url=store.engine.url.render_as_string(hide_password=False))
    with again.session() as db:
        assert acc.count_users(db) == 1
    again.dispose()


def test_add_user_roles_and_access(store: Store) -> None:
    with store.session() as db:
        acc.add_user(db, "  Manager@Example.org ", "manager", community="alpha", password="a good password")
        acc.add_user(db, "manager@example.org", "sponsor", community="beta")
        acc.add_user(db, "manager@example.org", "sponsor", community="beta")  # twice: one role
        acc.add_user(db, "boss@example.org", "admin", community="ignored", password="another password")
    with store.session() as db:
        m = acc.find_user(db, "MANAGER@example.org")
        assert m is not None and m.email == "manager@example.org"
        assert sorted((r.role, r.community_id) for r in m.roles) == [
            ("manager", "alpha"),
            ("sponsor", "beta"),
        ]
        a = acc.Access.of(m)
        assert a.can("people", "alpha") and a.can("upload", "alpha")
        assert a.can("view", "beta") and not a.can("people", "beta") and not a.can("upload", "beta")
        assert not a.can("view", "gamma") and not a.is_admin
        assert a.communities(["alpha", "beta", "gamma"]) == ["alpha", "beta"]
        boss = acc.Access.of(acc.find_user(db, "boss@example.org"))
        assert boss.is_admin and boss.can("people", "anything") and boss.roles == (("admin", None),)


@pytest.mark.parametrize(
    ("email", "role", "password", "message"),
    [
        ("x@example.org", "owner", "long enough password", "unknown role"),
        ("not-an-email", "admin", "long enough password", "not an email"),
        ("x@example.org", "admin", "short", "at least"),
    ],
)
def test_bad_account_requests_are_refused(
    store: Store, email: str, role: str, password: str, message: str
) -> None:
    with pytest.raises(acc.AccountError, match=message), store.session() as db:
        acc.add_user(db, email, role, password=password)
    with store.session() as db:
        assert acc.count_users(db) == 0


def test_passwords_are_argon2_and_authenticate(store: Store) -> None:
    with store.session() as db:
        acc.add_user(db, "m@example.org", "member", password="the right password", member_id="m_1")
    with store.session() as db:
        u = acc.find_user(db, "m@example.org")
        assert u is not None and u.password_hash is not None and u.password_hash.startswith("$argon2id$")
        assert "the right password" not in u.password_hash
        assert acc.authenticate(db, "M@example.org", "the right password", "10.0.0.1") is not None
        assert acc.authenticate(db, "m@example.org", "the wrong password", "10.0.0.1") is None
        assert acc.authenticate(db, "nobody@example.org", "the right password", "10.0.0.1") is None
        ok = db.scalars(select(LoginAttempt.ok).order_by(LoginAttempt.id)).all()
    assert ok == [True, False, False]


def _age_attempts(store: Store, seconds: float) -> None:
    """Move every recorded sign-in attempt ``seconds`` into the past (instead of sleeping)."""
    with store.session() as db:
        for a in db.scalars(select(LoginAttempt)):
            a.at = a.at - timedelta(seconds=seconds)


def test_login_throttling_is_a_progressive_delay(store: Store) -> None:
    with store.session() as db:
        acc.add_user(db, "t@example.org", "manager", community="c", password="the right password")
    for _ in range(acc.FREE_FAILURES_EMAIL):
        with store.session() as db:
            assert acc.authenticate(db, "t@example.org", "guess", "10.0.0.2") is None
    # then a wait of 1 s after the latest failure; the right password is not even checked meanwhile,
    # and the refused attempt is not recorded
    with pytest.raises(acc.Throttled) as t, store.session() as db:
        acc.authenticate(db, "t@example.org", "the right password", "10.0.0.3")
    assert t.value.seconds == 1 and "1 second" in str(t.value)
    with store.session() as db:
        assert db.scalar(select(func.count()).select_from(LoginAttempt)) == acc.FREE_FAILURES_EMAIL
    _age_attempts(store, 1.1)
    with store.session() as db:  # the sixth failure doubles the next wait
        assert acc.authenticate(db, "t@example.org", "guess", "10.0.0.2") is None
    with pytest.raises(acc.Throttled) as t, store.session() as db:
        acc.authenticate(db, "t@example.org", "guess", "10.0.0.2")
    assert t.value.seconds == 2
    assert [acc.delay_after(n, 5) for n in (4, 5, 6, 7, 10, 11, 50)] == [0, 1, 2, 4, 32, 60, 60]


def test_owner_signs_in_after_an_attackers_hundred_guesses(store: Store) -> None:
    """The attacker guesses as fast as the delays allow, from one address and then from many; the
    owner, from their own address, waits at most the capped delay after the last guess."""
    with store.session() as db:
        acc.add_user(db, "owner@example.org", "admin", password="the right password")
    refused = 0
    for i in range(100):
        ip = "203.0.113.9" if i < 50 else f"198.51.100.{i}"
        with store.session() as db:
            try:
                assert acc.authenticate(db, "owner@example.org", f"guess {i}", ip) is None
            except acc.Throttled as t:
                refused += 1
                assert t.seconds <= acc.MAX_DELAY_SECONDS
        _age_attempts(store, 30)  # the attacker tries every 30 s
    assert refused > 0  # half of them came too soon and were not checked
    with store.session() as db:
        wait = acc.throttle_wait(db, "owner@example.org", "192.0.2.1")
    assert 0 < wait <= acc.MAX_DELAY_SECONDS
    _age_attempts(store, wait)
    with store.session() as db:
        assert acc.authenticate(db, "owner@example.org", "the right password", "192.0.2.1") is not None
    # the success resets the account's count: one more wrong password costs no wait
    with store.session() as db:
        assert acc.authenticate(db, "owner@example.org", "a typo", "192.0.2.1") is None
        assert acc.throttle_wait(db, "owner@example.org", "192.0.2.1") == 0


def test_many_failures_from_one_address_slow_that_address_only(store: Store) -> None:
    with store.session() as db:
        acc.add_user(db, "x@example.org", "sponsor", community="c", password="the right password")
    for i in range(acc.FREE_FAILURES_IP):
        with store.session() as db:
            assert acc.authenticate(db, f"someone{i}@example.org", "guess", "10.9.9.9") is None
    with pytest.raises(acc.Throttled), store.session() as db:
        acc.authenticate(db, "x@example.org", "the right password", "10.9.9.9")
    with store.session() as db:  # another address is not slowed
        assert acc.authenticate(db, "x@example.org", "the right password", "10.9.9.8") is not None


def test_sessions_start_expire_and_end(store: Store) -> None:
    with store.session() as db:
        u = acc.add_user(db, "s@example.org", "sponsor", community="c", password="the right password")
        s = acc.start_session(db, u)
        sid, csrf = s.id, s.csrf
    assert len(sid) >= 40 and len(csrf) >= 40 and sid != csrf
    with store.session() as db:
        found = acc.session_user(db, sid)
        assert found is not None and found[1].email == "s@example.org"
        db.get(WebSession, sid).expires_at = utcnow() - timedelta(seconds=1)
    with store.session() as db:
        assert acc.session_user(db, sid) is None
        sid2 = acc.start_session(db, acc.find_user(db, "s@example.org")).id  # clears expired ones
    with store.session() as db:
        assert db.get(WebSession, sid) is None
        acc.end_session(db, sid2)
    with store.session() as db:
        assert acc.session_user(db, sid2) is None


def test_journey_links_keep_only_a_hash(store: Store) -> None:
    with store.session() as db:
        u = acc.add_user(db, "j@example.org", "member", member_id="m_abc")
        token = acc.new_journey_link(db, u)
    with store.session() as db:
        u = acc.user_by_journey_token(db, token)
        assert u is not None and u.member_id == "m_abc" and u.journey_token_hash != token
        assert acc.user_by_journey_token(db, token + "x") is None
        assert acc.user_by_journey_token(db, "") is None


def test_audit_log_and_jobs_round_trip(store: Store) -> None:
    with store.session() as db:
        u = acc.add_user(db, "a@example.org", "admin", password="the right password")
        acc.audit(db, u, "viewed people", community="alpha", subject="12 members")
        db.add(
            Job(
                id="j1",
                user_id=u.id,
                filename="x.zip",
                size_bytes=5 * 1024**3,
                summary={"read": {"items": 3}},
            )
        )
    with store.session() as db:
        ev = db.scalars(select(AuditEvent)).one()
        assert (ev.email, ev.action, ev.community_id, ev.subject) == (
            "a@example.org",
            "viewed people",
            "alpha",
            "12 members",
        )
        job = db.get(Job, "j1")
        assert (
            job.state == "queued" and job.size_bytes == 5 * 1024**3 and job.summary == {"read": {"items": 3}}
        )


def test_database_url_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVALUE_DATABASE_URL", raising=False)
    assert database_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'store.sqlite'}"
    monkeypatch.setenv("COVALUE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert database_url(tmp_path) == "postgresql+psycopg://u@h/db"


def test_the_command_line_starts_without_what_only_some_commands_need() -> None:
    """Every CLI command imports the command modules: the store's migration tools, the account rules,
    the site and pandas are loaded by the commands that use them, and importing the account rules runs
    no argon2 hash (the one compared against for an unknown email is made at the first sign-in)."""
    code = (
        "import sys, covalue.cli\n"
        "loaded = sorted(m for m in ('alembic', 'covalue.store.accounts', 'covalue.web.site', 'pandas') "
        "if m in sys.modules)\n"
        "from covalue.store import accounts\n"
        "print(loaded, accounts._dummy_hash.cache_info().currsize)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "0"]
