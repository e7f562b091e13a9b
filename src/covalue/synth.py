"""Synthetic organisations with planted, known structure, for tests, the demo and the benchmarks.

An organisation has six communities, each planted with one shape a community manager would recognise
(a healthy community, a single voice, a broadcast, a closed workgroup, a dying community, a campaign
spike), plus planted members in ``healthy`` whose value-journey stage at the last two periods is known
exactly. The metrics must recover what is written in :class:`Truth`; docs/synthetic.md states the
contract. ``n_actions`` or ``scale`` add bulk communities built with vectorised numpy/Arrow so that ten
million actions generate in well under two minutes.

    org = generate(seed=7)
    org.write(workspace)            # canonical tables, deduplicated like an ingest
    org.write_tabular("export/")    # members.csv, items.csv, actions.csv with native ids
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from covalue import identity, periods, schema, stages
from covalue.sources.base import text_stats

#: the key for synthetic pseudonyms: fixed, so the same seed always gives the same member ids
SECRET = b"covalue-synthetic-organisation-v1"
N_MONTHS = 12
STAGES = stages.ORDER
ORG_UNITS = ("Finance", "Engineering", "Sales", "HR", "Operations", "Marketing", "Legal", "Research")
LOCATIONS = ("London", "Nairobi", "Singapore", "Toronto", "São Paulo", "Berlin", "Manila")
JOB_ROLES = ("analyst", "engineer", "manager", "specialist", "coordinator", "director")
EMOJI = ("thumbsup", "heart", "tada", "bulb", "raised_hands", "eyes", "100")
WORKGROUP_UNIT = "Finance"
SPIKE_MONTH = 6  # 1-based: the campaign's launch month
SCENARIOS = ("healthy", "single-voice", "broadcast", "workgroup", "dying", "campaign")

_TOPICS = (
    "the quarterly forecast",
    "the CI pipeline",
    "expense approvals",
    "the CRM export",
    "onboarding checklists",
    "pivot tables",
    "the data warehouse",
    "contract templates",
    "the release calendar",
    "customer churn models",
    "travel bookings",
    "the VPN client",
    "supplier invoices",
    "A/B test results",
    "the hiring pipeline",
)
_FIXES = (
    "clear the cache and sign in again",
    "use the shared template in the finance drive",
    "set the date column to ISO format first",
    "ask for the reporting role in the access portal",
    "rerun the job with the full refresh flag",
    "split the file into monthly parts",
)
_IDEAS = (
    "run a monthly clinic on {t}",
    "build one shared glossary for {t}",
    "pair newcomers with a buddy for {t}",
    "publish a short playbook on {t}",
    "automate the weekly report on {t}",
    "hold a hack day about {t}",
)

#: text templates per planted role; every one carries the signals a text classifier can look for
_TEXT: dict[str, tuple[str, ...]] = {
    "question": (
        "How do I refresh {t} without breaking the links?",
        "Does anyone know who owns {t}?",
        "Any advice on cleaning up {t} before the audit?",
        "What is the quickest way to export {t}?",
        "Why does {t} fail every Monday morning?",
        "How can I get access to {t}?",
    ),
    "answer": (
        "You can {f}; that is what we do in our team.",
        "Try to {f}, it usually sorts it out.",
        "The fix is to {f}.",
        "You can {f} and then rerun it.",
    ),
    "idea": (
        "Idea: {i}.",
        "What if we {i}? It would save everyone time.",
        "I propose we {i}.",
        "We could try to {i} next quarter.",
    ),
    "support": (
        "+1, my team would use this every week.",
        "Love this, count me in.",
        "Yes please, happy to help set it up.",
        "Strong support from our side.",
    ),
    "resource": (
        "Sharing the guide we wrote on {t}: https://wiki.example.org/guides/{s}",
        "Here is a guide to {t} that saved us hours: https://wiki.example.org/{s}",
        "Sharing our checklist for {t}, feel free to reuse: https://docs.example.org/{s}",
    ),
    "gratitude": (
        "Thanks, that solved it!",
        "That worked, thank you so much.",
        "Thanks, that solved it for the whole team.",
    ),
    "social": (
        "Good morning everyone, have a great week.",
        "Great to see so many people at the meetup today.",
        "Congratulations to the team on the launch!",
        "Bookmarked, great read.",
        "Nice work, well done all.",
        "Hi all, happy to be here and looking forward to learning from you.",
    ),
    "discussion": (
        "Agreed, I will update the notes on {t} today.",
        "Done, the changes for {t} are in.",
        "Good point, I added it to the plan for {t}.",
        "Noted, let us review {t} on Thursday.",
    ),
    "announcement": (
        "Announcement: changes to {t} start next week. Details: https://intranet.example.org/news/{s}",
        "Newsletter: this month in {t}. Read it here: https://intranet.example.org/newsletter/{s}",
        "Reminder: the policy on {t} has been updated. https://intranet.example.org/policy/{s}",
    ),
    "bot": (
        "Weekly digest: new threads on {t} this week. https://digest.example.org/{s}",
        "Automated reminder: please file your updates on {t}.",
    ),
}
ROLES = tuple(_TEXT)


def _fill(template: str, k: int) -> str:
    t = _TOPICS[k % len(_TOPICS)]
    return template.format(
        t=t, f=_FIXES[k % len(_FIXES)], i=_IDEAS[k % len(_IDEAS)].format(t=t), s=f"{t.replace(' ', '-')}-{k}"
    )


def _pool(role: str) -> list[str]:
    """Every distinct text of one role (templates crossed with topics), in a fixed order."""
    out: list[str] = []
    for tpl in _TEXT[role]:
        for k in range(len(_TOPICS) if "{" in tpl else 1):
            out.append(_fill(tpl, k))
    return out


_POOLS = {r: _pool(r) for r in ROLES}


@dataclass
class Truth:
    """What was planted, so tests and metrics can check what they recover. JSON-serialisable."""

    seed: int
    start: str
    months: list[str]
    #: community_id -> {"source", "shape", "spaces", "members"(count), "org_units"}
    communities: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the campaign: community, spike month ("YYYY-MM"), newcomers who joined for it, those who stayed
    spike: dict[str, Any] = field(default_factory=dict)
    shrinking: list[str] = field(default_factory=list)
    champions: list[str] = field(default_factory=list)
    #: period ("YYYY-MM") -> member_id -> stage, for the planted members of ``healthy``
    stages: dict[str, dict[str, str]] = field(default_factory=dict)
    #: journey group ("stayer:share", "riser:connect->share", "leaver:solve") -> member ids
    journeys: dict[str, list[str]] = field(default_factory=dict)
    #: item_id -> planted role, for every item of the six planted communities (bulk roles: SynthOrg.roles)
    item_roles: dict[str, str] = field(default_factory=dict)
    bots: list[str] = field(default_factory=list)
    single_voice_author: str = ""
    broadcast_authors: list[str] = field(default_factory=list)
    workgroup_members: list[str] = field(default_factory=list)
    workgroup_org_unit: str = WORKGROUP_UNIT
    bulk: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, ensure_ascii=False)


@dataclass
class SynthOrg:
    """A generated organisation: canonical Arrow tables, the planted truth and every item's role."""

    tables: dict[str, pa.Table]
    truth: Truth
    roles: pa.Table  # item_id, role (all items, bulk included)

    @property
    def counts(self) -> dict[str, int]:
        return {t: v.num_rows for t, v in self.tables.items()}

    def write(
        self, ws: Any, *, chunk_rows: int = 1_000_000, progress: Callable[[str, int, int], None] | None = None
    ) -> dict[str, int]:
        """Append every table to a workspace (deduplicated, so writing twice adds nothing).
        Returns the rows newly added per table; ``progress(table, done, total)`` after each chunk."""
        added: dict[str, int] = {}
        for name, tbl in self.tables.items():
            added[name] = 0
            total = tbl.num_rows
            for off in range(0, max(total, 1), chunk_rows):
                part = tbl.slice(off, chunk_rows)
                if part.num_rows:
                    added[name] += ws.append(name, part)
                if progress:
                    progress(name, min(off + chunk_rows, total), total)
        return added

    def write_tabular(self, folder: str | Path) -> list[Path]:
        """A tabular export (members.csv, items.csv, actions.csv) as a platform would give it: native
        ids ("u123" for people, the number for items), canonical column names, plus ``source`` and
        ``community`` columns naming the community each row belongs to."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        ids = self.tables["identities"]
        to_native = _Lookup(ids["identity_id"], ids["native_id"])
        strip = _strip_source
        members = self.tables["members"]
        m = pa.table(
            {
                "member_id": to_native(members["member_id"]),
                "source": _scenario(members["source"]),
                "community": _scenario(members["source"]),
                "display_name": ids["display_name"].take(
                    pc.index_in(members["member_id"], ids["identity_id"])
                ),
                "first_seen": members["first_seen"],
                "joined_at": members["joined_at"],
                "left_at": members["left_at"],
                "org_unit": members["org_unit"],
                "location": members["location"],
                "role": members["role"],
                "is_bot": members["is_bot"],
            }
        )
        it = self.tables["items"]
        i = pa.table(
            {
                "item_id": strip(it["item_id"]),
                "source": _scenario(it["source"]),
                "community": it["community_id"],
                "space_id": strip(it["space_id"]),
                "thread_id": strip(it["thread_id"]),
                "parent_id": strip(it["parent_id"]),
                "author_id": to_native(it["author_id"]),
                "created_at": it["created_at"],
                "kind": it["kind"],
                "title": it["title"],
                "text": it["text"],
                "n_attachments": it["n_attachments"],
                "accepted": it["accepted"],
                "views": it["views"],
                "score": it["score"],
            }
        )
        ac = self.tables["actions"]
        a = pa.table(
            {
                "action_id": strip(ac["action_id"]),
                "source": _scenario(ac["source"]),
                "community": ac["community_id"],
                "space_id": strip(ac["space_id"]),
                "ts": ac["ts"],
                "actor_id": to_native(ac["actor_id"]),
                "verb": ac["verb"],
                "item_id": strip(ac["item_id"]),
                "target_id": to_native(ac["target_id"]),
                "value": ac["value"],
                "detail": ac["detail"],
            }
        )
        paths = []
        for name, tbl in (("members", m), ("items", i), ("actions", a)):
            p = out / f"{name}.csv"
            pacsv.write_csv(tbl, p)
            paths.append(p)
        return paths


class _Lookup:
    """Vectorised map from canonical person ids to native ids."""

    def __init__(self, keys: pa.ChunkedArray, values: pa.ChunkedArray) -> None:
        self.keys = keys.combine_chunks()
        self.values = values.combine_chunks()

    def __call__(self, col: pa.ChunkedArray) -> pa.Array:
        return self.values.take(pc.index_in(col, value_set=self.keys))


def _strip_source(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``synth:healthy:17`` -> ``17`` (the platform's own id)."""
    return pc.replace_substring_regex(col, pattern=r"^synth:[^:]+:", replacement="")


def _scenario(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.replace_substring_regex(col, pattern=r"^synth:", replacement="")


# ------------------------------------------------------------------------------------------------
# the six planted communities: small, built row by row so that every planted fact is explicit
# ------------------------------------------------------------------------------------------------


def _month_starts(start: str) -> list[datetime]:
    """The first instant of each of the 12 months from ``start`` ("YYYY-MM"), and of the month after."""
    first = periods.period_index(start)
    return [periods.month_start(first + k) for k in range(N_MONTHS + 1)]


class _Org:
    def __init__(self, seed: int, start: str) -> None:
        self.rng = np.random.default_rng(seed)
        self.month_starts = _month_starts(start)
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
        return self.pick(_POOLS[role])

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
        org.rows["communities"].append({"community_id": name, "name": name})
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
    if stage == "observer":  # reads only: views, nothing the others can see (DESIGN §5)
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


# ------------------------------------------------------------------------------------------------
# bulk communities: vectorised, for scale
# ------------------------------------------------------------------------------------------------

_ROLE_TEXTS = [txt for r in ROLES for txt in _POOLS[r]]
_ROLE_OFFSET = np.cumsum([0] + [len(_POOLS[r]) for r in ROLES])
_ROLE_INDEX = {r: k for k, r in enumerate(ROLES)}
_TEXT_STATS = np.array([text_stats(s) for s in _ROLE_TEXTS], dtype=np.int32)
_KIND_NAMES = ("question", "post", "idea", "answer", "reply")


def _bulk(
    seed: int, n_actions: int, month_starts: list[datetime], native_start: int
) -> tuple[dict[str, pa.Table], pa.Table, dict[str, Any]]:
    """Healthy-like communities of ~5,000 members each with ``n_actions`` actions in total."""
    rng = np.random.default_rng([seed, 2])
    us = np.array(
        [int((d - datetime(1970, 1, 1)).total_seconds()) * 1_000_000 for d in month_starts], np.int64
    )
    end = us[-1] - 1
    n_members = max(20, n_actions // 100)
    n_comm = max(1, -(-n_members // 5000))
    names = [f"org-{k + 1:02d}" for k in range(n_comm)]
    sources = [f"synth:{n}" for n in names]
    msize = np.full(n_comm, n_members // n_comm, np.int64)
    msize[: n_members % n_comm] += 1
    mstart = np.concatenate([[0], np.cumsum(msize)[:-1]])
    mcomm = np.repeat(np.arange(n_comm), msize)
    natives = [f"u{native_start + k}" for k in range(n_members)]
    mids = [identity.identity_id(SECRET, sources[mcomm[k]], natives[k]) for k in range(n_members)]
    mid_arr = pa.array(mids, pa.string())

    # items: 30 % thread roots (questions, posts, ideas), the rest answers/replies in the same community
    n_items = max(2 * n_comm, n_actions // 8)
    isize = (n_items * msize) // n_members
    isize[: n_items - isize.sum()] += 1
    istart = np.concatenate([[0], np.cumsum(isize)[:-1]])
    icomm = np.repeat(np.arange(n_comm), isize)
    is_root = rng.random(n_items) < 0.3
    is_root[istart] = True
    roots = np.flatnonzero(is_root)
    rcount = np.bincount(icomm[roots], minlength=n_comm)
    rstart = np.concatenate([[0], np.cumsum(rcount)[:-1]])
    kind = np.where(rng.random(n_items) < 0.4, 0, np.where(rng.random(n_items) < 0.85, 1, 2)).astype(np.int8)
    replies = np.flatnonzero(~is_root)
    rc = icomm[replies]
    parent = np.full(n_items, -1, np.int64)
    parent[replies] = roots[rstart[rc] + (rng.random(len(replies)) * rcount[rc]).astype(np.int64)]
    kind[replies] = np.where(kind[parent[replies]] == 0, 3, 4)
    author = mstart[icomm] + (msize[icomm] * rng.random(n_items) ** 2).astype(np.int64)
    # people mostly answer and react within a small circle of colleagues (the 10 around them), so the
    # interaction graph has about ten partners per member (~1 M edges at 10 M actions), as real ones do
    local = rng.random(len(replies)) < 0.95
    author[replies] = np.where(
        local, _near(rng, author[parent[replies]], icomm[replies], mstart, msize), author[replies]
    )
    month = rng.integers(0, N_MONTHS, n_items)
    ts = us[month] + (rng.integers(4, 24, n_items) * 86400 + rng.integers(0, 86400, n_items)) * 1_000_000
    ts[replies] = np.minimum(
        ts[parent[replies]] + (rng.exponential(5 * 3600, len(replies)) * 1e6).astype(np.int64), end
    )
    thread = np.where(is_root, np.arange(n_items), parent)
    accepted = np.zeros(n_items, bool)
    ans = np.flatnonzero(kind == 3)
    if len(ans):
        order = ans[np.lexsort((ts[ans], parent[ans]))]
        first = order[np.concatenate([[True], parent[order][1:] != parent[order][:-1]])]
        accepted[first[rng.random(len(first)) < 0.6]] = True
    # roles from kinds: posts are social or resource shares, replies to ideas support them
    role = np.empty(n_items, np.int8)
    role[kind == 0] = _ROLE_INDEX["question"]
    role[kind == 2] = _ROLE_INDEX["idea"]
    role[kind == 3] = _ROLE_INDEX["answer"]
    post = kind == 1
    role[post] = np.where(rng.random(post.sum()) < 0.4, _ROLE_INDEX["resource"], _ROLE_INDEX["social"])
    rep = kind == 4
    pk = np.where(rep, kind[np.maximum(parent, 0)], -1)
    r = rng.random(n_items)
    role[rep] = np.where(
        pk[rep] == 2,
        _ROLE_INDEX["support"],
        np.where(r[rep] < 0.15, _ROLE_INDEX["gratitude"], _ROLE_INDEX["discussion"]),
    )
    role_len = np.diff(_ROLE_OFFSET)
    text_idx = _ROLE_OFFSET[role] + (rng.random(n_items) * role_len[role]).astype(np.int64)
    space_of_item = np.where(kind[thread] == 0, 1, 0)  # questions live in "questions", the rest in "general"

    # actions: one join per member, some leaves, accepts of accepted answers, the rest on items
    acc_items = np.flatnonzero(accepted)
    n_leave = n_members * 3 // 100
    n_rest = max(0, n_actions - n_members - n_leave - len(acc_items))
    a_item = rng.integers(0, n_items, n_rest)
    a_comm = icomm[a_item]
    a_actor = np.where(
        rng.random(n_rest) < 0.97,
        _near(rng, author[a_item], a_comm, mstart, msize),
        mstart[a_comm] + (msize[a_comm] * rng.random(n_rest) ** 1.5).astype(np.int64),
    )
    a_verb = rng.choice(4, size=n_rest, p=[0.42, 0.35, 0.15, 0.08])  # view, react, vote, mention
    a_ts = np.minimum(ts[a_item] + rng.integers(0, 3 * 86400, n_rest) * 1_000_000, end)
    mention_target = _near(rng, a_actor, a_comm, mstart, msize)
    a_target = np.where(a_verb == 0, -1, np.where(a_verb == 3, mention_target, author[a_item]))
    # join each member just before their first act (or in month 1), leavers a day after their last
    first = np.full(n_members, end, np.int64)
    np.minimum.at(first, author, ts)
    np.minimum.at(first, a_actor, a_ts)
    join_ts = np.maximum(np.minimum(first - 3_600_000_000, us[1]), us[0])
    leavers = np.sort(rng.choice(n_members, size=n_leave, replace=False))
    last = np.full(n_members, us[0], np.int64)
    np.maximum.at(last, author, ts)
    np.maximum.at(last, a_actor, a_ts)
    leave_ts = np.minimum(last[leavers] + 86_400_000_000, end)
    acc_asker = author[parent[acc_items]]
    acc_ts = np.minimum(ts[acc_items] + 7_200_000_000, end)

    verbs = pa.array(["join", "leave", "accept", "view", "react", "vote", "mention"])
    n_acc = len(acc_items)
    act_actor = np.concatenate([np.arange(n_members), leavers, acc_asker, a_actor])
    act_item = np.concatenate([np.full(n_members + n_leave, -1), acc_items, a_item])
    act_target = np.concatenate([np.full(n_members + n_leave, -1), author[acc_items], a_target])
    act_ts = np.concatenate([join_ts, leave_ts, acc_ts, a_ts])
    act_verb = np.concatenate(
        [
            np.zeros(n_members, np.int8),
            np.ones(n_leave, np.int8),
            np.full(n_acc, 2, np.int8),
            (a_verb + 3).astype(np.int8),
        ]
    )
    act_comm = np.concatenate([mcomm, mcomm[leavers], icomm[acc_items], a_comm])
    act_space = np.where(act_item >= 0, space_of_item[np.maximum(act_item, 0)], 0)
    n_act = len(act_ts)

    src_arr = pa.array(sources)
    comm_arr = pa.array(names)
    space_ids = pa.array([f"{s}:{sp}" for s in sources for sp in ("general", "questions")])
    item_prefix = pa.array([f"{s}:" for s in sources])
    item_id = _join(item_prefix.take(icomm), np.arange(n_items) + 1)
    item_id_arr = item_id

    def item_ref(idx: np.ndarray) -> pa.Array:
        return item_id_arr.take(pa.array(np.where(idx >= 0, idx, 0), mask=idx < 0))

    def person_ref(idx: np.ndarray) -> pa.Array:
        return mid_arr.take(pa.array(np.where(idx >= 0, idx, 0), mask=idx < 0))

    texts = pa.array(_ROLE_TEXTS).take(text_idx)
    stats = _TEXT_STATS[text_idx]
    views = np.bincount(a_item[a_verb == 0], minlength=n_items)
    score = np.bincount(a_item[a_verb == 2], minlength=n_items)
    items = pa.Table.from_arrays(
        [
            item_id,
            src_arr.take(icomm),
            space_ids.take(icomm * 2 + space_of_item),
            comm_arr.take(icomm),
            item_ref(thread),
            item_ref(parent),
            person_ref(author),
            pa.array(ts, schema.TS),
            pa.array(_KIND_NAMES).take(kind),
            pa.nulls(n_items, pa.string()),
            texts,
            pa.array(stats[:, 0], pa.int32()),
            pa.array(stats[:, 1], pa.int32()),
            pa.array(np.zeros(n_items, np.int32)),
            pa.array(accepted),
            pa.array(views.astype(np.int64)),
            pa.array(score.astype(np.int64)),
        ],
        schema=schema.ITEMS,
    )
    verb_code = act_verb
    emoji = pa.array(list(EMOJI)).take(rng.integers(0, len(EMOJI), n_act))
    is_react = pa.array(verb_code == 4)
    is_vote = verb_code == 5
    actions = pa.Table.from_arrays(
        [
            _join(pa.array([f"{s}:a" for s in sources]).take(act_comm), np.arange(n_act) + 1),
            src_arr.take(act_comm),
            space_ids.take(act_comm * 2 + act_space),
            comm_arr.take(act_comm),
            pa.array(act_ts, schema.TS),
            person_ref(act_actor),
            verbs.take(act_verb),
            item_ref(act_item),
            person_ref(act_target),
            pa.array(np.ones(n_act), mask=~is_vote),
            pc.if_else(is_react, emoji, pa.nulls(n_act, pa.string())),
        ],
        schema=schema.ACTIONS,
    )
    left_at = np.full(n_members, -1, np.int64)
    left_at[leavers] = leave_ts
    members = pa.Table.from_arrays(
        [
            mid_arr,
            src_arr.take(mcomm),
            pa.array(join_ts, schema.TS),
            pa.array(join_ts, schema.TS),
            pa.array(np.maximum(left_at, 0), schema.TS, mask=left_at < 0),
            pa.array(list(ORG_UNITS)).take(rng.integers(0, len(ORG_UNITS), n_members)),
            pa.array(list(LOCATIONS)).take(rng.integers(0, len(LOCATIONS), n_members)),
            pa.array(list(JOB_ROLES)).take(rng.integers(0, len(JOB_ROLES), n_members)),
            pa.array(np.zeros(n_members, bool)),
        ],
        schema=schema.MEMBERS,
    )
    identities = pa.Table.from_arrays(
        [
            mid_arr,
            mid_arr,
            src_arr.take(mcomm),
            pa.array(natives),
            _join(
                pa.array(["Person "]).take(np.zeros(n_members, np.int64)), np.arange(n_members) + native_start
            ),
            pa.nulls(n_members, pa.string()),
            pa.array(np.zeros(n_members, bool)),
        ],
        schema=schema.IDENTITIES,
    )
    tables = {
        "communities": pa.table({"community_id": names, "name": names}, schema=schema.COMMUNITIES),
        "spaces": pa.table(
            {
                "space_id": space_ids,
                "source": [s for s in sources for _ in range(2)],
                "name": ["general", "questions"] * n_comm,
                "kind": ["forum"] * (2 * n_comm),
                "community_id": [n for n in names for _ in range(2)],
            },
            schema=schema.SPACES,
        ),
        "members": members,
        "identities": identities,
        "items": items,
        "actions": actions,
    }
    roles = pa.table({"item_id": item_id, "role": pa.array(list(ROLES)).take(role)})
    info = {"communities": names, "members": n_members, "items": n_items, "actions": n_act}
    return tables, roles, info


def _near(
    rng: np.random.Generator, who: np.ndarray, comm: np.ndarray, mstart: np.ndarray, msize: np.ndarray
) -> np.ndarray:
    """A colleague of each member in ``who``: one of the 10 members next to them in their community."""
    off = rng.integers(1, 6, len(who)) * np.where(rng.random(len(who)) < 0.5, -1, 1)
    return mstart[comm] + (who - mstart[comm] + off) % msize[comm]


def _join(prefix: pa.Array, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


# ------------------------------------------------------------------------------------------------


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


def generate(
    seed: int = 7, n_actions: int | None = None, scale: float = 1.0, start: str = "2025-01"
) -> SynthOrg:
    """A synthetic organisation: the six planted communities, plus bulk communities when ``n_actions``
    (total actions wanted) or ``scale`` (multiple of the planted size) asks for more."""
    tables, truth, roles = planted(seed, start)
    base = tables["actions"].num_rows
    target = n_actions if n_actions is not None else (round(base * scale) if scale > 1 else base)
    role_tbl = pa.table({"item_id": list(roles), "role": list(roles.values())})
    if target > base:
        native_start = tables["identities"].num_rows + 1
        bulk, bulk_roles, info = _bulk(seed, target - base, _month_starts(start), native_start)
        tables = {k: pa.concat_tables([tables[k], bulk[k]]) for k in tables}
        role_tbl = pa.concat_tables([role_tbl, bulk_roles])
        truth.bulk = info
        for name in info["communities"]:
            truth.communities[name] = {
                "source": f"synth:{name}",
                "shape": "bulk",
                "spaces": [f"synth:{name}:general", f"synth:{name}:questions"],
            }
    for name in ("rejects", "ingests", "merges"):
        tables[name] = schema.empty(name)
    return SynthOrg(tables={k: tables[k] for k in schema.TABLES}, truth=truth, roles=role_tbl)
