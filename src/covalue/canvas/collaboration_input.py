"""What a user may post to the Collaboration canvas, one validated model per thing: a page's form
and the JSON API build the same model, so an entry, an experiment, a change of status, linked items
or a story is checked by one set of rules whichever way it comes in. Checks against the workspace
(is this a member, a post, a space of this community?) follow in ``collaboration_service``."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from covalue.canvas import collaboration as cc
from covalue.canvas import stories


def id_list(raw: Any) -> list[str]:
    """Ids from a form or JSON field: a list, or text with one id per line (commas allowed); sorted,
    each once."""
    parts = raw if isinstance(raw, list) else [raw or ""]
    return sorted({p.strip() for x in parts for p in str(x).replace(",", "\n").splitlines() if p.strip()})


def _blank_none(v: Any) -> Any:
    return None if isinstance(v, str) and not v.strip() else v


class _In(BaseModel):
    # forms send every field as text; surrounding blanks are never meant
    model_config = ConfigDict(str_strip_whitespace=True)


class _Titled(_In):
    """Something with a title it cannot go without; ``noun`` names it in the refusal."""

    noun: ClassVar[str]
    title: str

    @field_validator("title")
    @classmethod
    def _titled(cls, v: str) -> str:
        if not v:
            raise ValueError(f"{cls.noun} needs a title")
        return v


class EntryIn(_In):
    """A new entry on the canvas: its kind decides the section it goes in."""

    kind: str
    text: str = ""
    detail: str = ""
    link: str = ""
    member_id: str = ""
    owner: str = ""
    confirmed: bool = False
    period: str | None = None

    _period = field_validator("period", mode="before")(_blank_none)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if cc.section_of(v) is None:
            raise ValueError(f"unknown kind of entry {v!r}")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> EntryIn:
        if not self.text and not self.member_id:
            raise ValueError("write something first: the entry is empty")
        return self

    @property
    def section(self) -> str:
        return cc.section_of(self.kind) or ""


class EntryEdit(_In):
    """A change to an entry, from the version the editor started with (the store merges the rest)."""

    version: int = 0
    changes: dict[str, Any]

    _version = field_validator("version", mode="before")(lambda v: _blank_none(v) or 0)

    @field_validator("changes")
    @classmethod
    def _changeable(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = set(v) - set(cc.ENTRY_FIELDS) | ({"section"} & set(v))
        if bad:
            raise ValueError(f"these fields cannot be changed: {', '.join(sorted(bad))}")
        return v


class ExperimentIn(_Titled):
    """A new experiment: what is tried, with whom, where, and when (today for 30 days by default)."""

    noun = "an experiment"
    hypothesis: str = ""
    target: str = ""
    owner: str = ""
    starts_on: str = ""
    ends_on: str = ""
    measures: str = ""
    participants: list[str] = []
    space_id: str = ""
    items: list[str] = []
    entry_id: int | None = None

    _entry = field_validator("entry_id", mode="before")(_blank_none)
    _items = field_validator("items", mode="before")(id_list)
    _people = field_validator("participants", mode="before")(id_list)

    @field_validator("starts_on", "ends_on")
    @classmethod
    def _a_date(cls, v: str, info: Any) -> str:
        if v:
            try:
                date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{info.field_name.replace('_', ' ')} must be a date (YYYY-MM-DD)") from None
        return v

    @field_validator("target")
    @classmethod
    def _known_target(cls, v: str) -> str:
        if v and v not in cc.TARGETS:
            raise ValueError(f"the target must be one of {', '.join(cc.TARGETS)}")
        return v

    @model_validator(mode="after")
    def _in_order(self) -> ExperimentIn:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("the experiment cannot end before it starts")
        return self


class ExperimentAction(_In):
    """An experiment's outcome and lesson, and a change of status (``save`` keeps it; an API call
    without an action completes it)."""

    action: Literal["complete", "reopen", "drop", "save"] = "complete"
    outcome: str | None = None
    lesson: str | None = None
    space_id: str | None = None
    version: int | None = None

    _version = field_validator("version", mode="before")(_blank_none)

    @property
    def status(self) -> str | None:
        return {"complete": "completed", "reopen": "running", "drop": "dropped"}.get(self.action)


class ItemsIn(_In):
    """More items (posts, threads) linked to an experiment: what it produced."""

    items: list[str]

    _items = field_validator("items", mode="before")(id_list)

    @field_validator("items")
    @classmethod
    def _some(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one item id (one per line)")
        return v


class StoryIn(_Titled):
    """A value story told in the value-creation cycles, optionally tied to an experiment and a goal."""

    noun = "a story"
    immediate: str = ""
    potential: str = ""
    applied: str = ""
    realized: str = ""
    reframing: str = ""
    experiment_id: int | None = None
    goal_link: str = ""
    items: list[str] = []
    members: list[str] = []

    _experiment = field_validator("experiment_id", mode="before")(_blank_none)
    _lists = field_validator("items", "members", mode="before")(id_list)

    @model_validator(mode="after")
    def _told(self) -> StoryIn:
        if not stories.cycles_of(self.model_dump()):
            raise ValueError("tell at least one step of the story (what happened, what it gave, ...)")
        return self
