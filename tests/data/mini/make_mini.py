"""Write the mini dataset: one small export per platform covalue reads, with planted, known counts.

Run from the project root: ``python tests/data/mini/make_mini.py``. The output is committed; this script
is kept so that the data can be regenerated and read. Everyone and everything here is invented: the
people of a fictional makers' guild talk about tools, workshops and shared projects. Every platform gets
the same kind of conversation (threads of a first message and replies, reactions by other people) in its
own native layout, plus one or two records each reader must reject. ``expected.json`` holds the counts
the readers must find, computed here from the planted conversations and not from any reader.
"""

from __future__ import annotations

import csv
import io
import json
import mailbox
import random
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).parent
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

PEOPLE = [
    "Maren Holt",
    "Tobiah Quill",
    "Ines Varga",
    "Olu Adeyemi",
    "Pilar Sandoval",
    "Kasimir Brandt",
    "Wen Zhao",
    "Ruth Okafor",
    "Dario Fenn",
    "Saoirse Lynch",
    "Anouk Meyer",
    "Teodor Ilie",
    "Hana Sato",
    "Guus de Wit",
    "Lale Demir",
    "Bram Kowal",
    "Yusra Haddad",
    "Elio Marchetti",
]
OPENERS = [
    "Has anyone tried",
    "Quick question about",
    "Notes from last week on",
    "I am stuck with",
    "Sharing a small guide to",
    "Looking for help with",
    "Proposal: a shared session on",
    "What is your routine for",
]
TOPICS = [
    "sharpening chisels",
    "the laser cutter queue",
    "calibrating the 3D printer bed",
    "soldering surface-mount parts",
    "the tool library rota",
    "sourcing birch plywood",
    "the Saturday repair café",
    "dust extraction in the wood room",
    "labelling the component drawers",
    "the beginners' lathe course",
    "glazing temperatures in the kiln",
    "the bike workshop stands",
]
DETAILS = [
    "The manual is vague on this point.",
    "Last time it took most of an afternoon.",
    "I wrote down the steps that worked for me.",
    "The new members keep asking about it.",
    "There is a spare slot on Thursday evening.",
    "I can bring the jig I made.",
    "The supplier changed their sizes again.",
    "It would save everyone some time.",
]
ANSWERS = [
    "I did this in March, happy to show you.",
    "Try a slower feed rate first, it helped me.",
    "There is a sheet pinned by the door that covers it.",
    "Count me in for the session.",
    "We should write this up for the wiki.",
    "The trick is to let it cool between passes.",
    "I have leftover stock you can use.",
    "Good point, I ran into the same thing.",
    "Ask at the front desk, they keep the key.",
    "Thanks, this saved me a trip.",
]
EMOJI = ["thumbsup", "tada", "heart", "eyes", "raised_hands"]


@dataclass
class Msg:
    mid: int
    author: int  # index into PEOPLE
    when: datetime
    text: str
    reactions: list[tuple[int, str]] = field(default_factory=list)  # (person, emoji)


@dataclass
class Thread:
    title: str
    channel: str
    root: Msg
    replies: list[Msg]

    @property
    def messages(self) -> list[Msg]:
        return [self.root, *self.replies]


def conversation(seed: int, n_threads: int, channels: list[str]) -> list[Thread]:
    """Threads of a first message and 0-5 replies by other people, some with reactions."""
    rng = random.Random(seed)
    threads = []
    mid = 1000
    for t in range(n_threads):
        when = START + timedelta(days=t * 3, hours=rng.randint(0, 10), minutes=rng.randint(0, 59))
        topic = rng.choice(TOPICS)
        author = rng.randrange(len(PEOPLE))
        mid += 1
        root = Msg(mid, author, when, f"{rng.choice(OPENERS)} {topic}? {rng.choice(DETAILS)}")
        replies = []
        for _ in range(rng.choice([0, 1, 2, 2, 3, 3, 4, 5])):
            when += timedelta(minutes=rng.randint(5, 600))
            mid += 1
            who = rng.choice([i for i in range(len(PEOPLE)) if i != author])
            replies.append(Msg(mid, who, when, rng.choice(ANSWERS)))
        for m in [root, *replies]:
            others = [i for i in range(len(PEOPLE)) if i != m.author]
            for who in rng.sample(others, rng.choice([0, 0, 1, 1, 2])):
                m.reactions.append((who, rng.choice(EMOJI)))
        threads.append(Thread(f"{topic[0].upper()}{topic[1:]}", channels[t % len(channels)], root, replies))
    return threads


def counts(
    threads: list[Thread], *, rejects: int, reactions: bool = True, members: int | None = None
) -> dict:
    """What a reader must find in these threads: the planted truth."""
    msgs = [m for t in threads for m in t.messages]
    people = {m.author for m in msgs} | ({p for m in msgs for p, _ in m.reactions} if reactions else set())
    return {
        "members": members if members is not None else len(people),
        "items": len(msgs),
        "replies": sum(len(t.replies) for t in threads),
        "reactions": sum(len(m.reactions) for m in msgs) if reactions else 0,
        "votes": 0,
        "rejects": rejects,
    }


def login(i: int) -> str:
    first, *rest = PEOPLE[i].lower().split()
    return f"{first}.{rest[-1]}".replace("'", "")


def email_of(i: int) -> str:
    return f"{login(i)}@guild.example"


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date, so that the archive is the same on every run."""
    info = zipfile.ZipInfo(name, date_time=(2025, 6, 30, 12, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# -- Slack: the workspace export folder -----------------------------------------------------------------
def slack() -> dict:
    channels = ["workshop", "projects", "repair-cafe"]
    threads = conversation(1, 40, channels)
    root = HERE / "slack" / "makers-guild"
    write_json(root / "users.json", [{"id": f"U{i:03d}", "name": login(i), "real_name": p,
                                      "profile": {"real_name": p, "email": email_of(i)}}
                                     for i, p in enumerate(PEOPLE)])  # fmt: skip
    write_json(root / "channels.json", [{"id": f"C{n:03d}", "name": c, "created": int(START.timestamp()),
                                         "members": [f"U{i:03d}" for i in range(len(PEOPLE))]}
                                        for n, c in enumerate(channels)])  # fmt: skip
    days: dict[tuple[str, str], list[dict]] = {}

    def ts(m: Msg) -> str:
        return f"{m.when.timestamp():.0f}.{m.mid:06d}"

    for t in threads:
        for m in t.messages:
            msg = {"type": "message", "user": f"U{m.author:03d}", "text": m.text, "ts": ts(m)}
            if t.replies:
                msg["thread_ts"] = ts(t.root)
            if m.reactions:
                by_emoji: dict[str, list[str]] = {}
                for who, e in m.reactions:
                    by_emoji.setdefault(e, []).append(f"U{who:03d}")
                msg["reactions"] = [{"name": e, "users": us, "count": len(us)} for e, us in by_emoji.items()]
            days.setdefault((t.channel, m.when.strftime("%Y-%m-%d")), []).append(msg)
    # planted: a message without its timestamp, which the reader must reject
    days[("workshop", "2025-01-06")] = [*days.get(("workshop", "2025-01-06"), []),
                                        {"type": "message", "user": "U001", "text": "lost in time"}]  # fmt: skip
    for (chan, day), msgs in days.items():
        write_json(root / chan / f"{day}.json", sorted(msgs, key=lambda m: m.get("ts", "")))
    return counts(threads, rejects=1, members=len(PEOPLE))


# -- Mattermost: a bulk export (JSON Lines) -------------------------------------------------------------
def mattermost() -> dict:
    threads = conversation(2, 40, ["town-square", "fabrication"])
    lines: list[dict] = [
        {"type": "version", "version": 1},
        {"type": "team", "team": {"name": "guild", "display_name": "Makers Guild", "type": "O"}},
        {"type": "channel", "channel": {"team": "guild", "name": "town-square", "display_name": "Town Square",
                                        "type": "O"}},
        {"type": "channel", "channel": {"team": "guild", "name": "fabrication", "display_name": "Fabrication",
                                        "type": "O"}},
    ]  # fmt: skip
    lines += [{"type": "user", "user": {"username": login(i), "email": email_of(i), "first_name": p.split()[0],
                                        "last_name": p.split()[-1], "roles": "system_user"}}
              for i, p in enumerate(PEOPLE)]  # fmt: skip

    def ms(w: datetime) -> int:
        return int(w.timestamp() * 1000)

    def reactions(m: Msg) -> list[dict]:
        return [{"user": login(w), "emoji_name": e, "create_at": ms(m.when) + 60_000} for w, e in m.reactions]

    for t in threads:
        post = {"team": "guild", "channel": t.channel, "user": login(t.root.author), "message": t.root.text,
                "create_at": ms(t.root.when), "reactions": reactions(t.root),
                "replies": [{"user": login(r.author), "message": r.text, "create_at": ms(r.when),
                             "reactions": reactions(r)} for r in t.replies]}  # fmt: skip
        lines.append({"type": "post", "post": post})
    out = [json.dumps(line, ensure_ascii=False) for line in lines]
    out.insert(10, '{"type": "post", "post": {"team": "guild", "channel"')  # planted: a line cut short
    path = HERE / "mattermost" / "guild-export.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return counts(threads, rejects=1, members=len(PEOPLE))


# -- Discord: DiscordChatExporter JSON, one file per channel --------------------------------------------
def discord() -> dict:
    channels = ["general", "electronics"]
    threads = conversation(3, 40, channels)
    for n, chan in enumerate(channels):
        msgs = []
        for t in (t for t in threads if t.channel == chan):
            for m in t.messages:
                msg = {"id": str(m.mid), "type": "Reply" if m is not t.root else "Default",
                       "timestamp": iso(m.when), "content": m.text,
                       "author": {"id": str(9000 + m.author), "name": login(m.author), "discriminator": "0000",
                                  "nickname": PEOPLE[m.author], "isBot": False},
                       "attachments": [], "mentions": []}  # fmt: skip
                if m is not t.root:
                    msg["reference"] = {"messageId": str(t.root.mid), "channelId": str(700 + n)}
                by_emoji: dict[str, list[int]] = {}
                for who, e in m.reactions:
                    by_emoji.setdefault(e, []).append(who)
                msg["reactions"] = [{"emoji": {"id": "", "name": e}, "count": len(ws),
                                     "users": [{"id": str(9000 + w), "name": login(w)} for w in ws]}
                                    for e, ws in by_emoji.items()]  # fmt: skip
                msgs.append(msg)
        msgs.sort(key=lambda m: m["timestamp"])
        if n == 0:  # planted: a message whose date nobody can read
            msgs.append({"id": "1", "type": "Default", "timestamp": "the day after tomorrow", "content": "?",
                         "author": {"id": "9001", "name": login(1)}})  # fmt: skip
        doc = {"guild": {"id": "600", "name": "Makers Guild"},
               "channel": {"id": str(700 + n), "type": "GuildTextChat", "category": "Workshop", "name": chan},
               "messages": msgs, "messageCount": len(msgs)}  # fmt: skip
        write_json(HERE / "discord" / f"Makers Guild - Workshop - {chan} [{700 + n}].json", doc)
    return counts(threads, rejects=1)


# -- Zulip: the zulip-archive layout --------------------------------------------------------------------
def zulip() -> dict:
    threads = conversation(4, 40, ["1-general", "2-3d.20printing"])
    root = HERE / "zulip" / "makers-guild"
    write_json(root / "stream_index.json",
               {"streams": {"general": {"id": 1}, "3d printing": {"id": 2}}})  # fmt: skip
    topics: dict[tuple[str, str], list[dict]] = {}
    for t in threads:
        title = f"{t.title} {t.root.mid}".replace(" ", ".20")
        topics[(t.channel, title)] = [{"id": m.mid, "sender_full_name": PEOPLE[m.author],
                                       "timestamp": int(m.when.timestamp()),
                                       "content": f"<p>{m.text}</p>"} for m in t.messages]  # fmt: skip
    first = next(iter(topics))  # planted: a message without a timestamp
    topics[first].append({"id": 1, "sender_full_name": PEOPLE[1], "content": "<p>no clock</p>"})
    for (stream, title), msgs in topics.items():
        write_json(root / "zulip_json" / stream / f"{title}.json", msgs)
    return counts(threads, rejects=1, reactions=False)


# -- Microsoft Teams: Graph message pages, one folder per team and channel ------------------------------
def teams() -> dict:
    threads = conversation(5, 40, ["General", "Textiles"])

    def who(i: int) -> dict:
        return {"application": None, "device": None,
                "user": {"id": f"aad-{i:03d}", "displayName": PEOPLE[i], "userIdentityType": "aadUser"}}  # fmt: skip

    def message(m: Msg, chan: str, reply_to: int | None) -> dict:
        return {"id": str(m.mid), "replyToId": str(reply_to) if reply_to else None, "messageType": "message",
                "createdDateTime": m.when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "deletedDateTime": None,
                "subject": None, "from": who(m.author),
                "channelIdentity": {"teamId": "team-guild", "channelId": f"19:{chan.lower()}@thread.tacv2"},
                "body": {"contentType": "html", "content": f"<p>{m.text}</p>"}, "attachments": [],
                "mentions": [],
                "reactions": [{"reactionType": e, "createdDateTime": (m.when + timedelta(minutes=30)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z"), "user": who(w)} for w, e in m.reactions]}  # fmt: skip

    for chan in ("General", "Textiles"):
        mine = [t for t in threads if t.channel == chan]
        roots = [message(t.root, chan, None) for t in mine]
        if chan == "General":  # planted: a message whose date is not a date
            roots.append({**roots[0], "id": "1", "createdDateTime": "yesterday-ish"})
        write_json(HERE / "teams" / "makers-guild" / chan / "page-001.json",
                   {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chatMessages",
                    "@odata.count": len(roots), "value": roots})  # fmt: skip
        for t in mine:
            if t.replies:
                write_json(HERE / "teams" / "makers-guild" / chan / f"replies-{t.root.mid}.json",
                           {"value": [message(r, chan, t.root.mid) for r in t.replies]})  # fmt: skip
    return counts(threads, rejects=1)


# -- Viva Engage: the network data export (CSV files in a zip) ------------------------------------------
def vivaengage() -> dict:
    threads = conversation(6, 40, ["Makers Guild", "Repair Circle"])
    groups = {"Makers Guild": "501", "Repair Circle": "502"}

    def table(cols: list[str], rows: list[dict]) -> bytes:
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
        return out.getvalue().encode("utf-8")

    def stamp(w: datetime) -> str:
        return w.strftime("%Y-%m-%d %H:%M:%S UTC")

    users = [{"id": str(3000 + i), "name": p, "email": email_of(i), "department": ["Wood", "Metal", "Textiles"][i % 3],
              "joined_at": stamp(START - timedelta(days=30 * (i + 1))), "state": "active"}
             for i, p in enumerate(PEOPLE)]  # fmt: skip
    msgs = []
    for t in threads:
        for m in t.messages:
            msgs.append({"id": str(m.mid), "replied_to_id": "" if m is t.root else str(t.root.mid),
                         "thread_id": str(t.root.mid), "group_id": groups[t.channel], "group_name": t.channel,
                         "in_private_group": "false", "in_private_conversation": "false",
                         "sender_id": str(3000 + m.author), "sender_type": "User", "sender_name": PEOPLE[m.author],
                         "body": m.text, "created_at": stamp(m.when)})  # fmt: skip
    msgs.insert(5, {**msgs[0], "id": "", "body": "a row with no id"})  # planted
    path = HERE / "vivaengage" / "makers-network.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(entry("Users.csv"), table(["id", "name", "email", "job_title", "location", "department", "joined_at",
                                       "deleted_at", "suspended_at", "state"], users))  # fmt: skip
        z.writestr(entry("Groups.csv"), table(["id", "name", "description", "private", "created_at"],
                                       [{"id": g, "name": n, "private": "false"} for n, g in groups.items()]))  # fmt: skip
        z.writestr(entry("Messages.csv"), table(["id", "replied_to_id", "thread_id", "conversation_id", "group_id",
                                          "group_name", "participants", "in_private_group",
                                          "in_private_conversation", "sender_id", "sender_type", "sender_name",
                                          "sender_email", "body", "attachments", "created_at", "deleted_at"], msgs))  # fmt: skip
    return counts(threads, rejects=1, reactions=False, members=len(PEOPLE))


# -- Discourse: topics as the forum's API returns them, crawled into a folder ---------------------------
def discourse() -> dict:
    threads = conversation(7, 40, ["1"])
    root = HERE / "discourse" / "forum.makersguild.example"
    write_json(root / "categories.json", {"category_list": {"categories": [
        {"id": 5, "name": "Workshop talk", "slug": "workshop-talk"}]}})  # fmt: skip
    post_id = 50_000
    for n, t in enumerate(threads, start=1):
        posts = []
        for k, m in enumerate(t.messages, start=1):
            post_id += 1
            likes = len(m.reactions)
            posts.append({"id": post_id, "post_number": k, "topic_id": n, "user_id": 200 + m.author,
                          "username": login(m.author), "name": PEOPLE[m.author], "created_at": iso(m.when),
                          "cooked": f"<p>{m.text}</p>", "reply_to_post_number": None, "reads": 3 + k,
                          "actions_summary": [{"id": 2, "count": likes}] if likes else []})  # fmt: skip
        write_json(root / "t" / f"{n}.json", {"id": n, "title": t.title, "category_id": 5, "views": 40 + n,
                                              "post_stream": {"posts": posts}})  # fmt: skip
    write_json(
        root / "about.json", {"about": {"title": "not a topic"}}
    )  # planted: a document of another kind
    c = counts(threads, rejects=1)
    msgs = [m for t in threads for m in t.messages]
    # likes come as a count per post: one aggregated action per liked post, nobody behind it
    c["reactions"] = sum(1 for m in msgs if m.reactions)
    c["members"] = len({m.author for m in msgs})
    return c


# -- Stack Exchange: a site's XML tables in a folder named after the site -------------------------------
def stackexchange() -> dict:
    threads = conversation(8, 40, ["site"])
    root = HERE / "stackexchange" / "crafts.stackexchange.com"
    root.mkdir(parents=True, exist_ok=True)

    def xml(table: str, rows: list[dict]) -> str:
        lines = ['<?xml version="1.0" encoding="utf-8"?>', f"<{table}>"]
        lines += [
            "  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in r.items()) + " />" for r in rows
        ]
        return "\n".join([*lines, f"</{table}>", ""])

    def stamp(w: datetime) -> str:
        return w.strftime("%Y-%m-%dT%H:%M:%S.000")

    users = [{"Id": 100 + i, "Reputation": 10 + i, "CreationDate": stamp(START - timedelta(days=90)),
              "DisplayName": p, "Location": "Harbour Town"} for i, p in enumerate(PEOPLE)]  # fmt: skip
    posts, votes = [], []
    for t in threads:
        q = t.root
        posts.append({"Id": q.mid, "PostTypeId": 1, "CreationDate": stamp(q.when), "Score": len(q.reactions),
                      "ViewCount": 30, "Body": f"<p>{q.text}</p>", "OwnerUserId": 100 + q.author,
                      "Title": t.title, "Tags": "<tools><workshop>", "AnswerCount": len(t.replies)})  # fmt: skip
        for a in t.replies:
            posts.append({"Id": a.mid, "PostTypeId": 2, "ParentId": q.mid, "CreationDate": stamp(a.when),
                          "Score": len(a.reactions), "Body": f"<p>{a.text}</p>", "OwnerUserId": 100 + a.author})  # fmt: skip
        for m in t.messages:  # the dump keeps up-votes without their voters
            votes += [{"Id": len(votes) + 1, "PostId": m.mid, "VoteTypeId": 2, "CreationDate": stamp(m.when)}
                      for _ in m.reactions]  # fmt: skip
    posts[3]["Score"] = "plenty"  # planted: the row is kept, the unreadable score is a reject
    (root / "Users.xml").write_text(xml("users", users), encoding="utf-8")
    (root / "Posts.xml").write_text(xml("posts", posts), encoding="utf-8")
    (root / "Comments.xml").write_text(xml("comments", []), encoding="utf-8")
    (root / "Votes.xml").write_text(xml("votes", votes), encoding="utf-8")
    c = counts(threads, rejects=1, reactions=False, members=len(PEOPLE))
    c["votes"] = len(votes)
    return c


# -- a mailing list: one mbox file ----------------------------------------------------------------------
def envelope(msg: EmailMessage, who: int, when: datetime) -> mailbox.mboxMessage:
    """The message with a fixed ``From `` line (mailbox would stamp the time of writing)."""
    boxed = mailbox.mboxMessage(msg)
    boxed.set_from(email_of(who), when.timetuple())
    return boxed


def mbox() -> dict:
    threads = conversation(9, 40, ["list"])
    path = HERE / "mbox" / "makers-list.mbox"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    box = mailbox.mbox(str(path))
    for t in threads:
        for m in t.messages:
            msg = EmailMessage()
            msg["From"] = f"{PEOPLE[m.author]} <{email_of(m.author)}>"
            msg["To"] = "makers@lists.guild.example"
            msg["Subject"] = t.title if m is t.root else f"Re: {t.title}"
            msg["Date"] = format_datetime(m.when)
            msg["Message-ID"] = f"<{m.mid}@guild.example>"
            msg["List-Id"] = "Makers Guild <makers.lists.guild.example>"
            if m is not t.root:
                msg["In-Reply-To"] = f"<{t.root.mid}@guild.example>"
                msg["References"] = f"<{t.root.mid}@guild.example>"
            msg.set_content(m.text + "\n")
            box.add(envelope(msg, m.author, m.when))
    lost = EmailMessage()  # planted: a message nobody sent
    lost["Subject"] = "Who wrote this?"
    lost["Date"] = format_datetime(START)
    lost.set_content("A note without a sender.\n")
    box.add(envelope(lost, 0, START))
    box.close()
    return counts(threads, rejects=1, reactions=False)


# -- tabular: canonical CSV files, one per table --------------------------------------------------------
def tabular() -> dict:
    threads = conversation(10, 40, ["forum", "wiki-talk"])
    root = HERE / "tabular" / "guild-forum"
    root.mkdir(parents=True, exist_ok=True)

    def write(name: str, cols: list[str], rows: list[dict]) -> None:
        with (root / name).open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)

    write("members.csv", ["member_id", "display_name", "email", "org_unit", "joined_at"],
          [{"member_id": f"m{i:02d}", "display_name": p, "email": email_of(i), "org_unit": ["Wood", "Metal"][i % 2],
            "joined_at": "2024-10-01"} for i, p in enumerate(PEOPLE)])  # fmt: skip
    write("spaces.csv", ["space_id", "name", "kind"],
          [{"space_id": "forum", "name": "Forum", "kind": "category"},
           {"space_id": "wiki-talk", "name": "Wiki talk", "kind": "category"}])  # fmt: skip
    items, actions = [], []
    for t in threads:
        for m in t.messages:
            items.append({"item_id": m.mid, "space_id": t.channel, "author_id": f"m{m.author:02d}",
                          "created_at": iso(m.when), "kind": "post" if m is t.root else "reply",
                          "title": t.title if m is t.root else "", "text": m.text,
                          "parent_id": "" if m is t.root else t.root.mid,
                          "thread_id": t.root.mid})  # fmt: skip
            actions += [{"actor_id": f"m{w:02d}", "verb": "react", "item_id": m.mid, "target_id": f"m{m.author:02d}",
                         "ts": iso(m.when + timedelta(hours=1)), "detail": e} for w, e in m.reactions]  # fmt: skip
    items.insert(7, {**items[0], "item_id": "9", "created_at": "the first Tuesday"})  # planted
    write("items.csv", ["item_id", "space_id", "author_id", "created_at", "kind", "title", "text", "parent_id",
                        "thread_id"], items)  # fmt: skip
    write("actions.csv", ["actor_id", "verb", "item_id", "target_id", "ts", "detail"], actions)
    return counts(threads, rejects=1, members=len(PEOPLE))


# -- Perceval: items of the slack backend, pretty-printed one after another as perceval prints them -----
def perceval() -> dict:
    threads = conversation(11, 40, ["C100"])
    chan = {"id": "C100", "name": "makers", "num_members": len(PEOPLE)}
    out = []
    for t in threads:
        for m in t.messages:
            ts = f"{m.when.timestamp():.0f}.{m.mid:06d}"
            root_ts = f"{t.root.when.timestamp():.0f}.{t.root.mid:06d}"
            by_emoji: dict[str, list[str]] = {}
            for w, e in m.reactions:
                by_emoji.setdefault(e, []).append(f"U{w:03d}")
            data = {"type": "message", "user": f"U{m.author:03d}", "text": m.text, "ts": ts,
                    "user_data": {"id": f"U{m.author:03d}", "name": login(m.author), "real_name": PEOPLE[m.author]},
                    "channel_info": chan,
                    "reactions": [{"name": e, "users": us, "count": len(us)} for e, us in by_emoji.items()]}  # fmt: skip
            if t.replies:
                data["thread_ts"] = root_ts
            item = {"backend_name": "Slack", "backend_version": "0.11.0", "perceval_version": "1.0.0",
                    "category": "message", "classified_fields_filtered": None, "origin": "https://slack.com/C100",
                    "tag": "https://slack.com/C100", "timestamp": m.when.timestamp(),
                    "updated_on": float(ts), "uuid": f"{m.mid:040x}", "data": data}  # fmt: skip
            out.append(json.dumps(item, indent=4, ensure_ascii=False))
    out.insert(20, "perceval: fetching the next page")  # planted: a log line caught in the output
    path = HERE / "perceval" / "slack-makers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return counts(threads, rejects=1)


def main() -> None:
    expected = {name: fn() for name, fn in PLATFORMS.items()}
    write_json(HERE / "expected.json", expected)
    for name, c in expected.items():
        print(f"{name:12} {c}")


PLATFORMS = {
    "slack": slack,
    "mattermost": mattermost,
    "discord": discord,
    "zulip": zulip,
    "teams": teams,
    "vivaengage": vivaengage,
    "discourse": discourse,
    "stackexchange": stackexchange,
    "mbox": mbox,
    "tabular": tabular,
    "perceval": perceval,
}

if __name__ == "__main__":
    main()
