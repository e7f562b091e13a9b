"""The canonical tables: the one data contract between readers, metrics, reports and the web app.

Every reader produces rows for these tables and nothing else; every metric reads only these.
Timestamps are naive UTC (``timestamp[us]``) so that DuckDB and Spark agree on them.

Two deliberate additions to the canonical tables:

* ``identities.identity_id``: the pseudonymous id of one account on one source. Items and actions
  point at identity ids; ``identities.member_id`` says which member that account belongs to. A merge
  across sources is therefore a change of ``member_id`` on identity rows (logged in ``merges``), and an
  unmerge puts it back, without touching a single item.
* ``actions.detail``: what the verb needs to be understood later (a reaction's emoji name, the
  subtype of a platform system event), never person data.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us")

MEMBERS = pa.schema(
    [
        ("member_id", pa.string()),
        ("source", pa.string()),
        ("first_seen", TS),
        ("joined_at", TS),
        ("left_at", TS),
        ("org_unit", pa.string()),
        ("location", pa.string()),
        ("role", pa.string()),
        ("is_bot", pa.bool_()),
    ]
)

IDENTITIES = pa.schema(
    [
        ("identity_id", pa.string()),
        ("member_id", pa.string()),
        ("source", pa.string()),
        ("native_id", pa.string()),
        ("display_name", pa.string()),
        ("email_hash", pa.string()),
        ("is_bot", pa.bool_()),
    ]
)

COMMUNITIES = pa.schema([("community_id", pa.string()), ("name", pa.string())])

SPACES = pa.schema(
    [
        ("space_id", pa.string()),
        ("source", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("community_id", pa.string()),
    ]
)

ITEMS = pa.schema(
    [
        ("item_id", pa.string()),
        ("source", pa.string()),
        ("space_id", pa.string()),
        ("community_id", pa.string()),
        ("thread_id", pa.string()),
        ("parent_id", pa.string()),
        ("author_id", pa.string()),
        ("created_at", TS),
        ("kind", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("n_words", pa.int32()),
        ("n_links", pa.int32()),
        ("n_attachments", pa.int32()),
        ("accepted", pa.bool_()),
        ("views", pa.int64()),
        ("score", pa.int64()),
    ]
)

ACTIONS = pa.schema(
    [
        ("action_id", pa.string()),
        ("source", pa.string()),
        ("space_id", pa.string()),
        ("community_id", pa.string()),
        ("ts", TS),
        ("actor_id", pa.string()),
        ("verb", pa.string()),
        ("item_id", pa.string()),
        ("target_id", pa.string()),
        ("value", pa.float64()),
        ("detail", pa.string()),
    ]
)

REJECTS = pa.schema(
    [
        ("reject_id", pa.string()),
        ("source", pa.string()),
        ("location", pa.string()),
        ("reason", pa.string()),
        ("excerpt", pa.string()),
        ("ingest_id", pa.string()),
    ]
)

INGESTS = pa.schema(
    [
        ("ingest_id", pa.string()),
        ("started_at", TS),
        ("finished_at", TS),
        ("reader", pa.string()),
        ("paths", pa.string()),
        ("sources", pa.string()),
        ("community", pa.string()),
        ("read_counts", pa.string()),  # JSON: rows read per table
        ("added_counts", pa.string()),  # JSON: rows new to the workspace per table
        ("n_rejects", pa.int64()),
        ("status", pa.string()),  # ok | partial | failed
        ("message", pa.string()),
    ]
)

MERGES = pa.schema(
    [
        ("merge_id", pa.string()),
        ("identity_id", pa.string()),
        ("from_member_id", pa.string()),
        ("to_member_id", pa.string()),
        ("reason", pa.string()),
        ("created_at", TS),
        ("undone_at", TS),
    ]
)

#: table name -> (schema, primary key column)
TABLES: dict[str, tuple[pa.Schema, str]] = {
    "communities": (COMMUNITIES, "community_id"),
    "spaces": (SPACES, "space_id"),
    "members": (MEMBERS, "member_id"),
    "identities": (IDENTITIES, "identity_id"),
    "items": (ITEMS, "item_id"),
    "actions": (ACTIONS, "action_id"),
    "rejects": (REJECTS, "reject_id"),
    "ingests": (INGESTS, "ingest_id"),
    "merges": (MERGES, "merge_id"),
}

#: the tables a reader writes (the others are written by the workspace itself)
CONTENT_TABLES = ("communities", "spaces", "members", "identities", "items", "actions", "rejects")

ITEM_KINDS = ("post", "reply", "question", "answer", "comment", "idea", "event", "page")
ACTION_VERBS = (
    "join",
    "leave",
    "view",
    "react",
    "vote",
    "accept",
    "mention",
    "attend",
    "follow",
    "share",
    "system",
)


def empty(table: str) -> pa.Table:
    """An empty Arrow table with the canonical schema of ``table``."""
    return TABLES[table][0].empty_table()
