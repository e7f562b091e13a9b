"""The value journey's stages: their order, the words they are shown by and their colours.

    from covalue import stages
    stages.ORDER            # ("observer", "connect", "share", "solve", "innovate")
    stages.JOURNEY          # the four stages a member can earn (Observer stands beside the journey)
    stages.label("solve")   # "Solve"
    stages.rank("share")    # 2; -1 for anything that is not a stage (e.g. "not active")

All of it is the ``[journey]`` table of the shipped ``models/maturity.toml``. It is read from the shipped
file only: the metrics name their flag columns after these stages, so a workspace override could not
change them consistently.
"""

from __future__ import annotations

from covalue import models

_JOURNEY = models.defaults("maturity")["journey"]

#: every stage, lowest first: the order of the journey and of every chart and table that shows it
ORDER: tuple[str, ...] = tuple(_JOURNEY["order"])
#: the stages a member earns by evidence; Observer (took part nowhere others could see) is beside them
JOURNEY: tuple[str, ...] = ORDER[1:]
#: stage → the word it is shown by
LABELS: dict[str, str] = {s: str(_JOURNEY["labels"][s]) for s in ORDER}
#: stage → its colour in charts (never the only cue: stages also differ in position and label)
COLOURS: dict[str, str] = {s: str(_JOURNEY["colours"][s]) for s in ORDER}


def rank(stage: str | None) -> int:
    """The stage's place in :data:`ORDER`, or -1 for anything else (None, "not active")."""
    return ORDER.index(stage) if stage in ORDER else -1


def label(stage: str | None) -> str:
    """The word a stage is shown by; anything else is shown as given."""
    return LABELS.get(stage or "", stage or "")
