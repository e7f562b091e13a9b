"""Workspace settings (``covalue.toml``), validated with pydantic.

Every threshold a user might want to change lives here or in ``models/*.toml``; every key, its default
and why is documented in docs/settings.md.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrivacySettings(_Section):
    show_names: bool = False
    """Whether reports and pages may show display names (otherwise pseudonyms)."""
    reveal_by_champions: bool = False
    """Whether champions, like managers, may reveal one person's name on their people pages to thank
    them (each reveal is written to the audit log)."""
    min_group_size: int = 5
    """No breakdown is shown for fewer people than this."""
    keep_text: bool = True
    """Whether item texts are kept once classified; false: ``covalue prune`` (and the server's daily
    prune) erases every text, keeping the roles it earned and the measures (as ``keep_raw_text_days =
    0``)."""
    keep_uploads_days: int | None = Field(None, ge=0)
    """Uploaded exports older than this many days are deleted by ``covalue prune`` (None: kept)."""
    keep_raw_text_days: int | None = Field(None, ge=0)
    """Item texts older than this many days are erased by ``covalue prune``, measures kept (None: kept)."""


class IngestSettings(_Section):
    max_unpacked_bytes: int = 50 * 1024**3
    """An archive declaring more unpacked bytes than this is refused (zip bombs)."""
    max_ratio: float = 200.0
    """An archive entry compressed more than this many times is refused (zip bombs)."""
    batch_rows: int = 50_000
    """Rows buffered per table before they are written (bounds memory)."""


class IdentitySettings(_Section):
    merge_by_email: bool = True
    """Merge accounts of different sources that share an email address (compared as keyed hashes)."""
    alias_file: str | None = None
    """A TOML or CSV file of accounts that are the same person (default: aliases.toml or aliases.csv
    in the workspace, when present); see docs/identities.md."""


class AnalysisSettings(_Section):
    period: str = "month"
    window_days: int = 90
    memory_limit: str | None = Field(None, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    """DuckDB's memory cap on the workspace connection, e.g. "12GB": beyond it, joins and aggregates
    spill to disk instead of growing. Default: ``memory_share`` of the machine's memory, at most 3 GB
    or 50 bytes per item and action held, whichever is more."""
    memory_share: float = Field(0.5, gt=0, le=0.95)
    """The share of the machine's memory (or of the container's limit) DuckDB may use when
    ``memory_limit`` is not set, up to 3 GB (``DEFAULT_MEMORY_CEILING``) or 50 bytes per item and action
    held (``MEMORY_PER_ROW``), whichever is more."""
    spill_dir: str | None = None
    """Where DuckDB writes what does not fit in memory (default: ``spill`` inside the workspace; a
    relative path is taken from the workspace)."""
    threads: int | None = None
    """DuckDB worker threads (default: one per core)."""
    evidence_months: int | None = Field(None, ge=1)
    """No longer read: example items (stage evidence) are computed when ``covalue explain`` asks, for
    the one member, and never stored. Accepted so that a covalue.toml written before still loads."""
    update_from_actions: int = Field(1_000_000, ge=0)
    """After an upload, ``covalue analyze`` updates the last analysis (recomputing only what the new
    rows can change) in workspaces of at least this many actions, and runs in full below it: there a
    full run from the SQL the workspace keeps (docs/architecture.md) takes no longer than an update,
    whose own fixed cost is about 3 s. 0: update whenever possible."""
    engine: Literal["duckdb", "spark"] = "duckdb"
    """Where ``covalue analyze`` runs the pipeline: the workspace's DuckDB, or a Spark cluster over a
    Parquet lake (``covalue export --parquet``); see docs/scale.md."""
    spark_master: str | None = None
    """The Spark master the spark engine connects to, e.g. "spark://head:7077" (or "local[4]")."""
    lake: str | None = None
    """The folder of the Parquet lake the spark engine reads and writes its derived tables into; it
    must be the same folder for this machine and the cluster (a shared mount). A relative path is
    taken from the workspace."""
    spark_conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Further Spark settings for the session, e.g. { "spark.executor.memory" = "4g" }."""


class WebSettings(_Section):
    max_request_bytes: int = Field(1_048_576, ge=1024)
    """The largest request body ``covalue serve`` accepts on any route but uploads (which have their
    own limit); a larger one is refused with 413 before it is read."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses (or networks, e.g. "10.0.0.0/8") of reverse proxies whose X-Forwarded-For and
    X-Forwarded-Proto headers are believed. Empty: no forwarded header is believed, not even from
    127.0.0.1. ``covalue serve --trusted-proxies`` overrides it."""
    max_concurrent_hashes: int = Field(2, ge=1, le=64)
    """Password checks run at once (each takes about 50 ms of a core and 64 MiB); more sign-ins
    wait for a turn, so they cannot crowd out the rest of the app."""
    memory_limit: str = Field("1GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    """DuckDB's memory cap while ``covalue serve`` holds the workspace, in place of
    ``[analysis] memory_limit``: pages, uploads and analyses share it and spill to disk beyond it,
    so a large upload cannot take the machine's memory from the server (a 1 GB CSV peaked it at
    3.3 GB with half the machine's memory as the cap). Raise it for large workspaces on a server of
    their own."""


class TabularMapping(_Section):
    """How the columns of one CSV/JSONL/Parquet file map onto a canonical table."""

    table: str = Field(description="members, items or actions")
    columns: dict[str, str] = Field(default_factory=dict, description="canonical name -> file column")
    pattern: str = Field("*", description="glob matched against the file name")
    timestamp_format: str | None = None


class Settings(_Section):
    name: str = "covalue workspace"
    privacy: PrivacySettings = PrivacySettings()
    ingest: IngestSettings = IngestSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    identities: IdentitySettings = IdentitySettings()
    web: WebSettings = WebSettings()
    tabular: dict[str, TabularMapping] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    """Overrides of values in models/*.toml, by model name then key."""

    @classmethod
    def load(cls, path: Path) -> Settings:
        if not path.exists():
            return cls()
        with path.open("rb") as fh:
            return cls.model_validate(tomllib.load(fh))


DEFAULT_TOML = """\
# covalue workspace settings. Every key is optional; the defaults are shown.
name = "{name}"

[privacy]
show_names = false      # show display names in reports and pages (otherwise pseudonyms)
reveal_by_champions = false  # champions may reveal one person's name to thank them (audited)
min_group_size = 5      # no breakdown is shown for fewer people than this
keep_text = true        # false: `covalue prune` erases every text once classified (roles and measures stay)
# keep_uploads_days = 30    # `covalue prune` deletes uploaded exports older than this
# keep_raw_text_days = 365  # `covalue prune` erases item texts older than this (measures stay)

[ingest]
max_unpacked_bytes = 53687091200   # archives declaring more than this are refused
max_ratio = 200.0                  # entries compressed more than this are refused (zip bombs)
batch_rows = 50000                 # rows buffered per table before writing

[analysis]
period = "month"
window_days = 90
# memory_limit = "12GB"   # DuckDB's memory cap (default: memory_share of the machine, at most 3 GB or 50 B per row held)
memory_share = 0.5        # share of the machine's memory DuckDB may use when memory_limit is unset
# spill_dir = "spill"     # where DuckDB spills what does not fit (inside the workspace by default)
update_from_actions = 1000000  # below this many actions an upload is analysed in full (as quick)
engine = "duckdb"         # or "spark": analyse on a Spark cluster over a Parquet lake (docs/scale.md)
# spark_master = "spark://head:7077"
# lake = "/shared/covalue-lake"   # written by `covalue export --parquet`, read by the cluster

[web]
max_request_bytes = 1048576   # largest request body on any route but uploads (refused with 413 beyond)
trusted_proxies = []          # reverse proxies whose X-Forwarded-For is believed, e.g. ["10.0.0.2"]
max_concurrent_hashes = 2     # password checks at once; further sign-ins wait their turn
memory_limit = "1GB"          # DuckDB's memory cap while serving (uploads and analyses spill beyond it)

# Map any CSV / JSON Lines / Parquet export onto the canonical tables, e.g.:
# [tabular.forum_posts]
# table = "items"
# pattern = "posts*.csv"
# columns = {{ item_id = "PostID", author_id = "User", created_at = "Posted", text = "Body" }}
"""
