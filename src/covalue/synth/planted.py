"""The six planted communities: small, built row by row so that every planted fact is explicit (a
healthy community with members of known stage, a single voice, a broadcast, a closed workgroup, a
dying community, a campaign spike).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from covalue import identity, periods, schema
from covalue.sources.base import text_stats
from covalue.synth.org import (
    DISPLAY_NAMES,
    EMOJI,
    JOB_ROLES,
    LOCATIONS,
    N_MONTHS,
    ORG_UNITS,
    SECRET,
    SPIKE_MONTH,
    STAGES,
    WORKGROUP_UNIT,
    Truth,
    month_starts,
)
from covalue.synth.texts import POOLS


class _Org:
    def __init__(self, seed: int, start: str) -> None:
        self.rng = np.random.default_rng(seed)
        self.month_starts = month_starts(start)
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in schema.CONTENT_TABLES}
        self.roles: dict[str, str] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.next_native = 1

    def when(self, m: int, day: int, hour: float = 9.0) -> datetime:
        """A time on ``day`` of month index ``m`` (0-based); activity stays on days 5-24."""
        return self.month_starts[m] + timedelta(days=day - 1, hours=hour)

    def pick(self, seq: list[Any] | tuple[Any, ...], k: int | None = None) -> Any:
        if k is None:
            return seq[int(self.rng.integers(len(seq)))]
        idx = self.rng.choice(len(seq), size=min(k, len(seq)), replace=False)
        return [seq[int(j)] for j in idx]

    def text(self, role: str) -> str:
        return self.pick(POOLS[role])

    def late(self, m: int, lo: int = 15, hi: int = 24) -> datetime:
        """A random time on days lo..hi of month m (responses come after the posts of days 5-14)."""
        return self.when(m, int(self.rng.integers(lo, hi + 1)), float(self.rng.uniform(8, 18)))

    def early(self, m: int, lo: int = 5, hi: int = 14) -> datetime:
        return self.when(m, int(self.rng.integers(lo, hi + 1)), float(self.rng.uniform(8, 12)))


class _Comm:
    """One planted community: its source, spaces, and helpers that write canonical rows."""

    def __init__(self, org: _Org, name: str, spaces: tuple[str, ...], space_kind: str = "channel") -> None:
        self.org = org
        self.name = name
        self.source = f"synth:{name}"
        self.spaces = {s: f"{self.source}:{s}" for s in spaces}
        self.n_items = 0
        self.n_actions = 0
        self.people: list[str] = []
        org.rows["communities"].append({"community_id": name, "name": DISPLAY_NAMES.get(name, name)})
        for s, sid in self.spaces.items():
            org.rows["spaces"].append(
                {"space_id": sid, "source": self.source, "name": s, "kind": space_kind, "community_id": name}
            )
        self.first_space = next(iter(self.spaces.values()))

    def person(self, m: int, *, day: int = 5, org_unit: str | None = None, bot: bool = False) -> str:
        o = self.org
        n = o.next_native
        o.next_native += 1
        native = f"u{n}"
        mid = identity.identity_id(SECRET, self.source, native)
        joined = o.when(m, day, 8.0)
        row = {
            "member_id": mid,
            "source": self.source,
            "first_seen": joined,
            "joined_at": joined,
            "left_at": None,
            "org_unit": org_unit or o.pick(ORG_UNITS),
            "location": o.pick(LOCATIONS),
            "role": "bot" if bot else o.pick(JOB_ROLES),
            "is_bot": bot,
        }
        o.rows["members"].append(row)
        o.members[mid] = row
        o.rows["identities"].append(
            {
                "identity_id": mid,
                "member_id": mid,
                "source": self.source,
                "native_id": native,
                "display_name": f"{self.name}-bot-{n}" if bot else f"Person {n}",
                "email_hash": None if bot else identity.email_hash(SECRET, f"{native}@example.org"),
                "is_bot": bot,
            }
        )
        self.people.append(mid)
        self.act("join", mid, joined)
        return mid

    def leave(self, mid: str, m: int, day: int = 10) -> None:
        ts = self.org.when(m, day, 17.0)
        self.org.members[mid]["left_at"] = ts
        self.act("leave", mid, ts)

    def item(
        self,
        kind: str,
        author: str,
        ts: datetime,
        role: str,
        *,
        space: str | None = None,
        parent: str | None = None,
        text: str | None = None,
        title: str | None = None,
    ) -> str:
        self.n_items += 1
        iid = f"{self.source}:{self.n_items}"
        if parent is not None:
            p = self.org.items[parent]
            thread, space_id = p["thread_id"], p["space_id"]
        else:
            thread, space_id = iid, self.spaces[space] if space else self.first_space
        body = text if text is not None else self.org.text(role)
        words, links = text_stats(body)
        if title:
            words += text_stats(title)[0]
        row = {
            "item_id": iid,
            "source": self.source,
            "space_id": space_id,
            "community_id": self.name,
            "thread_id": thread,
            "parent_id": parent,
            "author_id": author,
            "created_at": ts,
            "kind": kind,
            "title": title,
            "text": body,
            "n_words": words,
            "n_links": links,
            "n_attachments": 0,
            "accepted": False,
            "views": 0,
            "score": 0,
        }
        self.org.rows["items"].append(row)
        self.org.items[iid] = row
        self.org.roles[iid] = role
        return iid

    def question(self, asker: str, ts: datetime) -> str:
        """A Q&A question in ``questions``, titled (as forums title them) by its first words."""
        body = self.org.text("question")
        return self.item("question", asker, ts, "question", space="questions", text=body, title=body[:60])

    def act(
        self,
        verb: str,
        actor: str,
        ts: datetime,
        *,
        item: str | None = None,
        target: str | None = None,
        value: float | None = None,
        detail: str | None = None,
    ) -> None:
        self.n_actions += 1
        space = self.org.items[item]["space_id"] if item else self.first_space
        if item is not None:
            row = self.org.items[item]
            if verb == "view":
                row["views"] += 1
            elif verb == "vote":
                row["score"] += int(value or 0)
        self.org.rows["actions"].append(
            {
                "action_id": f"{self.source}:a{self.n_actions}",
                "source": self.source,
                "space_id": space,
                "community_id": self.name,
                "ts": ts,
                "actor_id": actor,
                "verb": verb,
                "item_id": item,
                "target_id": target,
                "value": value,
                "detail": detail,
            }
        )

    def author(self, item: str) -> str:
        return self.org.items[item]["author_id"]

    def react(self, actor: str, item: str, ts: datetime) -> None:
        self.act("react", actor, ts, item=item, target=self.author(item), detail=self.org.pick(EMOJI))

    def vote(self, actor: str, item: str, ts: datetime) -> None:
        self.act("vote", actor, ts, item=item, target=self.author(item), value=1.0)

    def view(self, actor: str, item: str, ts: datetime) -> None:
        self.act("view", actor, ts, item=item)

    def accept(self, asker: str, answer: str, ts: datetime) -> None:
        self.org.items[answer]["accepted"] = True
        self.act("accept", asker, ts, item=answer, target=self.author(answer))


def _healthy(o: _Org, t: Truth) -> None:
    """Many members; champions answer quickly across org units; planted members at known stages."""
    c = _Comm(o, "healthy", ("general", "questions", "ideas"), "forum")
    champions = [c.person(0, org_unit=ORG_UNITS[k % len(ORG_UNITS)]) for k in range(6)]
    regulars = [c.person(0, day=5 + k % 5) for k in range(45)]
    joined = dict.fromkeys(regulars, 0)
    for k in range(15):  # newcomers through the year, who stay
        mid = c.person(1 + k % 7, day=5 + k % 5)
        regulars.append(mid)
        joined[mid] = 1 + k % 7
    gone_after = {r: 6 for r in regulars[:3]}  # three regulars leave in month 7
    bots = [c.person(0, bot=True) for _ in range(2)]
    t.bots.extend(bots)
    t.champions = list(champions)

    plans: dict[str, list[str | None]] = {}
    groups: dict[str, list[str]] = {}

    def plant(group: str, n: int, plan: list[str | None]) -> None:
        for _ in range(n):
            mid = c.person(0, day=6)
            plans[mid] = plan
            groups.setdefault(group, []).append(mid)

    for s in STAGES:
        plant(f"stayer:{s}", 12, [s] * N_MONTHS)
    for a, b in (("connect", "share"), ("share", "solve"), ("solve", "innovate")):
        plant(f"riser:{a}->{b}", 4, [a] * (N_MONTHS - 1) + [b])
    for s in ("connect", "share", "solve"):
        plant(f"leaver:{s}", 3, [s] * 9 + [None] * 3)
    t.journeys = groups
    p11, p12 = t.months[N_MONTHS - 2], t.months[N_MONTHS - 1]
    t.stages = {p11: {}, p12: {}}
    for g, mids in groups.items():
        kind, _, path = g.partition(":")
        a, _, b = path.partition("->")
        for mid in mids:
            t.stages[p11][mid] = a
            t.stages[p12][mid] = b or (a if kind == "stayer" else "observer")

    others = [*champions, *regulars]
    for m in range(N_MONTHS):
        live = [r for r in regulars if joined[r] <= m and gone_after.get(r, 99) >= m]
        active = [r for r in live if o.rng.random() < 0.85]
        pool: list[str] = []  # this month's items by regulars and champions (targets for reactions)
        posts: list[str] = []  # this month's plain post threads (targets for planted replies)
        ideas: list[str] = []
        for r in active:
            if o.rng.random() < 0.45:
                q_ts = o.early(m, 5, 13)
                q = c.question(r, q_ts)
                pool.append(q)
                answers = []
                for k, ch in enumerate(o.pick(champions, int(o.rng.integers(1, 3)))):
                    answers.append(
                        c.item(
                            "answer", ch, q_ts + timedelta(hours=0.5 + k + o.rng.random()), "answer", parent=q
                        )
                    )
                if o.rng.random() < 0.25:
                    helper = o.pick([x for x in live if x != r])
                    answers.append(c.item("answer", helper, q_ts + timedelta(hours=4), "answer", parent=q))
                pool.extend(answers)
                if o.rng.random() < 0.6:
                    c.accept(r, answers[0], q_ts + timedelta(hours=5))
                if o.rng.random() < 0.5:
                    c.item("comment", r, q_ts + timedelta(hours=6), "gratitude", parent=answers[0])
            if o.rng.random() < 0.35:
                role = "resource" if o.rng.random() < 0.4 else "social"
                p = c.item("post", r, o.early(m), role, space="general")
                pool.append(p)
                posts.append(p)
            if o.rng.random() < 0.06:
                ideas.append(c.item("idea", r, o.early(m), "idea", space="ideas"))
        if not posts:  # planted replies need a thread to land in
            p = c.item("post", o.pick(live), o.early(m), "social", space="general")
            pool.append(p)
            posts.append(p)
        for b in bots:
            for day in (6, 13):
                c.item("post", b, o.when(m, day, 7.0), "bot", space="general")
        for p in posts:
            au = c.author(p)
            for x in o.pick([y for y in others if y != au], int(o.rng.integers(1, 5))):
                c.react(x, p, o.late(m, 15, 20))
            for x in o.pick([y for y in active if y != au], int(o.rng.integers(0, 3))):
                rep = c.item("reply", x, o.late(m, 15, 20), o.pick(("social", "discussion")), parent=p)
                if o.rng.random() < 0.3:
                    c.act("mention", x, o.items[rep]["created_at"], item=rep, target=o.pick(champions))
        for idea in ideas:
            au = c.author(idea)
            for x in o.pick([y for y in active if y != au], int(o.rng.integers(3, 7))):
                _support(c, o, x, idea, m)
        for r in active:
            mine = [i for i in pool if c.author(i) != r]
            for i in o.pick(mine, int(o.rng.integers(2, 6))):
                c.react(r, i, o.late(m))
            for i in o.pick(mine, int(o.rng.integers(3, 9))):
                c.view(r, i, o.late(m))
        for mid, plan in plans.items():
            if plan[m] is not None:
                _planted_month(c, o, mid, plan[m], m, pool, posts, live)
        for r, last in gone_after.items():
            if last == m:
                c.leave(r, m, 25)
    for mid, plan in plans.items():
        if plan[-1] is None:
            last = max(k for k, s in enumerate(plan) if s is not None)
            c.leave(mid, last + 1, 10)
    _register(t, c, "healthy")


def _support(c: _Comm, o: _Org, who: str, idea: str, m: int) -> None:
    """One member supports an idea: a vote, a reaction or a supportive reply (all count)."""
    how = o.rng.integers(3)
    ts = o.late(m, 15, 20)
    if how == 0:
        c.vote(who, idea, ts)
    elif how == 1:
        c.react(who, idea, ts)
    else:
        c.item("reply", who, ts, "support", parent=idea)


def _planted_month(
    c: _Comm, o: _Org, mid: str, stage: str, m: int, pool: list[str], posts: list[str], live: list[str]
) -> None:
    """One month of a planted member's activity: by itself enough for ``stage`` and never more.

    Everything (the member's items, the responses to them) happens inside month ``m``, so the 90-day
    window ending at the end of month P sees exactly months P-2..P."""
    targets = [i for i in pool if c.author(i) != mid]
    if stage == "observer":  # reads only: views, nothing the others can see
        for i in o.pick(targets, 5):
            c.view(mid, i, o.late(m))
        return
    n_react = {"connect": 4, "share": 4, "solve": 4, "innovate": 5}[stage]
    for i in o.pick(targets, n_react):
        c.react(mid, i, o.late(m))
    if stage == "connect":
        # replies to plain posts, written last in their thread (days 21-24) and never answered
        for p in o.pick(posts, 2):
            c.item("reply", mid, o.late(m, 21, 24), o.pick(("social", "discussion")), parent=p)
    elif stage == "share":
        res = c.item("post", mid, o.early(m), "resource", space="general")
        for x in o.pick(live, int(o.rng.integers(1, 4))):
            c.react(x, res, o.late(m, 15, 20))
        if o.rng.random() < 0.4:
            c.item(
                "reply", o.pick(live), o.late(m, 15, 20), "social", parent=res, text="Bookmarked, great read."
            )
        c.item("reply", mid, o.late(m, 21, 24), "social", parent=o.pick(posts))
    elif stage == "solve":
        for asker in o.pick(live, 2):
            q_ts = o.early(m, 5, 12)
            q = c.question(asker, q_ts)
            ans = c.item("answer", mid, q_ts + timedelta(hours=1 + 3 * o.rng.random()), "answer", parent=q)
            if o.rng.random() < 0.5:
                c.accept(asker, ans, q_ts + timedelta(hours=6))
            if o.rng.random() < 0.5:
                c.item("comment", asker, q_ts + timedelta(hours=7), "gratitude", parent=ans)
    elif stage == "innovate":
        idea = c.item("idea", mid, o.early(m, 5, 12), "idea", space="ideas")
        for x in o.pick(live, int(o.rng.integers(3, 6))):
            _support(c, o, x, idea, m)


def _single_voice(o: _Org, t: Truth) -> None:
    """One author writes nearly every original post; readers react, rarely reply, almost never post."""
    c = _Comm(o, "single-voice", ("blog",))
    author = c.person(0)
    readers = [c.person(k % 3, day=5 + k % 7) for k in range(15)]
    t.single_voice_author = author
    for m in range(N_MONTHS):
        live = [r for k, r in enumerate(readers) if k % 3 <= m]
        own = [c.item("post", author, o.early(m), "resource") for _ in range(9)]
        if o.rng.random() < 0.5:
            c.item("post", o.pick(live), o.early(m), o.pick(("question", "social")))
        for p in own:
            for x in o.pick(live, int(o.rng.integers(0, 4))):
                c.react(x, p, o.late(m))
            for x in o.pick(live, int(o.rng.integers(8, 15))):
                c.view(x, p, o.late(m))
            if o.rng.random() < 0.1:
                c.item("reply", o.pick(live), o.late(m), "social", parent=p)
    _register(t, c, "single-voice")


def _broadcast(o: _Org, t: Truth) -> None:
    """A few authors publish; readers only react and view; replies are almost absent."""
    c = _Comm(o, "broadcast", ("announcements", "newsletter"))
    authors = [c.person(0, org_unit="Marketing") for _ in range(3)]
    readers = [c.person(0, day=5 + k % 10) for k in range(40)]
    t.broadcast_authors = authors
    for m in range(N_MONTHS):
        for a in authors:
            for _ in range(int(o.rng.integers(1, 3))):
                sp = o.pick(("announcements", "newsletter"))
                p = c.item(
                    "post", a, o.early(m), "announcement", space=sp, title=f"{sp.title()} {t.months[m]}"
                )
                for x in o.pick(readers, int(o.rng.integers(2, 9))):
                    c.react(x, p, o.late(m))
                for x in o.pick(readers, int(o.rng.integers(15, 36))):
                    c.view(x, p, o.late(m))
                if o.rng.random() < 0.05:
                    c.item(
                        "reply",
                        a,
                        o.late(m),
                        "announcement",
                        parent=p,
                        text="Correction: the link above now points to the updated page.",
                    )
    _register(t, c, "broadcast")


def _workgroup(o: _Org, t: Truth) -> None:
    """A closed team from one org unit replying to each other all the time; nobody new after month 1."""
    c = _Comm(o, "workgroup", ("team-room",))
    team = [c.person(0, day=5 + k, org_unit=WORKGROUP_UNIT) for k in range(7)]
    t.workgroup_members = team
    for m in range(N_MONTHS):
        for a in team:
            for _ in range(int(o.rng.integers(2, 4))):
                role = o.pick(("question", "discussion"))
                p = c.item("post", a, o.early(m), role)
                for x in o.pick([y for y in team if y != a], int(o.rng.integers(2, 6))):
                    c.item("reply", x, o.late(m), "answer" if role == "question" else "discussion", parent=p)
                for x in o.pick([y for y in team if y != a], int(o.rng.integers(1, 5))):
                    c.react(x, p, o.late(m))
    _register(t, c, "workgroup")


#: active members of ``dying`` per month among its founding members (newcomers add one each briefly)
DYING_ACTIVE = (36, 29, 23, 18, 14, 11, 8, 6, 5, 4, 3, 2)


def _dying(o: _Org, t: Truth) -> None:
    """Active early; fewer active members every month, leavers, very few joiners."""
    c = _Comm(o, "dying", ("general", "help"))
    founders = [c.person(0, day=5 + k % 10) for k in range(40)]
    bot = c.person(0, bot=True)
    t.bots.append(bot)
    newcomers = {c.person(m, day=6): m for m in (2, 3, 5)}
    left: set[str] = set()
    for m in range(N_MONTHS):
        active = founders[: DYING_ACTIVE[m]] + [n for n, j in newcomers.items() if j <= m <= j + 1]
        posts = []
        for a in active:
            for _ in range(int(o.rng.integers(1, 3))):
                posts.append(c.item("post", a, o.early(m), o.pick(("question", "social", "resource"))))
        for a in active:
            others = [p for p in posts if c.author(p) != a]
            for p in o.pick(others, int(o.rng.integers(1, 3))):
                role = "answer" if o.roles[p] == "question" else "discussion"
                c.item("reply", a, o.late(m), role, parent=p)
            for p in o.pick(others, int(o.rng.integers(1, 4))):
                c.react(a, p, o.late(m))
        c.item("post", bot, o.when(m, 7, 7.0), "bot")
        # members who stopped leave the month after (most of them)
        for a in [*founders, *newcomers]:
            if a not in left and a not in active and m > 0 and o.rng.random() < 0.8:
                was_active = a in founders[: DYING_ACTIVE[m - 1]] or (
                    a in newcomers and newcomers[a] <= m - 1 <= newcomers[a] + 1
                )
                if was_active:
                    c.leave(a, m, 25)
                    left.add(a)
    t.shrinking = ["dying"]
    _register(t, c, "dying")


def _campaign(o: _Org, t: Truth) -> None:
    """A small steady baseline, then a launch month with many newcomers who mostly fade within 1-3 months."""
    c = _Comm(o, "campaign", ("general", "launch"))
    base = [c.person(0, day=5 + k) for k in range(10)]
    spike = SPIKE_MONTH - 1
    newcomers = [c.person(spike, day=5 + k % 6) for k in range(90)]
    # how long each newcomer keeps going after the launch month (0 = only the launch month)
    lasts = [0] * 58 + [1] * 18 + [2] * 9 + [N_MONTHS] * 5
    stayers = [n for n, k in zip(newcomers, lasts, strict=True) if k == N_MONTHS]
    for m in range(N_MONTHS):
        posts = []
        for a in base:
            if o.rng.random() < 0.6:
                posts.append(
                    c.item("post", a, o.early(m), o.pick(("social", "resource", "question")), space="general")
                )
        if m == spike:
            for a in base[:2]:
                for _ in range(3):
                    posts.append(c.item("post", a, o.early(m, 5, 8), "announcement", space="launch"))
        late = [n for n, k in zip(newcomers, lasts, strict=True) if spike <= m <= spike + k]
        for n in late:
            if m == spike:
                posts.append(
                    c.item("post", n, o.early(m, 6, 14), o.pick(("social", "question")), space="launch")
                )
            elif o.rng.random() < 0.7:
                posts.append(c.item("post", n, o.early(m), o.pick(("social", "question", "resource"))))
        everyone = base + late
        for a in everyone:
            mine = [p for p in posts if c.author(p) != a]
            k_react = int(o.rng.integers(2, 5)) if (a in late and m == spike) else int(o.rng.integers(1, 3))
            for p in o.pick(mine, k_react):
                c.react(a, p, o.late(m))
            if mine and o.rng.random() < 0.4:
                p = o.pick(mine)
                c.item("reply", a, o.late(m), "answer" if o.roles[p] == "question" else "social", parent=p)
    t.spike = {
        "community": "campaign",
        "month": t.months[spike],
        "newcomers": newcomers,
        "stayers": stayers,
        "baseline_members": base,
    }
    _register(t, c, "campaign")


def _register(t: Truth, c: _Comm, shape: str) -> None:
    units = sorted({c.org.members[p]["org_unit"] for p in c.people if not c.org.members[p]["is_bot"]})
    t.communities[c.name] = {
        "source": c.source,
        "shape": shape,
        "spaces": list(c.spaces.values()),
        "members": len(c.people),
        "org_units": units,
    }


def planted(seed: int = 7, start: str = "2025-01") -> tuple[dict[str, pa.Table], Truth, dict[str, str]]:
    """The six planted communities alone: tables, truth and item roles."""
    o = _Org(seed, start)
    t = Truth(
        seed=seed,
        start=start,
        months=[periods.period_label(periods.key_of_time(d)) for d in o.month_starts[:N_MONTHS]],
    )
    for build in (_healthy, _single_voice, _broadcast, _workgroup, _dying, _campaign):
        build(o, t)
    t.item_roles = dict(o.roles)
    tables = {
        name: pa.Table.from_pylist(o.rows[name], schema=schema.TABLES[name][0])
        for name in ("communities", "spaces", "members", "identities", "items", "actions")
    }
    return tables, t, dict(o.roles)
