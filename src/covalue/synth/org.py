"""A synthetic organisation as tables, and the truth planted in it: :class:`SynthOrg` (write it to a
workspace or as a tabular export) and :class:`Truth` (what the metrics must recover), with the
constants every part of the generator shares.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from covalue import periods, schema, stages

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
#: what people see: names such communities might have, which do not give their planted shape away (the
#: scenario stays the community's id, so tests and URLs can name what they check)
DISPLAY_NAMES = {
    "healthy": "Analytics Guild",
    "single-voice": "Architecture Notes",
    "broadcast": "Company News",
    "workgroup": "Quarter-End Circle",
    "dying": "Desktop Support Forum",
    "campaign": "Sustainability Network",
}


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
        to_native = Lookup(ids["identity_id"], ids["native_id"])
        members = self.tables["members"]
        m = pa.table(
            {
                "member_id": to_native(members["member_id"]),
                "source": scenario(members["source"]),
                "community": scenario(members["source"]),
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
        i = exported(self.tables["items"], exported_columns(schema.ITEMS), to_native)
        a = exported(self.tables["actions"], exported_columns(schema.ACTIONS), to_native)
        paths = []
        for name, tbl in (("members", m), ("items", i), ("actions", a)):
            p = out / f"{name}.csv"
            pacsv.write_csv(tbl, p)
            paths.append(p)
        return paths


_PERSON_COLUMNS = frozenset({"author_id", "actor_id", "target_id"})
_ID_COLUMNS = frozenset({"item_id", "action_id", "space_id", "thread_id", "parent_id"})


def exported_columns(table: pa.Schema) -> tuple[str, ...]:
    """The columns of a tabular items or actions file, from the canonical schema: the row's own id, its
    source and community first; word and link counts left out, as the reader counts them in the text."""
    rest = [c for c in table.names[2:] if c not in ("community_id", "n_words", "n_links")]
    return (table.names[0], "source", "community", *rest)


def exported(table: pa.Table, columns: tuple[str, ...], to_native: Lookup) -> pa.Table:
    """A canonical items or actions table as the platform would export it: people and ids native, the
    scenario as ``source`` and the community in a ``community`` column."""
    out = {}
    for c in columns:
        if c == "source":
            out[c] = scenario(table["source"])
        elif c == "community":
            out[c] = table["community_id"]
        elif c in _PERSON_COLUMNS:
            out[c] = to_native(table[c])
        elif c in _ID_COLUMNS:
            out[c] = strip_source(table[c])
        else:
            out[c] = table[c]
    return pa.table(out)


class Lookup:
    """Vectorised map from canonical person ids to native ids."""

    def __init__(self, keys: pa.ChunkedArray, values: pa.ChunkedArray) -> None:
        self.keys = keys.combine_chunks()
        self.values = values.combine_chunks()

    def __call__(self, col: pa.ChunkedArray) -> pa.Array:
        return self.values.take(pc.index_in(col, value_set=self.keys))


def strip_source(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``synth:healthy:17`` -> ``17`` (the platform's own id)."""
    return pc.replace_substring_regex(col, pattern=r"^synth:[^:]+:", replacement="")


def scenario(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.replace_substring_regex(col, pattern=r"^synth:", replacement="")


def month_starts(start: str) -> list[datetime]:
    """The first instant of each of the 12 months from ``start`` ("YYYY-MM"), and of the month after."""
    first = periods.period_index(start)
    return [periods.month_start(first + k) for k in range(N_MONTHS + 1)]
