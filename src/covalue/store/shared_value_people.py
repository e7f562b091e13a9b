"""Who stands behind a stored need, per measure: survey respondents (an answer, an import row, the
people the team heard) and the members who asked a theme's questions in the data. Kept apart from
``store.shared_value`` so the canvas's rows and the counting of people each stay one concept."""

from __future__ import annotations

from typing import Any


def own_people(n: Any) -> tuple[dict[str, set[str]], int]:
    """The distinct people a need itself stands for, per measure (``respondents``: a survey answer, an
    import row, or the people the team heard; ``askers``: the members who asked a theme's questions),
    and the question count of a need taken from the data before askers were counted."""
    ev = n.evidence if isinstance(n.evidence, dict) else {}
    if n.origin == "data":
        askers = ev.get("askers")
        if isinstance(askers, list):
            return {"respondents": set(), "askers": {f"a:{a}" for a in askers if a}}, 0
        return {"respondents": set(), "askers": set()}, int(n.voices or 0)
    if n.response_id is not None:
        return {"respondents": {f"r:{n.response_id}"}, "askers": set()}, 0
    return {"respondents": {f"n:{n.id}:{i}" for i in range(max(1, int(n.voices or 1)))}, "askers": set()}, 0


def shown_evidence(ev: Any) -> Any:
    """The evidence as pages show it: who asked is counted, not listed."""
    if not isinstance(ev, dict) or "askers" not in ev:
        return ev
    return {**{k: v for k, v in ev.items() if k != "askers"}, "n_askers": len(ev.get("askers") or [])}


def through_merges(
    needs: list[Any], status: dict[int, tuple[str, int | None]]
) -> tuple[dict[int, tuple[dict[str, set[str]], int]], dict[int, dict[str, set[str]]], dict[int, int]]:
    """Each need's own people, its people with those of the needs merged into it (a person once,
    wherever the merge chain ends), and the uncounted question counts likewise."""
    own = {n.id: own_people(n) for n in needs}
    people = {i: {m: set(ids) for m, ids in p.items()} for i, (p, _) in own.items()}
    legacy = {i: q for i, (_, q) in own.items()}
    for n in needs:
        cur, seen = n.id, set()
        while status[cur][0] == "merged" and status[cur][1] in status and cur not in seen:
            seen.add(cur)
            cur = status[cur][1]  # type: ignore[assignment]
        if cur != n.id:
            for m, ids in own[n.id][0].items():
                people[cur][m] |= ids
            legacy[cur] += own[n.id][1]
    return own, people, legacy
