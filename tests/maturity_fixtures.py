"""A small hand-built organisation with planted stages, shared by the maturity, classify and Spark tests.

One community (``t:club``) in March–April 2025. Planted at period 2025-03:
alice share, bob solve (asked, answered by dave), carol solve (helper), dave solve (helped bob and carol),
erin innovate (idea supported by 3 others), frank connect (reactions only), gina connect (2 reactions:
an occasional participant, persona Observer), ivy observer (joined and read the guide, nothing others can
see), a bot whose posts and reactions never count. At 2025-06 everyone but frank has nothing in the window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SRC = "t:club"
COMM = "t:club"
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "henry", "ivy", "botty")


def mid(name: str) -> str:
    return f"m_{name}"


def rows() -> dict[str, list[dict[str, Any]]]:
    """Canonical rows per table."""
    members = [
        {
            "member_id": mid(p),
            "source": SRC,
            "first_seen": datetime(2025, 3, 1),
            "is_bot": p == "botty",
            "org_unit": "Finance" if p in ("alice", "bob") else "Sales",
        }
        for p in PEOPLE
    ]
    identities = [
        {
            "identity_id": mid(p),
            "member_id": mid(p),
            "source": SRC,
            "native_id": p,
            "display_name": p.title(),
            "is_bot": p == "botty",
        }
        for p in PEOPLE
    ]
    # henry has a second account on another source, merged into his main member id
    identities.append(
        {
            "identity_id": "m_henry2",
            "member_id": mid("henry"),
            "source": "t:other",
            "native_id": "henry",
            "display_name": "Henry",
            "is_bot": False,
        }
    )
    items: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    n = [0]

    def item(
        author: str,
        day: int,
        text: str,
        *,
        kind: str = "post",
        parent: str | None = None,
        month: int = 3,
        accepted: bool = False,
    ) -> str:
        n[0] += 1
        iid = f"{SRC}:i{n[0]}"
        thread = parent and next(i["thread_id"] for i in items if i["item_id"] == parent)
        items.append(
            {
                "item_id": iid,
                "source": SRC,
                "space_id": f"{SRC}:general",
                "community_id": COMM,
                "thread_id": thread or iid,
                "parent_id": parent,
                "author_id": author if author.startswith("m_") else mid(author),
                "created_at": datetime(2025, month, day, 10, n[0] % 60),
                "kind": kind,
                "title": None,
                "text": text,
                "n_words": len(text.split()),
                "n_links": text.count("http"),
                "n_attachments": 0,
                "accepted": accepted,
                "views": None,
                "score": None,
            }
        )
        return iid

    def act(
        actor: str, verb: str, day: int, item_id: str | None = None, target: str | None = None, month: int = 3
    ) -> None:
        n[0] += 1
        actions.append(
            {
                "action_id": f"{SRC}:a{n[0]}",
                "source": SRC,
                "space_id": f"{SRC}:general",
                "community_id": COMM,
                "ts": datetime(2025, month, day, 12, n[0] % 60),
                "actor_id": actor if actor.startswith("m_") else mid(actor),
                "verb": verb,
                "item_id": item_id,
                "target_id": target,
                "value": None,
                "detail": "+1",
            }
        )

    for p in PEOPLE:
        if p != "ivy":  # ivy's only doing is reading (below), added last to keep the other ids stable
            act(p, "join", 2)
    guide = item("alice", 5, "Sharing a guide to our expense tool: https://wiki.example/guide")
    q_bob = item("bob", 6, "How do I get the VPN working on the new laptops? Does anyone know?")
    q_carol = item("carol", 6, "Any advice on closing the quarter faster? I am wondering what others do.")
    a1 = item(
        "dave", 7, "You can try reinstalling the client; the fix is in the settings page.", parent=q_bob
    )
    a2 = item("dave", 8, "We use a checklist, try the template on the wiki.", parent=q_carol)
    a3 = item("carol", 9, "Also try restarting after the update.", parent=q_bob)
    item("bob", 10, "Thanks, that solved it!", parent=q_bob)
    idea = item("erin", 11, "Idea: what if we ran a monthly show-and-tell for tools?", kind="idea")
    item("carol", 12, "Love it, count me in", parent=idea)
    for p in ("bob", "dave"):
        act(p, "react", 12, idea)
    act("alice", "vote", 13, idea)
    act("bob", "react", 13, guide)
    act("bob", "accept", 14, a1)
    # filler activity so that planted members reach 6 interactions
    for d in range(14, 19):
        act("alice", "react", d, a1)
    for d in range(14, 18):
        act("bob", "react", d, a2)
    for d in range(14, 19):
        act("carol", "react", d, guide)
    for d in range(14, 18):
        act("dave", "react", d, guide)
    for d in range(14, 19):
        act("erin", "react", d, a3)
    for d in range(10, 17):
        act("frank", "react", d, guide)
    act("frank", "react", 17, None, target=mid("alice"))  # a reaction to an item not in the export
    act("frank", "mention", 18, None, target=mid("dave"))
    act("gina", "react", 10, guide)
    act("gina", "view", 11, guide)
    act("gina", "react", 12, a1)
    # henry reacts through both of his accounts: 6 interactions for one member
    for d in range(14, 17):
        act("henry", "react", d, guide)
        act("m_henry2", "react", d, a2)
    # the bot posts and gets responses: none of it counts
    bot_post = item("botty", 5, "Weekly digest https://digest.example", kind="post")
    for p in ("alice", "frank"):
        act(p, "react", 19, bot_post)
    act("botty", "react", 19, guide)
    item("botty", 20, "Automated reminder: try the new form", parent=q_carol)
    # frank stays active into April; gina leaves in April
    for d in range(5, 11):
        act("frank", "react", d, guide, month=4)
    act("gina", "leave", 20, month=4)
    act("ivy", "view", 12, guide)
    communities = [{"community_id": COMM, "name": "Club"}]
    spaces = [
        {
            "space_id": f"{SRC}:general",
            "source": SRC,
            "name": "general",
            "kind": "channel",
            "community_id": COMM,
        }
    ]
    return {
        "communities": communities,
        "spaces": spaces,
        "members": members,
        "identities": identities,
        "items": items,
        "actions": actions,
    }


PLANTED_MARCH = {
    "alice": "share",
    "bob": "solve",
    "carol": "solve",
    "dave": "solve",
    "erin": "innovate",
    "frank": "connect",
    "gina": "connect",
    "henry": "connect",
    "ivy": "observer",
}


def load(ws: Any) -> None:
    for table, data in rows().items():
        ws.append(table, data)
